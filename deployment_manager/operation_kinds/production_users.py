# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import dataclasses

from ..ops import production_users as users
from ..ops.context import OperationFailed
from ..ops.results import ProductionUsersResult
from . import access
from .base import OperationKind, register
from .requests import Request


@dataclasses.dataclass(frozen=True)
class ProductionUsersRequest(Request):
    """The announcement whose recipients are read."""

    announcement_id: int = 0


@register
class ProductionUsers(OperationKind):
    """The active internal users of production, read from its database, as
    an announcement's recipients (issue 11, R2). Read-only."""

    code = "production_users"
    label = "Read production's users"
    # Production's data: only managers (and the system, for the automatic
    # announcements) may ask, whatever this says.
    level = access.MANAGER
    changes_target = False
    request_type = ProductionUsersRequest
    result_type = ProductionUsersResult

    def _announcement(self, op):
        announcement = op.env["deployment.announcement"].browse(
            self.request(op).announcement_id
        )
        if not announcement.exists():
            raise OperationFailed(op.env._("That announcement does not exist."))
        return announcement

    def run(self, op, journal):
        self._announcement(op)
        return users.production_users(
            journal, journal.transport(), op.environment_id._spec()
        )

    def apply_result(self, op, result):
        announcement = self._announcement(op).sudo()
        count = announcement._set_production_users(result.users)
        announcement._users_read(op)
        return op.env._(
            "%(count)s active internal user(s) with an email in %(db)s.",
            count=count,
            db=result.database or "-",
        )

    def kept_result(self, op, result):
        # The people's names and addresses stay on the announcement (whose
        # access is the plan's): the operation's result, which every
        # deployment user reads, keeps only how many there were.
        recipients = self._announcement(op).sudo().recipient_ids
        count = len(recipients.filtered(lambda r: r.source == "production"))
        return dataclasses.replace(result, users=(), count=count)

    def apply_failure(self, op, reason, message, cancelled=False):
        announcement = op.env["deployment.announcement"].browse(
            self.request(op).announcement_id
        )
        if announcement.exists():
            announcement.sudo()._users_not_read(op, message)
