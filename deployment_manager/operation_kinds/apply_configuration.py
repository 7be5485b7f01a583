# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from .. import ops
from ._from_production import FromProductionKind
from .base import register


@register
class ApplyConfiguration(FromProductionKind):
    """Production's configuration written into the environment's (S3), secrets never."""

    code = "apply_configuration"
    label = "Apply production's configuration"
    button = "action_apply_configuration"

    def run(self, op, journal):
        return self.from_production(
            op, journal, ops.apply_configuration, stamp=op._stamp()
        )

    def apply_result(self, op, result):
        op.environment_id.sudo()._apply_drift(result["after"])
        return op.env._(
            "Production's configuration applied: %(before)s difference(s) before, "
            "%(after)s after; previous file kept as %(backup)s.",
            before=result["before"]["count"],
            after=result["after"]["count"],
            backup=result.get("config_backup"),
        )
