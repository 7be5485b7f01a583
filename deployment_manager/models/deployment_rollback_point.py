# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..ops.common import human_size
from .deployment_host import MANAGER_GROUP

POINT_STATES = [
    ("kept", "Kept"),
    ("dropped", "Dropped"),
]


class DeploymentRollbackPoint(models.Model):
    """A full copy of a database and its filestore, taken with Odoo stopped
    before a deployment: what a rollback swaps back in.

    Each one is as large as the environment itself, so only the newest few
    are kept (the environment's *Rollback points kept*); older ones are
    dropped after a healthy deployment, or by a manager.
    """

    _name = "deployment.rollback.point"
    _description = "Rollback point"
    _order = "created_at desc, id desc"

    name = fields.Char(string="Database copy", required=True, readonly=True)
    environment_id = fields.Many2one(
        "deployment.environment",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one(related="environment_id.company_id", store=True)
    operation_id = fields.Many2one(
        "deployment.operation",
        string="Taken by",
        readonly=True,
        ondelete="set null",
    )
    filestore = fields.Char(string="Filestore copy", readonly=True)
    created_at = fields.Datetime(readonly=True)
    database_size = fields.Float(readonly=True, digits=(20, 0), help="Bytes.")
    filestore_size = fields.Float(readonly=True, digits=(20, 0), help="Bytes.")
    size_display = fields.Char(string="Size", compute="_compute_size_display")
    state = fields.Selection(POINT_STATES, default="kept", readonly=True)
    dropped_at = fields.Datetime(readonly=True)
    drop_message = fields.Char(readonly=True)

    @api.depends("database_size", "filestore_size")
    def _compute_size_display(self):
        for point in self:
            point.size_display = human_size(
                (point.database_size or 0) + (point.filestore_size or 0)
            )

    def _as_ops_point(self):
        """The point as the ops layer knows it."""
        self.ensure_one()
        return {"database": self.name, "filestore": self.filestore or None}

    def _expired(self):
        """Points of one environment beyond the newest it keeps."""
        keep = max(self.environment_id[:1].rollback_point_keep, 0)
        kept = self.filtered(lambda p: p.state == "kept").sorted(
            lambda p: (p.created_at or fields.Datetime.now(), p.id), reverse=True
        )
        return kept[keep:]

    def action_drop(self):
        """Queue an operation that drops this rollback point (managers only)."""
        self.ensure_one()
        if not self.env.user.has_group(MANAGER_GROUP):
            raise UserError(_("Only deployment managers can drop a rollback point."))
        if self.state != "kept":
            raise UserError(_("Rollback point %s is already dropped.", self.name))
        return self.env["deployment.operation"]._request(
            "drop_rollback_point",
            environment=self.environment_id,
            params={"point_id": self.id},
        )

    def _mark_dropped(self, message=False):
        self.write(
            {
                "state": "dropped",
                "dropped_at": fields.Datetime.now(),
                "drop_message": message,
            }
        )
