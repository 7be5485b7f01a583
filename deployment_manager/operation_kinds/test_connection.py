# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import fields

from .. import ops
from ..ops.results import ConnectionResult
from .base import HOST, OperationKind, register


@register
class TestConnection(OperationKind):
    """Log in with the pinned key and say who and where we are."""

    code = "test_connection"
    label = "Test connection"
    button = "action_test_connection"
    target = HOST
    changes_target = False
    result_type = ConnectionResult

    def run(self, op, journal):
        return ops.test_connection(journal, journal.transport())

    def apply_result(self, op, result):
        message = op.env._(
            "Connected as %(user)s on %(system)s.",
            user=result.user,
            system=result.system,
        )
        self._set_state(op, "ok", message)
        return message

    def apply_failure(self, op, reason, message, cancelled=False):
        self._set_state(op, "failed", message)

    def _set_state(self, op, state, message):
        op.host_id.sudo().write(
            {
                "connection_state": state,
                "connection_message": message,
                "connection_checked_at": fields.Datetime.now(),
            }
        )
