# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import dataclasses

from ..ops import module_changes as changes
from ..ops.context import OperationFailed
from ..ops.results import ModuleChangesResult
from . import access
from .base import OperationKind, register
from .requests import Request


@dataclasses.dataclass(frozen=True)
class ModuleChangesRequest(Request):
    """Compare the environment's database with this deployment's rollback point."""

    operation_id: int = 0


@register
class ModuleChanges(OperationKind):
    """What a deployment changed in the environment's database (issue 11, S5):
    compared with the deployment's kept rollback point, read-only."""

    code = "module_changes"
    label = "What the module changed"
    level = access.DEPLOYER
    changes_target = False
    request_type = ModuleChangesRequest
    result_type = ModuleChangesResult

    def run(self, op, journal):
        deployment = op.env["deployment.operation"].browse(
            self.request(op).operation_id
        )
        if not deployment.exists():
            raise OperationFailed(op.env._("That deployment does not exist."))
        point = op.env["deployment.rollback.point"].search(
            [
                ("operation_id", "=", deployment.id),
                ("environment_id", "=", op.environment_id.id),
                ("state", "=", "kept"),
            ],
            limit=1,
        )
        if not point:
            raise OperationFailed(
                op.env._(
                    "The deployment %(name)s has no rollback point kept on "
                    "%(environment)s: there is nothing to compare the database "
                    "with. Deploy again (it keeps one) and check before it is "
                    "dropped.",
                    name=deployment.name,
                    environment=op.environment_id.name,
                )
            )
        plan = op.plan_id or deployment.plan_id
        modules = plan.module_ids.mapped("name") if plan else []
        return changes.module_changes(
            journal,
            journal.transport(),
            op.environment_id._spec(),
            point.name,
            modules,
        )

    def apply_result(self, op, result):
        return changes.summary(result.to_json(), op.env._)
