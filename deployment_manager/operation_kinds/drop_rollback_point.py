# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from .. import ops
from ..ops.context import OperationFailed
from ..ops.results import RollbackPointDropped
from .base import OperationKind, register
from .requests import RollbackPointRequest


@register
class DropRollbackPoint(OperationKind):
    """Drop a kept rollback point (its database and filestore copies)."""

    code = "drop_rollback_point"
    label = "Drop rollback point"
    changes_target = False
    request_type = RollbackPointRequest
    result_type = RollbackPointDropped

    def run(self, op, journal):
        point = op.env["deployment.rollback.point"].browse(self.request(op).point_id)
        if not point.exists() or point.state != "kept":
            raise OperationFailed(op.env._("That rollback point is already dropped."))
        result = RollbackPointDropped.from_json(
            ops.drop_rollback_point(
                journal,
                journal.transport(),
                op.environment_id._spec(),
                point._as_ops_point(),
            )
        )
        point._mark_dropped(op.env._("Dropped by %s.", op.requested_by_id.name))
        return result

    def apply_result(self, op, result):
        return op.env._("Rollback point %s dropped from the host.", result.dropped)
