# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import fields, models


class DeploymentIgnoreWizard(models.TransientModel):
    """Guided failure: go on despite a failed step, with a reason that is journaled."""

    _name = "deployment.ignore.wizard"
    _description = "Ignore a deployment failure"

    operation_id = fields.Many2one("deployment.operation", required=True)
    reason = fields.Text(required=True)

    def action_confirm(self):
        self.ensure_one()
        return self.operation_id._decide_ignore(self.reason)
