# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from ._deployment import DeploymentKind
from .base import register
from .requests import DecisionRequest


@register
class DeploymentResume(DeploymentKind):
    """Guided failure: the failed step run again, or the failure ignored with a
    reason, then the deployment goes on."""

    code = "deployment_resume"
    label = "Deployment (decision)"
    request_type = DecisionRequest

    def run(self, op, journal):
        request = self.request(op)
        failed = op.browse(request.operation_id)
        return self.resume_failed(op, journal, failed, request.action, request.reason)
