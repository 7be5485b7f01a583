# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import api, fields, models


class DeploymentTestCase(models.Model):
    """A test done by hand (BRIEF D5): what was tried, by whom, what was
    expected and what was observed, with its evidence. It lives beside the
    automated test runs of the same module and goes into their report."""

    _name = "deployment.test.case"
    _description = "Manual Test Case"
    _inherit = ["mail.thread", "mail.activity.mixin"]  # noqa: RUF012 - Odoo model attribute
    _order = "tested_on desc, id desc"

    name = fields.Char(string="Title", required=True, tracking=True)
    module = fields.Char(required=True, index=True, tracking=True)
    environment_id = fields.Many2one(
        "deployment.environment", required=True, ondelete="cascade", tracking=True
    )
    company_id = fields.Many2one(related="environment_id.company_id", store=True)
    run_id = fields.Many2one(
        "deployment.test.run",
        string="Automated run",
        ondelete="set null",
        domain="[('environment_id', '=', environment_id), ('module', '=', module)]",
        help="The automated test run this case complements.",
    )
    tester_id = fields.Many2one(
        "res.users",
        string="Tested by",
        required=True,
        default=lambda self: self.env.user,
        tracking=True,
    )
    tested_on = fields.Datetime(required=True, default=fields.Datetime.now)
    steps = fields.Text(string="What was tried", required=True)
    expected = fields.Text(string="Expected result", required=True)
    observed = fields.Text(string="Observed result")
    result = fields.Selection(
        [
            ("to_do", "To do"),
            ("passed", "Passed"),
            ("failed", "Failed"),
            ("blocked", "Blocked"),
        ],
        required=True,
        default="to_do",
        tracking=True,
    )
    evidence_ids = fields.Many2many(
        "ir.attachment",
        string="Evidence",
        help="Screenshots, exported files…",
    )

    @api.onchange("run_id")
    def _onchange_run_id(self):
        if self.run_id:
            self.module = self.run_id.module
            self.environment_id = self.run_id.environment_id
