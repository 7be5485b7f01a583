# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from .. import ops
from ..ops.results import BundleVerification
from . import access
from .base import OperationKind, register


@register
class VerifyBackup(OperationKind):
    """Check a bundle again: checksums recomputed, the dump read back in full."""

    code = "verify_backup"
    label = "Verify backup"
    level = access.USER
    changes_target = False
    result_type = BundleVerification

    def run(self, op, journal):
        verification = BundleVerification.from_json(
            ops.verify_bundle(journal, journal.transport(), op.backup_id.bundle_dir)
        )
        op.backup_id._apply_verification(verification)
        return verification

    def apply_result(self, op, result):
        return op.backup_id.verification_message or ""
