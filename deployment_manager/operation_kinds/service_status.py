# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from .. import ops
from . import access
from .base import OperationKind, register


@register
class ServiceStatus(OperationKind):
    """Ask the Odoo and PostgreSQL services for their state."""

    code = "service_status"
    label = "Service status"
    button = "action_service_status"
    level = access.USER
    changes_target = False
    health_evidence = True

    def run(self, op, journal):
        return {
            "services": ops.service_status(
                journal, journal.transport(), op.environment_id._spec()
            )
        }

    def apply_result(self, op, result):
        return op.environment_id.sudo()._apply_service_states(result["services"])
