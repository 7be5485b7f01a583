# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What a deployment plan is made of besides its checklists: its modules,
expected impact, iterations, approvals, users' problems and the actions
decided at its lessons-learned review."""

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..remote import InvalidInput, validate_module_name
from .deployment_plan import PLAN_STATES


class DeploymentPlanModule(models.Model):
    _name = "deployment.plan.module"
    _description = "Module of a Deployment Plan"
    _order = "sequence, id"

    plan_id = fields.Many2one("deployment.plan", required=True, ondelete="cascade")
    sequence = fields.Integer(default=10)
    name = fields.Char(string="Technical name", required=True)
    description = fields.Char(string="What it does")

    @api.constrains("name")
    def _check_name(self):
        for line in self:
            try:
                validate_module_name(line.name, field="module")
            except InvalidInput:
                raise UserError(
                    _(
                        "%s is not a module's technical name (lowercase letters, "
                        "digits and underscores).",
                        line.name,
                    )
                ) from None


class DeploymentPlanImpact(models.Model):
    _name = "deployment.plan.impact"
    _description = "Expected Impact of a Deployment Plan"

    plan_id = fields.Many2one("deployment.plan", required=True, ondelete="cascade")
    application = fields.Char(required=True, help="The Odoo application, e.g. Sales.")
    positive = fields.Text(string="Positive impact")
    negative = fields.Text(string="Negative impact")


class DeploymentPlanIteration(models.Model):
    """One pass through development: why it ended, kept as history."""

    _name = "deployment.plan.iteration"
    _description = "Iteration of a Deployment Plan"
    _order = "plan_id, number"

    plan_id = fields.Many2one("deployment.plan", required=True, ondelete="cascade")
    number = fields.Integer(required=True)
    started_at = fields.Datetime(default=fields.Datetime.now, required=True)
    ended_at = fields.Datetime()
    back_from = fields.Selection(PLAN_STATES, string="Went back from")
    back_reason = fields.Text(string="Why it went back")
    back_by_id = fields.Many2one("res.users", string="Sent back by")


class DeploymentPlanApproval(models.Model):
    _name = "deployment.plan.approval"
    _description = "Approval of a Deployment Plan"
    _order = "approved_at"

    plan_id = fields.Many2one("deployment.plan", required=True, ondelete="cascade")
    iteration = fields.Integer(required=True)
    user_id = fields.Many2one("res.users", string="Approved by", required=True)
    approved_at = fields.Datetime(default=fields.Datetime.now, required=True)
    note = fields.Text()


class DeploymentPlanProblem(models.Model):
    """A problem users reported, during the soak or after go-live."""

    _name = "deployment.plan.problem"
    _description = "Problem Reported on a Deployment Plan"
    _inherit = ["mail.thread"]  # noqa: RUF012 - Odoo model attribute
    _order = "reported_at desc, id desc"

    plan_id = fields.Many2one("deployment.plan", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="plan_id.company_id", store=True)
    name = fields.Char(string="Summary", required=True)
    description = fields.Text()
    severity = fields.Selection(
        [
            ("minor", "Minor"),
            ("major", "Major"),
            ("blocking", "Blocking"),
        ],
        default="minor",
        required=True,
    )
    reported_by_id = fields.Many2one(
        "res.users", default=lambda self: self.env.user, string="Reported by"
    )
    reported_at = fields.Datetime(default=fields.Datetime.now, required=True)
    plan_state = fields.Selection(
        PLAN_STATES,
        string="During",
        default=lambda self: (
            self.env["deployment.plan"]
            .browse(self.env.context.get("default_plan_id"))
            .state
        ),
    )
    state = fields.Selection(
        [("open", "Open"), ("resolved", "Resolved")],
        default="open",
        required=True,
        tracking=True,
    )
    resolution = fields.Text()

    @api.model_create_multi
    def create(self, vals_list):
        # "During" is the plan's state when the problem is reported, also
        # when the plan comes in the values (XML-RPC) and not the context.
        for vals in vals_list:
            if not vals.get("plan_state") and vals.get("plan_id"):
                vals["plan_state"] = (
                    self.env["deployment.plan"].browse(vals["plan_id"]).state
                )
        return super().create(vals_list)


class DeploymentPlanAction(models.Model):
    """An action decided at the lessons-learned review (A3), with its owner."""

    _name = "deployment.plan.action"
    _description = "Lessons-learned Action"

    plan_id = fields.Many2one("deployment.plan", required=True, ondelete="cascade")
    name = fields.Char(string="Action", required=True)
    user_id = fields.Many2one("res.users", string="Owner", required=True)
    date_deadline = fields.Date(string="Due")
    activity_done = fields.Boolean(readonly=True)

    def _schedule_activity(self):
        for action in self:
            action.plan_id.activity_schedule(
                "mail.mail_activity_data_todo",
                date_deadline=action.date_deadline or fields.Date.today(),
                user_id=action.user_id.id,
                summary=action.name,
            )
            action.activity_done = True
