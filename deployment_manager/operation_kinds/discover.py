# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from .. import ops
from . import access
from .base import OperationKind, register


@register
class Discover(OperationKind):
    """Read what the environment runs: versions, modules, configuration, services."""

    code = "discover"
    label = "Discover"
    button = "action_discover"
    level = access.USER
    changes_target = False
    health_evidence = True

    def run(self, op, journal):
        return ops.discover(journal, journal.transport(), op.environment_id._spec())

    def apply_result(self, op, result):
        return op.environment_id.sudo()._apply_discovery(result)
