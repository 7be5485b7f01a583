# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from ._deployment import DeploymentKind
from .base import register
from .requests import DecisionRequest


@register
class Rollback(DeploymentKind):
    """Guided failure: a failed deployment rolled back to its rollback point."""

    code = "rollback"
    label = "Rollback"
    request_type = DecisionRequest

    def run(self, op, journal):
        failed = op.browse(self.request(op).operation_id)
        return self.resume_failed(op, journal, failed, "rollback")

    def apply_result(self, op, result):
        return op.env._(
            "Rolled back to the rollback point; the environment is healthy."
        )
