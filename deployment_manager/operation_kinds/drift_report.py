# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from .. import ops
from ._from_production import FromProductionKind
from .base import register


@register
class DriftReport(FromProductionKind):
    """How the environment's configuration differs from production's (S3)."""

    code = "drift_report"
    label = "Configuration drift"
    button = "action_drift_report"
    changes_target = False

    def run(self, op, journal):
        return self.from_production(op, journal, ops.drift_report)

    def apply_result(self, op, result):
        return op.environment_id.sudo()._apply_drift(result)
