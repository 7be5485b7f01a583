# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from .. import ops
from ..ops.results import ConfigurationApplied
from ._from_production import FromProductionKind
from .base import register
from .drift_report import apply_drift


@register
class ApplyConfiguration(FromProductionKind):
    """Production's configuration written into the environment's (S3), secrets never."""

    code = "apply_configuration"
    label = "Apply production's configuration"
    button = "action_apply_configuration"
    result_type = ConfigurationApplied

    def run(self, op, journal):
        return self.from_production(
            op, journal, ops.apply_configuration, stamp=op._stamp()
        )

    def apply_result(self, op, result):
        apply_drift(op.environment_id.sudo(), result.after)
        return op.env._(
            "Production's configuration applied: %(before)s difference(s) before, "
            "%(after)s after; previous file kept as %(backup)s.",
            before=result.before.count,
            after=result.after.count,
            backup=result.config_backup,
        )
