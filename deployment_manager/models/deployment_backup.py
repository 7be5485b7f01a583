# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..ops.common import human_size
from ..ops.results import BundleVerification
from .deployment_host import MANAGER_GROUP

BACKUP_STATES = [
    ("running", "In progress"),
    ("verified", "Verified"),
    ("corrupt", "Failed verification"),
    ("failed", "Failed"),
    ("deleted", "Deleted"),
]


class DeploymentBackup(models.Model):
    """A backup bundle of an environment (J1, J2): database, filestore,
    configuration, custom addons sources and external paths, on the
    environment's own host, with a manifest of checksums."""

    _name = "deployment.backup"
    _description = "Backup bundle"
    _order = "create_date desc, id desc"

    name = fields.Char(required=True, readonly=True)
    environment_id = fields.Many2one(
        "deployment.environment",
        required=True,
        readonly=True,
        ondelete="cascade",
        index=True,
    )
    company_id = fields.Many2one(related="environment_id.company_id", store=True)
    operation_id = fields.Many2one(
        "deployment.operation", string="Made by", readonly=True, ondelete="set null"
    )
    state = fields.Selection(
        BACKUP_STATES, default="running", required=True, readonly=True
    )
    bundle_dir = fields.Char(
        string="Location", readonly=True, help="On the environment's host."
    )
    size = fields.Float(string="Size (bytes)", readonly=True, digits=(20, 0))
    size_display = fields.Char(compute="_compute_size_display", string="Size")
    odoo_version = fields.Char(readonly=True)
    postgres_version = fields.Char(string="PostgreSQL version", readonly=True)
    database_name = fields.Char(readonly=True)
    part_ids = fields.One2many("deployment.backup.part", "backup_id", readonly=True)
    verified_at = fields.Datetime(readonly=True)
    verification_message = fields.Text(readonly=True)
    keep = fields.Boolean(
        help="Never deleted by the retention rules: a deployment refers to it, "
        "or an administrator chose to keep it.",
    )
    manifest = fields.Json(readonly=True)

    @api.depends("size")
    def _compute_size_display(self):
        for backup in self:
            backup.size_display = human_size(backup.size) if backup.size else False

    # ------------------------------------------------------------------
    # Actions (public: usable over XML-RPC / JSON-RPC)
    # ------------------------------------------------------------------
    def action_verify(self):
        """Queue an operation that checks the bundle again (checksums, full read)."""
        self.ensure_one()
        self._check_usable()
        return self.env["deployment.operation"]._request(
            "verify_backup", environment=self.environment_id, backup=self
        )

    def action_restore(self):
        """Open the confirmation of a restore of this bundle into its environment."""
        self.ensure_one()
        self._check_usable()
        if self.state != "verified":
            raise UserError(_("Only a verified backup can be restored."))
        return {
            "type": "ir.actions.act_window",
            "res_model": "deployment.restore.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_backup_id": self.id},
        }

    def action_delete_bundle(self):
        """Queue an operation that deletes the bundle from the host (managers only)."""
        self.ensure_one()
        if not self.env.user.has_group(MANAGER_GROUP):
            raise UserError(_("Only deployment managers can delete a backup."))
        self._check_usable()
        if self.keep:
            raise UserError(_("This backup is marked to be kept: untick Keep first."))
        return self.env["deployment.operation"]._request(
            "delete_backup", environment=self.environment_id, backup=self
        )

    def _apply_manifest(self, manifest):
        """Record what the bundle holds, as its manifest says."""
        parts = manifest.get("parts", [])
        self.write(
            {
                "manifest": manifest,
                "size": sum(part.get("size") or 0 for part in parts),
                "odoo_version": manifest.get("odoo_version") or False,
                "postgres_version": manifest.get("postgres_version") or False,
                "database_name": manifest.get("database") or False,
                "part_ids": [(5, 0, 0)]
                + [
                    (
                        0,
                        0,
                        {
                            "sequence": index,
                            "name": part.get("name") or part.get("file"),
                            "kind": part.get("kind"),
                            "file": part.get("file"),
                            "source": part.get("source"),
                            "size": part.get("size") or 0,
                            "sha256": part.get("sha256"),
                            "git_commit": part.get("git_commit") or False,
                            "git_dirty": bool(part.get("git_dirty")),
                        },
                    )
                    for index, part in enumerate(parts)
                ],
            }
        )
        self._apply_verification(
            BundleVerification.from_json(manifest.get("verification") or {})
        )

    def _apply_verification(self, verification):
        """The bundle's state from a BundleVerification."""
        ok = verification.ok
        problems = verification.problems
        self.write(
            {
                "state": "verified" if ok else "corrupt",
                "verified_at": fields.Datetime.now(),
                "verification_message": (
                    self.env._(
                        "Checksums match and the database dump reads back in full "
                        "(%(count)s parts checked).",
                        count=verification.checked,
                    )
                    if ok
                    else "\n".join(problems)
                ),
            }
        )

    def action_download(self):
        """Download the bundle as a tar archive streamed from its host (managers)."""
        self.ensure_one()
        self._check_usable()
        return {
            "type": "ir.actions.act_url",
            "url": f"/deployment_manager/backup/{self.id}/download",
            "target": "self",
        }

    def _check_usable(self):
        if self.state in ("running", "deleted"):
            raise UserError(_("Backup %s is not available.", self.name))

    # ------------------------------------------------------------------
    # Retention
    # ------------------------------------------------------------------
    def _expired(self):
        """The backups of these environments that retention may delete.

        A bundle is deleted only when it is beyond the environment's newest N
        *and* older than its D days; the newest verified bundle and the ones
        marked Keep are never deleted.
        """
        expired = self.browse()
        for environment in self.environment_id:
            backups = self.search(
                [("environment_id", "=", environment.id), ("state", "!=", "deleted")],
                order="create_date desc, id desc",
            )
            newest_verified = backups.filtered(lambda b: b.state == "verified")[:1]
            limit = fields.Datetime.now() - timedelta(days=environment.backup_keep_days)
            for backup in backups[environment.backup_keep_count :]:
                if (
                    backup == newest_verified
                    or backup.keep
                    or backup.state == "running"
                ):
                    continue
                if backup.create_date < limit:
                    expired |= backup
        return expired


class DeploymentBackupPart(models.Model):
    _name = "deployment.backup.part"
    _description = "Part of a backup bundle"
    _order = "backup_id, sequence, id"

    backup_id = fields.Many2one(
        "deployment.backup", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer()
    name = fields.Char(required=True)
    kind = fields.Selection(
        [
            ("database", "Database"),
            ("filestore", "Filestore"),
            ("config", "Configuration"),
            ("addons", "Custom addons"),
            ("extra", "External files"),
        ]
    )
    file = fields.Char()
    source = fields.Char()
    size = fields.Float(digits=(20, 0), help="Bytes.")
    sha256 = fields.Char(string="SHA-256")
    git_commit = fields.Char()
    git_dirty = fields.Boolean(string="Uncommitted changes")
