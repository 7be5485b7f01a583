# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A plan's deployment day (J1–J5, driven by the deployment-day wizard) and
its hypercare (A1, A2): the day's steps, how the plan follows its operations,
the end of the day, the scheduled log checks after go-live."""

from datetime import timedelta

from odoo import _, api, fields, models

from .deployment_checklist import SATISFIED
from .deployment_plan import DAY_OUTCOMES


class DeploymentPlan(models.Model):
    _inherit = "deployment.plan"

    def _item_ended(self, item, operation):
        """An item's operation ended: the deployment day goes on or stops."""
        self.ensure_one()
        if self.state != "deploying" or item.phase != "deployment_day":
            return
        if operation.kind == "rollback" and operation.state == "done":
            # The day stops for the failure that asked for the rollback, not
            # for the rollback's own summary.
            failed = item.operation_ids.filtered(
                lambda o: o.kind != "rollback" and o.state == "failed"
            ).sorted("id")[-1:]
            self._end_day(
                "rolled_back",
                _(
                    "Production was rolled back after: %s",
                    failed.error_message or "-",
                ),
            )
            return
        if operation.kind == "rollback":
            # The rollback itself failed: production is not as it was, the
            # day cannot be said rolled back. It stays open on its failed
            # step; once production is repaired by hand, abort it with why.
            self.message_post(
                body=_(
                    "The rollback of %(step)s failed: %(reason)s Production "
                    "needs a person before the day is aborted.",
                    step=item.display_name_with_code(),
                    reason=item.reason or "-",
                )
            )
            return
        # A deployment, or its retry or ignored failure going on with it.
        deploying = operation.kind in ("deployment_run", "deployment_resume")
        if (
            operation.state == "failed"
            and deploying
            and operation.decision != "pending"
        ):
            # The deployment rolled itself back (or failed before any change).
            self._end_day("rolled_back", operation.error_message)
            return
        if deploying and operation.state == "done":
            self.sudo().downtime = operation.downtime
        self._maybe_finish_day()

    # ------------------------------------------------------------------
    # Deployment day (the wizard drives it; these are its steps)
    # ------------------------------------------------------------------
    def action_open_deployment_day(self):
        self.ensure_one()
        self._check_state("scheduled", "deploying")
        wizard = self.env["deployment.day.wizard"].create({"plan_id": self.id})
        return wizard._reopen()

    def _start_day(self, override_reason=None):
        """Scheduled → deploying, refused before the go-live or in a freeze
        unless a manager overrides with a reason."""
        self.ensure_one()
        self._check_deployer()
        self._check_state("scheduled")
        # An earlier day's override does not carry over to this one.
        self.sudo().write({"override_reason": False, "overridden_by_id": False})
        blockers = self._gate_blockers("start_day")
        if blockers:
            if not override_reason:
                self._gate_check("start_day")
            self._check_manager(_("start a deployment day before its time"))
            self.sudo().write(
                {
                    "override_reason": override_reason.strip(),
                    "overridden_by_id": self.env.user.id,
                }
            )
            self.message_post(
                body=_(
                    "Deployment day started by %(user)s despite: %(blockers)s "
                    "Reason: %(reason)s",
                    user=self.env.user.name,
                    blockers=" ".join(blockers),
                    reason=override_reason.strip(),
                )
            )
        self.sudo().write(
            {
                "day_started_at": fields.Datetime.now(),
                "day_ended_at": False,
                "day_outcome": False,
                "day_reason": False,
                "downtime": 0.0,
            }
        )
        self._set_state("deploying")

    def _run_automated_from(self, item):
        """Queue the item and the automated items right after it as one chain."""
        chain = self.env["deployment.checklist.item"]
        for candidate in self.current_item_ids.sorted("sequence"):
            if candidate.sequence < item.sequence or candidate.state in SATISFIED:
                continue
            if candidate.mode != "automated":
                break
            chain |= candidate
        previous = None
        for candidate in chain:
            previous = candidate._start(depends_on=previous)
        return chain

    def _maybe_finish_day(self):
        if self.state != "deploying":
            return
        items = self.current_item_ids.filtered("mandatory")
        if items and all(i.state in SATISFIED for i in items):
            self._finish_day()

    def _finish_day(self):
        """Every deployment-day step is done: hypercare starts (A1–A3) and the
        recovery site is brought in line with the new production (C2)."""
        self.ensure_one()
        now = fields.Datetime.now()
        days = self.production_id.plan_hypercare_days or 0
        values = {
            "day_ended_at": now,
            "day_outcome": "succeeded",
            "hypercare_until": now + timedelta(days=days),
            "hypercare_next_check_at": now
            + timedelta(minutes=max(self.hypercare_check_interval, 5)),
        }
        if self.recovery_id:
            operation = (
                self.env["deployment.operation"]
                .sudo()
                .with_context(deployment_plan_id=self.id)
                ._enqueue("replicate", environment=self.recovery_id)
            )
            values["recovery_operation_id"] = operation.id
        self.sudo().write(values)
        self._set_state("hypercare")
        self.message_post(
            body=_(
                "Deployed: production was down %(downtime)s s. "
                "Hypercare until %(until)s.",
                downtime=round(self.downtime, 1),
                until=fields.Datetime.to_string(
                    fields.Datetime.context_timestamp(self, self.hypercare_until)
                ),
            )
        )
        for user in self.support_user_ids:
            self.activity_schedule(
                "mail.mail_activity_data_todo",
                date_deadline=fields.Date.to_date(self.hypercare_until),
                user_id=user.id,
                summary=_("Assist end users with %s", self.module_names),
            )

    def _end_day(self, outcome, reason):
        """The deployment day stops: production is as it was (rolled back) or
        as the abort left it, and the plan needs a new date."""
        self.ensure_one()
        day_items = self.current_item_ids.filtered(
            lambda i: i.phase == "deployment_day"
        )
        self.sudo().write(
            {
                "day_ended_at": fields.Datetime.now(),
                "day_outcome": outcome,
                "day_reason": reason,
            }
        )
        self._set_state("approved")
        # Kept as history; a new go-live gets a fresh deployment-day checklist.
        day_items.sudo().write({"active": False})
        queued = self.operation_ids.filtered(lambda o: o.state == "queued")
        queued.sudo().write(
            {
                "state": "cancelled",
                "finished_at": fields.Datetime.now(),
                "error_reason": "cancelled",
                "error_message": _("The deployment day stopped."),
            }
        )
        self.message_post(
            body=_(
                "Deployment day %(outcome)s: %(reason)s The plan is approved again "
                "and needs a new go-live date.",
                outcome=dict(DAY_OUTCOMES)[outcome].lower(),
                reason=reason or "",
            )
        )

    # ------------------------------------------------------------------
    # Hypercare: production's log checked on schedule (A2)
    # ------------------------------------------------------------------
    @api.model
    def _cron_hypercare(self):
        now = fields.Datetime.now()
        for plan in self.search(
            [("state", "=", "hypercare"), ("hypercare_next_check_at", "<=", now)]
        ):
            production = plan.production_id
            busy = plan.operation_ids.filtered(
                lambda o: o.kind == "log_check" and o.state in ("queued", "running")
            )
            if not busy:
                operation = (
                    self.env["deployment.operation"]
                    .with_user(self.env.ref("base.user_root"))
                    .with_context(deployment_plan_id=plan.id)
                    ._enqueue("log_check", environment=production, scheduled_at=now)
                )
                # A2 tells how the latest scheduled check went.
                plan.current_item_ids.sudo().filtered(
                    lambda i: (
                        i.phase == "after_go_live"
                        and i.operation_kind == "log_check"
                        and i.state not in ("running", "waived")
                    )
                ).write(
                    {
                        "state": "running",
                        "operation_id": operation.id,
                        "operation_ids": [(4, operation.id)],
                    }
                )
            plan.sudo().hypercare_next_check_at = now + timedelta(
                minutes=max(plan.hypercare_check_interval, 5)
            )
