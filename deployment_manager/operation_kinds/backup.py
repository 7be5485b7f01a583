# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from ..ops.results import BackupTaken
from . import access
from ._backups import apply_retention, take_backup
from .base import OperationKind, register


@register
class Backup(OperationKind):
    """A verified backup bundle: database dump, filestore, configuration, sources."""

    code = "backup"
    label = "Backup"
    button = "action_backup"
    level = access.USER
    changes_target = False
    result_type = BackupTaken

    def run(self, op, journal):
        spec = op.environment_id._spec()
        backup = take_backup(op, journal, spec)
        apply_retention(op, journal, spec)
        return BackupTaken.from_json(
            {
                "bundle": backup.bundle_dir,
                "verification": backup.manifest.get("verification"),
            }
        )

    def apply_result(self, op, result):
        backup = op.backup_id
        return op.env._(
            "Backup %(name)s: %(size)s, %(parts)s parts, %(state)s.",
            name=backup.name,
            size=backup.size_display or "?",
            parts=len(backup.part_ids),
            state=dict(backup._fields["state"]._description_selection(op.env))[
                backup.state
            ],
        )

    def apply_failure(self, op, reason, message, cancelled=False):
        if op.backup_id:
            op.backup_id.sudo().write(
                {"state": "failed", "verification_message": message}
            )
