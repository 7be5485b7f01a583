# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from .. import ops
from ..ops.results import PresentedHostKey
from .base import HOST, OperationKind, register


@register
class FetchHostKey(OperationKind):
    """Read the key the server presents, to be checked and pinned by a manager."""

    code = "fetch_host_key"
    label = "Fetch host key"
    button = "action_fetch_host_key"
    target = HOST
    changes_target = False
    result_type = PresentedHostKey

    def run(self, op, journal):
        host = op.host_id.sudo()
        info = ops.fetch_host_key(
            journal, host.hostname, host.port, host.connect_timeout or 10
        )
        return PresentedHostKey(
            key_type=info.key_type,
            key_base64=info.key_base64,
            fingerprint=info.fingerprint,
        )

    def apply_result(self, op, result):
        host = op.host_id.sudo()
        host.write(
            {
                "presented_key_type": result.key_type,
                "presented_key_base64": result.key_base64,
            }
        )
        if result.key_base64 == host.host_key_base64:
            return op.env._(
                "The server presents the pinned key %s.", result.fingerprint
            )
        return op.env._(
            "The server presents %(type)s %(fingerprint)s: check it and pin it.",
            type=result.key_type,
            fingerprint=result.fingerprint,
        )
