# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Backup bundles as the backup and the deployment kinds take them."""

from odoo import fields

from .. import ops
from ..ops.context import OperationFailed


def take_backup(op, journal, spec, keep=False):
    """A backup bundle of the environment (J1, J2), recorded as it is made.

    On a resumed operation the bundle started by the previous worker is
    taken up again (the ops layer completes an unfinished bundle).
    """
    environment = op.environment_id
    backup = op.backup_id
    if not backup:
        stamp = fields.Datetime.now().strftime("%Y%m%d-%H%M%S")
        slug = "".join(c if c.isalnum() else "-" for c in environment.name.lower())
        bundle_dir = f"{spec.backup_dir}/{slug.strip('-') or 'env'}-{stamp}-{op.id}"
        backup = (
            op.env["deployment.backup"]
            .sudo()
            .create(
                {
                    "name": bundle_dir.rsplit("/", 1)[-1],
                    "environment_id": environment.id,
                    "operation_id": op.id,
                    "bundle_dir": bundle_dir,
                    "keep": keep,
                }
            )
        )
        op.backup_id = backup
        op._commit()
    manifest = ops.backup_bundle(
        journal,
        journal.transport(),
        spec,
        backup.bundle_dir,
        extra_paths=environment._extra_paths(),
        meta={"requested_by": op.requested_by_id.name, "operation": op.name},
    )
    backup._apply_manifest(manifest)
    return backup


def apply_retention(op, journal, spec):
    """Remove the environment's backups its retention no longer keeps."""
    backups = op.env["deployment.backup"].sudo()
    expired_backups = backups.search(
        [("environment_id", "=", op.environment_id.id)]
    )._expired()
    for expired in expired_backups:
        try:
            ops.remove_bundle(journal, journal.transport(), spec, expired.bundle_dir)
        except OperationFailed as error:
            # The new backup is good; an old one that cannot be removed is
            # said, not a reason to fail it.
            expired.verification_message = str(error)
            continue
        expired.state = "deleted"
