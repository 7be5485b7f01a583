# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import dataclasses

from ..ops import workload
from ..ops.results import WorkloadResult
from . import access
from .base import OperationKind, register
from .requests import Request


@dataclasses.dataclass(frozen=True)
class WorkloadRequest(Request):
    """How many weeks of activity to read."""

    weeks: int = 4


@register
class Workload(OperationKind):
    """Production's activity hour by hour over the last weeks (R1): read-only,
    the input of the hour-of-week heatmap and of the suggested go-live."""

    code = "workload"
    label = "Workload by hour"
    level = access.USER
    changes_target = False
    request_type = WorkloadRequest
    result_type = WorkloadResult

    def run(self, op, journal):
        return workload.read_workload(
            journal,
            journal.transport(),
            op.environment_id._spec(),
            self.request(op).weeks,
        )

    def apply_result(self, op, result):
        return op.env._(
            "%(messages)s messages and %(logins)s logins in the last %(weeks)s weeks.",
            messages=sum(result.hours.get("messages", {}).values()),
            logins=sum(result.hours.get("logins", {}).values()),
            weeks=result.weeks,
        )

    def tells_success(self, op, result):
        # Read for a plan's scheduling: the plan shows it, production's
        # followers need no message about it.
        return False
