# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The deployment-day wizard (J1–J5): the screen kept open on the day, one
step after the other, over the plan's deployment-day checklist."""

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..models.deployment_checklist import ITEM_STATES, SATISFIED


class DeploymentDayWizard(models.TransientModel):
    _name = "deployment.day.wizard"
    _description = "Deployment day"

    plan_id = fields.Many2one("deployment.plan", required=True, readonly=True)
    plan_state = fields.Selection(related="plan_id.state")
    item_ids = fields.Many2many(
        "deployment.checklist.item", compute="_compute_step", string="Steps"
    )
    step_id = fields.Many2one(
        "deployment.checklist.item", compute="_compute_step", string="Step"
    )
    step_name = fields.Char(compute="_compute_step")
    step_instructions = fields.Text(related="step_id.instructions")
    step_mode = fields.Selection(related="step_id.mode")
    step_state = fields.Selection(ITEM_STATES, compute="_compute_step")
    step_reason = fields.Text(related="step_id.reason", string="Why the step failed")
    step_progress = fields.Float(related="step_id.progress")
    step_progress_message = fields.Char(related="step_id.progress_message")
    step_number = fields.Char(compute="_compute_step")
    decision_pending = fields.Boolean(compute="_compute_step")
    live = fields.Boolean(compute="_compute_step")
    blockers = fields.Text(compute="_compute_step")
    comment = fields.Text(help="Said with the confirmation of a manual step.")
    reason = fields.Text(
        help="Why: asked before a manager overrides the go-live time, and before "
        "a retry, a rollback or an abort."
    )
    downtime = fields.Float(related="plan_id.downtime")
    day_outcome = fields.Selection(related="plan_id.day_outcome")
    day_reason = fields.Text(related="plan_id.day_reason")

    @api.depends("plan_id.state", "plan_id.current_item_ids.state")
    def _compute_step(self):
        for wizard in self:
            plan = wizard.plan_id
            items = plan.current_item_ids.filtered(
                lambda i: i.phase == "deployment_day"
            ).sorted("sequence")
            wizard.item_ids = items
            step = items.filtered(lambda i: i.state not in SATISFIED)[:1]
            wizard.step_id = step
            wizard.step_name = step.display_name_with_code() if step else False
            wizard.step_state = step.state if step else False
            position = list(items).index(step) + 1 if step else len(items)
            wizard.step_number = _(
                "Step %(n)s of %(total)s", n=position, total=len(items)
            )
            wizard.decision_pending = bool(
                step and step.operation_id.decision == "pending"
            )
            wizard.live = any(i.state == "running" for i in items)
            wizard.blockers = (
                "\n".join(plan._deployment_day_blockers())
                if plan.state == "scheduled"
                else False
            )

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "name": _("Deployment day of %s", self.plan_id.display_name),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }

    def _reason(self):
        reason = (self.reason or "").strip()
        if not reason:
            raise UserError(_("Say why first."))
        return reason

    def action_start(self):
        """Scheduled → deploying (a manager may start early, saying why)."""
        self.plan_id._start_day((self.reason or "").strip() or None)
        self.reason = False
        return self._reopen()

    def action_confirm_step(self):
        self.step_id.action_confirm(comment=(self.comment or "").strip() or None)
        self.comment = False
        return self._reopen()

    def action_run_step(self):
        """Queue this automated step and the automated ones after it, as a chain."""
        if self.plan_id.state != "deploying":
            raise UserError(_("Start the deployment day first."))
        if self.step_id.mode != "automated":
            raise UserError(
                _("%s is confirmed by a person.", self.step_id.display_name_with_code())
            )
        self.plan_id._run_automated_from(self.step_id)
        return self._reopen()

    def action_refresh(self):
        return self._reopen()

    def action_retry(self):
        """Run the failed step again: a failed deployment goes on from its
        failed step (its own decision), another step is queued again."""
        reason = self._reason()
        step = self.step_id
        if step.state != "failed":
            raise UserError(_("Only a failed step is retried."))
        self.plan_id.message_post(
            body=_(
                "Retry of %(step)s: %(reason)s",
                step=step.display_name_with_code(),
                reason=reason,
            )
        )
        if step.operation_id.decision == "pending":
            step.operation_id.action_retry()
        else:
            self.plan_id._run_automated_from(step)
        self.reason = False
        return self._reopen()

    def action_rollback(self):
        """Roll production back to the failed deployment's rollback point."""
        reason = self._reason()
        step = self.step_id
        if step.operation_id.decision != "pending":
            raise UserError(_("No failed deployment waits for a rollback here."))
        self.plan_id.message_post(
            body=_(
                "Rollback of %(step)s asked: %(reason)s",
                step=step.display_name_with_code(),
                reason=reason,
            )
        )
        step.operation_id.action_rollback()
        self.reason = False
        return self._reopen()

    def action_abort(self):
        """Stop the deployment day; the plan is approved again, to be rescheduled."""
        reason = self._reason()
        self.plan_id._check_deployer()
        pending = self.step_id.operation_id
        if pending.decision == "pending":
            raise UserError(
                _(
                    "The deployment failed half-way: roll it back (or retry it) "
                    "before stopping, production is not as it was."
                )
            )
        # Queued steps are cancelled by the stop; one under way (or the
        # decision about a failed deployment) would change production after
        # the day said it stopped.
        busy = self.plan_id.operation_ids.filtered(
            lambda o: (
                o.state == "running"
                or (o.state == "queued" and o.kind in ("deployment_resume", "rollback"))
            )
        )
        if busy:
            raise UserError(
                _(
                    "%s is under way on production: let it end before stopping "
                    "the deployment day.",
                    busy[0].display_name,
                )
            )
        self.plan_id._end_day("aborted", reason)
        return {"type": "ir.actions.act_window_close"}
