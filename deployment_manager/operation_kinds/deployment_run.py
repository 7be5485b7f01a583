# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import contextlib

from .. import ops
from . import access
from ._deployment import DeploymentKind, attachment_file, shares_manager_database
from .base import register
from .requests import DeploymentRequest


@register
class DeploymentRun(DeploymentKind):
    """Deploy modules (J1–J5): backup, sources, stop, rollback point, install or
    upgrade, restart, health, log check — and a decision on failure."""

    code = "deployment_run"
    label = "Deployment"
    level = access.DEPLOYER
    request_type = DeploymentRequest

    def run(self, op, journal):
        environment = op.environment_id
        spec = environment._spec()
        request = self.request(op)
        source = dict(request.source)
        with contextlib.ExitStack() as stack:
            if source.get("kind") == "zip":
                source["path"] = stack.enter_context(attachment_file(op, source))
            hooks = self.hooks(op, journal, spec, request)
            if op.deployment_state:
                # Taken up after the previous worker died: go on from its state.
                result = self.call(
                    op,
                    ops.resume_deployment,
                    journal,
                    spec,
                    op._saved_state(),
                    "continue",
                    log_check=hooks["log_check"],
                )
            else:
                result = self.call(
                    op,
                    ops.deployment_run,
                    journal,
                    spec,
                    source=source,
                    install=request.install,
                    upgrade=request.upgrade,
                    backup=hooks["backup"],
                    log_check=hooks["log_check"],
                    auto_rollback=environment.rollback_policy == "automatic",
                    restart_database=not shares_manager_database(op, spec),
                )
            self.keep_rollback_point(op, journal, spec, result)
            return result
