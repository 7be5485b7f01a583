# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from .. import ops
from ..ops.results import BackupDeleted
from .base import OperationKind, register


@register
class DeleteBackup(OperationKind):
    """Remove a bundle from the host."""

    code = "delete_backup"
    label = "Delete backup"
    changes_target = False
    result_type = BackupDeleted

    def run(self, op, journal):
        spec = op.environment_id._spec()
        ops.remove_bundle(journal, journal.transport(), spec, op.backup_id.bundle_dir)
        op.backup_id.state = "deleted"
        return BackupDeleted(deleted=op.backup_id.bundle_dir)

    def apply_result(self, op, result):
        return op.env._("Backup %s deleted from the host.", op.backup_id.name)
