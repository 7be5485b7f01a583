# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import fields, models


class DeploymentEnvironmentModule(models.Model):
    """A module installed in an environment, as the last discovery found it."""

    _name = "deployment.environment.module"
    _description = "Module installed in an environment"
    _order = "environment_id, name"

    environment_id = fields.Many2one(
        "deployment.environment", required=True, ondelete="cascade", index=True
    )
    name = fields.Char(string="Technical name", required=True)
    version = fields.Char(string="Installed version")
    state = fields.Char()
    application = fields.Boolean(help="An Odoo application (Sales, Inventory…).")
    title = fields.Char(help="The module's name as Odoo shows it.")
