# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from .. import ops
from ..ops.results import RestoreResult
from . import access
from .base import OperationKind, register


@register
class Restore(OperationKind):
    """Put a bundle back: database and filestore swapped in, the previous kept."""

    code = "restore"
    label = "Restore"
    level = access.DEPLOYER
    resumes_from_saved_state = True
    result_type = RestoreResult

    def run(self, op, journal):
        # A stamp of this operation's own: taken up again after a restart, it
        # goes on from its saved state instead of starting a second restore.
        return op._resumable(
            ops.restore_bundle,
            journal,
            journal.transport(),
            op.environment_id._spec(),
            op.backup_id.bundle_dir,
            stamp=op._stamp(),
        )

    def apply_result(self, op, result):
        environment = op.environment_id.sudo()
        if environment.copies_keep_days > 0:
            body = op.env._(
                "Restored from backup %(backup)s. The previous database is kept as "
                "%(previous)s for %(days)s days.",
                backup=op.backup_id.name,
                previous=result.previous_database or "?",
                days=environment.copies_keep_days,
            )
        else:
            body = op.env._(
                "Restored from backup %(backup)s. The previous database is kept as "
                "%(previous)s until you drop it.",
                backup=op.backup_id.name,
                previous=result.previous_database or "?",
            )
        environment.message_post(body=body)
        return op.env._("Restored from %s.", op.backup_id.name)
