# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import _, api, fields, models
from odoo.exceptions import UserError


class DeploymentRestoreWizard(models.TransientModel):
    """Confirmation of a restore: on production, the environment's name is typed."""

    _name = "deployment.restore.wizard"
    _description = "Restore a backup"

    backup_id = fields.Many2one("deployment.backup", required=True, readonly=True)
    environment_id = fields.Many2one(related="backup_id.environment_id")
    is_production = fields.Boolean(compute="_compute_is_production")
    confirmation = fields.Char(
        string="Type the environment's name",
        help="Restoring production replaces its database: type its name to confirm.",
    )

    @api.depends("environment_id.environment_type")
    def _compute_is_production(self):
        for wizard in self:
            # The recovery site holds production's data: the same care.
            wizard.is_production = wizard.environment_id._holds_production_data()

    def action_confirm(self):
        """Queue the restore once confirmed."""
        self.ensure_one()
        environment = self.environment_id
        if self.is_production and (self.confirmation or "").strip() != environment.name:
            raise UserError(
                _(
                    "Type %s exactly to restore this production environment.",
                    environment.name,
                )
            )
        return self.env["deployment.operation"]._request(
            "restore", environment=environment, backup=self.backup_id
        )
