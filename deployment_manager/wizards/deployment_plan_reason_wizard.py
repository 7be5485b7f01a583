# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import _, fields, models
from odoo.exceptions import UserError

REASON_ACTIONS = [
    ("back_to_development", "Back to development"),
    ("waive_item", "Waive a checklist item"),
    ("waive_test", "Waive a failed test"),
    ("approve", "Approve"),
]


class DeploymentPlanReasonWizard(models.TransientModel):
    """What a person says before a decision that is recorded with its reason."""

    _name = "deployment.plan.reason.wizard"
    _description = "Reason for a decision on a deployment plan"

    plan_id = fields.Many2one("deployment.plan")
    item_id = fields.Many2one("deployment.checklist.item")
    test_line_id = fields.Many2one("deployment.test.run.line")
    action = fields.Selection(REASON_ACTIONS, required=True, readonly=True)
    reason = fields.Text()

    def action_confirm(self):
        self.ensure_one()
        reason = (self.reason or "").strip()
        if self.action != "approve" and not reason:
            raise UserError(_("Say why."))
        if self.action == "back_to_development":
            self.plan_id.action_back_to_development(reason)
        elif self.action == "waive_item":
            self.item_id.action_waive(reason)
        elif self.action == "waive_test":
            self.test_line_id.action_waive(reason)
        elif self.action == "approve":
            self.plan_id.action_approve(note=reason or None)
        return {"type": "ir.actions.act_window_close"}
