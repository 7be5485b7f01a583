# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Freeze windows (R1): periods when production must not change (month-end
closing, inventory, payroll…), one-off or repeating.

* Operations whose kind changes its target (``changes_target`` in the
  registry) are refused on production inside a freeze; backups, log checks
  and the other kinds that change nothing are not.
* Scheduling a plan is refused when its go-live falls in a freeze or beside
  another scheduled plan of the same landscape, unless a deployment manager
  schedules anyway with a reason.
* The deployment day does not start inside a freeze unless a manager
  overrides the day with a reason (the day's existing override).

The recurrence arithmetic is plain Python (``freeze_occurrences``), tested on
its own. It works on the window's own wall-clock time (its time zone), so a
window "from the 28th 18:00 to the 2nd 08:00" stays so across summer time.

Repeating: occurrence *n* is the first one moved by *n* weeks, months or
years (dateutil's ``relativedelta`` from the first occurrence, not from the
previous one, so a window on the 31st comes back on the 31st after a short
month). A day the month does not have becomes the month's last day: a
monthly window starting on the 31st starts on the 30th in April and on the
28th (29th) in February; a yearly window on February 29th is on February
28th in common years (the last day of February, as a closing set on it
would be). Start and end are moved separately, so a window crossing the
month end (28th → 2nd) keeps its days; should the end not fall after the
start any more (a window within the last days of a long month), it keeps the
first occurrence's duration.
"""

from datetime import timedelta

import pytz
from dateutil.relativedelta import relativedelta

from odoo import _, api, fields, models, tools
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from odoo.addons.base.models.res_partner import _tz_get

from .deployment_host import MANAGER_GROUP

RECURRENCES = [
    ("none", "One-off"),
    ("weekly", "Every week"),
    ("monthly", "Every month"),
    ("yearly", "Every year"),
]
# The longest a repeating window may last: its occurrences never overlap.
LONGEST = {
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=28),
    "yearly": timedelta(days=365),
}
# A plan holds production at least this long around its go-live.
MIN_PLAN_DURATION = timedelta(hours=1)
# How far ahead the calendar shows the occurrences of repeating windows.
CALENDAR_YEARS_AHEAD = 3
# Safety net for the occurrence loop (a weekly window over 190 years).
MAX_OCCURRENCES = 10000


def freeze_step(recurrence, index):
    """How far occurrence ``index`` is moved from the first one."""
    if recurrence == "weekly":
        return relativedelta(weeks=index)
    if recurrence == "monthly":
        return relativedelta(months=index)
    if recurrence == "yearly":
        return relativedelta(years=index)
    raise ValueError(f"unknown recurrence {recurrence!r}")


def freeze_occurrence(start, end, recurrence, index):
    """Occurrence ``index`` (0: the first) of a window ``[start, end)``."""
    if not index:
        return start, end
    if recurrence == "none":
        raise ValueError("a one-off window has one occurrence")
    step = freeze_step(recurrence, index)
    occurrence_start, occurrence_end = start + step, end + step
    if occurrence_end <= occurrence_start:
        occurrence_end = occurrence_start + (end - start)
    return occurrence_start, occurrence_end


def _first_candidate(end, recurrence, since):
    """An occurrence index before which none can end after ``since``."""
    if since <= end:
        return 0
    if recurrence == "weekly":
        return max(0, (since - end) // timedelta(weeks=1) - 1)
    if recurrence == "monthly":
        return max(0, (since.year - end.year) * 12 + since.month - end.month - 2)
    return max(0, since.year - end.year - 1)


def freeze_occurrences(start, end, recurrence, since, until, repeat_until=None):
    """The occurrences ``(start, end)`` of a window that overlap ``[since, until)``.

    ``start``/``end``: the first occurrence (naive datetimes, one clock);
    ``recurrence``: none, weekly, monthly or yearly; ``repeat_until``: a date,
    the last day an occurrence may start on (None: forever). Windows are
    half-open: one ending at 08:00 does not overlap what starts at 08:00.
    """
    if recurrence == "none":
        if start < until and end > since:
            return [(start, end)]
        return []
    found = []
    first = _first_candidate(end, recurrence, since)
    for index in range(first, first + MAX_OCCURRENCES):
        occurrence_start, occurrence_end = freeze_occurrence(
            start, end, recurrence, index
        )
        if occurrence_start >= until or (
            repeat_until and occurrence_start.date() > repeat_until
        ):
            break
        if occurrence_end > since:
            found.append((occurrence_start, occurrence_end))
    return found


# The occurrences of the active freeze windows (see freeze_occurrence), up to
# CALENDAR_YEARS_AHEAD years ahead: moved on each window's own clock, by
# months and years as relativedelta does (PostgreSQL also keeps the last day
# of a shorter month), the first occurrence's duration kept should the end
# not fall after the start.
_OCCURRENCE_VIEW = """
CREATE OR REPLACE VIEW %s AS (
WITH w AS (
    SELECT id, name, reason, production_id, company_id, recurrence, color,
           repeat_until, COALESCE(NULLIF(tz, ''), 'UTC') AS zone,
           (start_at AT TIME ZONE 'UTC')
               AT TIME ZONE COALESCE(NULLIF(tz, ''), 'UTC') AS local_start,
           (end_at AT TIME ZONE 'UTC')
               AT TIME ZONE COALESCE(NULLIF(tz, ''), 'UTC') AS local_end
      FROM deployment_freeze_window
     WHERE active
), h AS (
    SELECT w.*, %s::int AS years_ahead FROM w
), s AS (
    SELECT h.*, n, CASE h.recurrence
               WHEN 'weekly' THEN make_interval(weeks => n)
               WHEN 'monthly' THEN make_interval(months => n)
               WHEN 'yearly' THEN make_interval(years => n)
               ELSE interval '0'
           END AS step
      FROM h
     CROSS JOIN LATERAL generate_series(0, GREATEST(0, CASE h.recurrence
         WHEN 'weekly' THEN CEIL(EXTRACT(EPOCH FROM (
             now() - (h.local_start AT TIME ZONE h.zone)
         )) / 604800)::int + 53 * h.years_ahead + 1
         WHEN 'monthly' THEN (EXTRACT(YEAR FROM now())::int
             - EXTRACT(YEAR FROM h.local_start)::int + h.years_ahead + 1) * 12
         WHEN 'yearly' THEN EXTRACT(YEAR FROM now())::int
             - EXTRACT(YEAR FROM h.local_start)::int + h.years_ahead + 1
         ELSE 0 END)) AS n
), o AS (
    SELECT s.*, s.local_start + s.step AS occurrence_start,
           s.local_end + s.step AS occurrence_end
      FROM s
)
SELECT o.id::bigint * 100000 + o.n AS id,
       o.id AS window_id, o.name, o.reason, o.production_id, o.company_id,
       o.recurrence, o.color, o.n AS occurrence_index,
       (o.occurrence_start AT TIME ZONE o.zone) AT TIME ZONE 'UTC' AS start_at,
       ((CASE WHEN o.occurrence_end > o.occurrence_start
              THEN o.occurrence_end
              ELSE o.occurrence_start + (o.local_end - o.local_start)
         END) AT TIME ZONE o.zone) AT TIME ZONE 'UTC' AS end_at
  FROM o
 WHERE (o.repeat_until IS NULL OR o.occurrence_start::date <= o.repeat_until)
   AND (o.n = 0 OR o.occurrence_start AT TIME ZONE o.zone
        <= now() + make_interval(years => o.years_ahead))
)
"""


class DeploymentFreezeWindow(models.Model):
    _name = "deployment.freeze.window"
    _description = "Freeze Window"
    _inherit = ["mail.thread"]  # noqa: RUF012 - Odoo model attribute
    _order = "production_id, start_at"

    name = fields.Char(required=True, tracking=True, help="e.g. Month-end closing")
    reason = fields.Text(help="Why production must not change then.")
    production_id = fields.Many2one(
        "deployment.environment",
        string="Production",
        required=True,
        index=True,
        ondelete="cascade",
        domain=[("environment_type", "=", "production")],
        tracking=True,
        help="The landscape frozen: operations that change its production are "
        "refused, and its plans are not scheduled, inside the window.",
    )
    company_id = fields.Many2one(
        related="production_id.company_id", store=True, readonly=True
    )
    start_at = fields.Datetime(string="Start", required=True, tracking=True)
    end_at = fields.Datetime(string="End", required=True, tracking=True)
    recurrence = fields.Selection(
        RECURRENCES,
        string="Repeats",
        default="none",
        required=True,
        tracking=True,
        help="The same window every week, month or year from the first one. "
        "A day a month does not have becomes its last day (a window on the "
        "31st starts on the 30th in April; on February 29th, on the 28th in "
        "common years).",
    )
    repeat_until = fields.Date(
        string="Repeat until",
        tracking=True,
        help="The last day an occurrence may start on; empty: no end.",
    )
    tz = fields.Selection(
        _tz_get,
        string="Time zone",
        required=True,
        default=lambda self: self.env.user.tz or "UTC",
        help="The clock the window repeats on (summer time included).",
    )
    active = fields.Boolean(default=True, tracking=True)
    color = fields.Integer()
    next_start_at = fields.Datetime(
        string="Next start",
        compute="_compute_next",
        help="The occurrence under way, or else the next one.",
    )
    next_end_at = fields.Datetime(string="Next end", compute="_compute_next")

    @api.constrains("start_at", "end_at", "recurrence", "production_id")
    def _check_window(self):
        for window in self:
            if window.end_at <= window.start_at:
                raise ValidationError(
                    _("%(window)s must end after it starts.", window=window.name)
                )
            longest = LONGEST.get(window.recurrence)
            if longest and window.end_at - window.start_at > longest:
                raise ValidationError(
                    _(
                        "%(window)s repeats %(recurrence)s: it may last at most "
                        "%(days)s days.",
                        window=window.name,
                        recurrence=dict(
                            self._fields["recurrence"]._description_selection(self.env)
                        )[window.recurrence].lower(),
                        days=longest.days,
                    )
                )
            if window.production_id.environment_type != "production":
                raise ValidationError(
                    _(
                        "A freeze window is set on a production environment: "
                        "%(environment)s is not one.",
                        environment=window.production_id.display_name,
                    )
                )

    @api.depends("start_at", "end_at", "recurrence", "repeat_until", "tz")
    def _compute_next(self):
        now = fields.Datetime.now()
        for window in self:
            upcoming = (
                window._occurrences(now, now + timedelta(days=800))
                if window.start_at and window.end_at
                else []
            )
            window.next_start_at = upcoming[0][0] if upcoming else False
            window.next_end_at = upcoming[0][1] if upcoming else False

    # ------------------------------------------------------------------
    # Occurrences
    # ------------------------------------------------------------------
    def _occurrences(self, since, until):
        """This window's occurrences overlapping ``[since, until)``, in UTC
        (naive, as Odoo stores datetimes); the arithmetic on its own clock."""
        self.ensure_one()
        zone = pytz.timezone(self.tz or "UTC")

        def local(moment):
            return pytz.utc.localize(moment).astimezone(zone).replace(tzinfo=None)

        def utc(moment):
            return (
                zone.localize(moment, is_dst=False)
                .astimezone(pytz.utc)
                .replace(tzinfo=None)
            )

        # A day of margin each side for the clock change; filtered in UTC.
        found = freeze_occurrences(
            local(self.start_at),
            local(self.end_at),
            self.recurrence,
            local(since) - timedelta(days=1),
            local(until) + timedelta(days=1),
            self.repeat_until or None,
        )
        result = []
        for start, end in found:
            start, end = utc(start), utc(end)
            if start < until and end > since:
                result.append((start, end))
        return result

    @api.model
    def _overlapping(self, production, since, until):
        """``[(window, start, end)]``: the occurrences of the active freeze
        windows of a landscape that overlap ``[since, until)``, by start."""
        if not production:
            return []
        windows = (
            self.sudo()
            .with_context(active_test=True)
            .search([("production_id", "=", production.id)])
        )
        found = [
            (window.with_env(self.env), start, end)
            for window in windows
            for start, end in window._occurrences(since, until)
        ]
        return sorted(found, key=lambda entry: (entry[1], entry[0].id))

    @api.model
    def _format_moment(self, moment):
        """A moment in the reader's time zone, saying which."""
        local = fields.Datetime.context_timestamp(self, moment)
        return f"{local.strftime('%Y-%m-%d %H:%M')} ({local.tzname()})"

    def _describe(self, start, end):
        """One occurrence, for a refusal or a conflict."""
        self.ensure_one()
        text = _(
            'freeze window "%(window)s" from %(start)s until %(end)s',
            window=self.name,
            start=self._format_moment(start),
            end=self._format_moment(end),
        )
        if self.reason:
            text = f"{text} ({self.reason.strip()})"
        return text


class DeploymentFreezeOccurrence(models.Model):
    """Each occurrence of a freeze window, for the calendar (a view: a
    repeating window shows every week, month or year, up to three years
    ahead). The same arithmetic as ``freeze_occurrence``, in SQL: PostgreSQL
    moves a date by months and years as ``relativedelta`` does (the last
    day of a shorter month)."""

    _name = "deployment.freeze.occurrence"
    _description = "Occurrence of a Freeze Window"
    _auto = False
    _order = "start_at"
    _rec_name = "name"

    window_id = fields.Many2one(
        "deployment.freeze.window", string="Freeze window", readonly=True
    )
    name = fields.Char(readonly=True)
    reason = fields.Text(readonly=True)
    production_id = fields.Many2one(
        "deployment.environment", string="Production", readonly=True
    )
    company_id = fields.Many2one("res.company", readonly=True)
    recurrence = fields.Selection(RECURRENCES, string="Repeats", readonly=True)
    color = fields.Integer(readonly=True)
    occurrence_index = fields.Integer(readonly=True)
    start_at = fields.Datetime(string="Start", readonly=True)
    end_at = fields.Datetime(string="End", readonly=True)

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL(_OCCURRENCE_VIEW, SQL.identifier(self._table), CALENDAR_YEARS_AHEAD)
        )


class DeploymentEnvironment(models.Model):
    _inherit = "deployment.environment"

    freeze_window_ids = fields.One2many(
        "deployment.freeze.window", "production_id", string="Freeze windows"
    )
    freeze_window_count = fields.Integer(compute="_compute_freeze_window_count")

    def _compute_freeze_window_count(self):
        counts = {
            production.id: count
            for production, count in self.env["deployment.freeze.window"]._read_group(
                [("production_id", "in", self.ids)], ["production_id"], ["__count"]
            )
        }
        for environment in self:
            environment.freeze_window_count = counts.get(environment.id, 0)

    def action_view_freeze_windows(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "deployment_manager.action_deployment_freeze_window"
        )
        action.update(
            {
                "name": _("Freeze windows of %(production)s", production=self.name),
                "domain": [("production_id", "=", self.id)],
                "context": {"default_production_id": self.id},
            }
        )
        return action


class DeploymentOperation(models.Model):
    _inherit = "deployment.operation"

    @api.model
    def _enqueue(
        self, kind, host=None, environment=None, backup=None, params=None, **kwargs
    ):
        """Tell ``_check_may_run`` what only the request knows: when the
        operation is to run, and for which plan (a freeze is judged then)."""
        plan_id = self.env.context.get("deployment_plan_id")
        depends_on = kwargs.get("depends_on")
        if not plan_id and depends_on:
            plan_id = depends_on.plan_id.id
        if not plan_id:
            # A follow-up (rollback, retry) of an operation carries its plan.
            followed = _followed_operation_id(params)
            if followed:
                plan_id = self.sudo().browse(followed).exists().plan_id.id
        request = {
            "at": kwargs.get("scheduled_at"),
            "plan_id": plan_id or False,
            "follow_up": bool(_followed_operation_id(params)),
        }
        operation = super(
            DeploymentOperation, self.with_context(deployment_freeze_request=request)
        )._enqueue(
            kind,
            host=host,
            environment=environment,
            backup=backup,
            params=params,
            **kwargs,
        )
        return operation.with_env(self.env)

    @api.model
    def _check_may_run(self, kind, host, environment):
        """On top of who may run what: nothing that changes production runs
        inside one of its freeze windows.

        Only when an operation is requested (``_enqueue``): cancelling one is
        never refused.

        Production only, not the recovery site: the site is a replica users
        do not work on, and keeping it in line with production (C2) matters
        most while production holds the closing's data; a freeze protects
        the users' work, which changing the replica does not disturb.
        """
        super()._check_may_run(kind, host, environment)
        request = self.env.context.get("deployment_freeze_request")
        if request is None:
            return
        refusal = self._freeze_refusal(
            kind,
            environment,
            request.get("at"),
            request.get("plan_id"),
            request.get("follow_up"),
        )
        if refusal:
            raise UserError(refusal)

    @api.model
    def _freeze_refusal(self, kind, environment, at, plan_id, follow_up):
        """Why a freeze refuses this operation at ``at`` (None: now), or None."""
        if not environment or environment.environment_type != "production":
            return None
        if not self._kind_definition(kind).changes_target:
            return None
        if follow_up:
            # Rolling back or resuming a deployment already under way repairs
            # production: the freeze refuses new changes, not that.
            return None
        plan = self.env["deployment.plan"].sudo().browse(plan_id or [])
        if plan.exists() and plan.state == "deploying" and plan.override_reason:
            # A manager started this deployment day despite its blockers,
            # freeze included, saying why: that decision stands for the day.
            return None
        now = fields.Datetime.now()
        at = max(fields.Datetime.to_datetime(at), now) if at else now
        Window = self.env["deployment.freeze.window"]
        found = Window._overlapping(
            environment.landscape_id, at, at + timedelta(seconds=1)
        )
        if not found:
            return None
        window, start, end = found[0]
        return _(
            "%(kind)s changes %(environment)s, which is frozen at %(at)s by "
            "the %(window)s. Only operations that change nothing (backups, "
            "log checks, status) run there until %(end)s.",
            kind=self._kind_labels()[kind],
            environment=environment.display_name,
            at=Window._format_moment(at),
            window=window._describe(start, end),
            end=Window._format_moment(end),
        )

    def _execute(self):
        """A freeze may have begun (or been set) since the operation was
        queued: it does not start then, and ends cancelled saying why."""
        self.ensure_one()
        refusal = self._freeze_refusal(
            self.kind,
            self.environment_id,
            None,
            self.plan_id.id,
            bool(_followed_operation_id(self.params)),
        )
        if not refusal:
            return super()._execute()
        self.sudo().write(
            {
                "state": "cancelled",
                "finished_at": fields.Datetime.now(),
                "error_reason": "cancelled",
                "error_message": refusal,
                "progress_message": _("Not started: production is frozen."),
            }
        )
        self._release()
        self._commit()
        return None


def _followed_operation_id(params):
    """The operation a follow-up (rollback, retry, ignore) continues, if any."""
    if isinstance(params, dict):
        value = params.get("operation_id")
    else:
        value = getattr(params, "operation_id", None)
    return value if isinstance(value, int) and value else None


class DeploymentPlan(models.Model):
    _inherit = "deployment.plan"

    schedule_conflicts = fields.Text(
        compute="_compute_schedule_conflicts",
        help="Freeze windows and other scheduled plans of the landscape during "
        "this plan's go-live: they block scheduling unless a manager schedules "
        "anyway with a reason.",
    )
    schedule_override_reason = fields.Text(
        string="Why scheduled despite conflicts", readonly=True, copy=False
    )
    schedule_overridden_by_id = fields.Many2one(
        "res.users", string="Scheduled despite conflicts by", readonly=True, copy=False
    )

    @api.depends("state", "scheduled_at", "expected_downtime", "production_id")
    def _compute_schedule_conflicts(self):
        for plan in self:
            conflicts = (
                plan._schedule_conflicts()
                if plan.state in ("approved", "scheduled") and plan.scheduled_at
                else []
            )
            plan.schedule_conflicts = "\n".join(conflicts) or False

    def _go_live_interval(self):
        """``[start, end)``: the time the plan holds production, at least an
        hour from its go-live (a deploying plan holds it until at least now)."""
        self.ensure_one()
        start = self.scheduled_at
        if self.state == "deploying" and self.day_started_at:
            start = self.day_started_at
        if not start:
            return None
        duration = max(
            timedelta(minutes=self.expected_downtime or 0), MIN_PLAN_DURATION
        )
        end = start + duration
        if self.state == "deploying":
            end = max(end, fields.Datetime.now())
        return start, end

    def _schedule_conflicts(self):
        """What the go-live meets: each freeze window occurrence and each other
        plan of the landscape scheduled (or deploying) in that time, named."""
        self.ensure_one()
        interval = self._go_live_interval()
        if not interval or not self.production_id:
            return []
        start, end = interval
        Window = self.env["deployment.freeze.window"]
        conflicts = []
        for window, occurrence_start, occurrence_end in Window._overlapping(
            self.production_id, start, end
        ):
            conflicts.append(
                _(
                    "The go-live falls in the %(window)s.",
                    window=window._describe(occurrence_start, occurrence_end),
                )
            )
        others = self.sudo().search(
            [
                ("production_id", "=", self.production_id.id),
                ("state", "in", ("scheduled", "deploying")),
                ("id", "!=", self._origin.id or 0),
            ],
            order="scheduled_at, id",
        )
        for other in others:
            other_interval = other._go_live_interval()
            if not other_interval:
                continue
            other_start, other_end = other_interval
            if other_start < end and other_end > start:
                conflicts.append(
                    _(
                        "Plan %(plan)s is %(state)s on the same production from "
                        "%(start)s until %(end)s.",
                        plan=other.display_name,
                        state=other._state_label().lower(),
                        start=Window._format_moment(other_start),
                        end=Window._format_moment(other_end),
                    )
                )
        return conflicts

    def _gate_blockers(self, transition):
        blockers = super()._gate_blockers(transition)
        if transition == "schedule" and not self.env.context.get(
            "deployment_schedule_override"
        ):
            blockers += self._schedule_conflicts()
        return blockers

    def _deployment_day_blockers(self):
        blockers = super()._deployment_day_blockers()
        now = fields.Datetime.now()
        Window = self.env["deployment.freeze.window"]
        for window, start, end in Window._overlapping(
            self.production_id, now, now + timedelta(seconds=1)
        ):
            blockers.append(
                _(
                    "Production is frozen now by the %(window)s.",
                    window=window._describe(start, end),
                )
            )
        return blockers

    def action_schedule(self, scheduled_at=None):
        result = super().action_schedule(scheduled_at=scheduled_at)
        if not self.env.context.get("deployment_schedule_override"):
            # Scheduled without conflicts: an earlier override no longer applies.
            self.filtered("schedule_override_reason").sudo().write(
                {"schedule_override_reason": False, "schedule_overridden_by_id": False}
            )
        return result

    def action_schedule_override(self, reason=None, scheduled_at=None):
        """A deployment manager schedules despite freeze windows and other
        plans, saying why (recorded on the plan and in its chatter). Without
        conflicts the plan is simply scheduled. Other blockers (checklist,
        a past date) still apply.

        Without a reason (a button), the form asking for it opens."""
        if not self.env.user.has_group(MANAGER_GROUP):
            raise AccessError(
                _("Only deployment managers schedule a plan despite its conflicts.")
            )
        if reason is None:
            self.ensure_one()
            return {
                "type": "ir.actions.act_window",
                "name": _("Schedule despite conflicts"),
                "res_model": "deployment.schedule.override.wizard",
                "view_mode": "form",
                "target": "new",
                "context": {"default_plan_id": self.id},
            }
        self._check_state("approved")
        reason = (reason or "").strip()
        if not reason:
            raise UserError(_("Say why the plan is scheduled despite its conflicts."))
        for plan in self:
            if scheduled_at:
                plan.scheduled_at = fields.Datetime.to_datetime(scheduled_at)
            conflicts = plan._schedule_conflicts()
            if not conflicts:
                plan.action_schedule()
                continue
            plan.with_context(deployment_schedule_override=True).action_schedule()
            plan.sudo().write(
                {
                    "schedule_override_reason": reason,
                    "schedule_overridden_by_id": self.env.user.id,
                }
            )
            plan.message_post(
                body=_(
                    "Scheduled by %(user)s despite: %(conflicts)s Reason: %(reason)s",
                    user=self.env.user.name,
                    conflicts=" ".join(conflicts),
                    reason=reason,
                )
            )
        return True


class DeploymentScheduleOverrideWizard(models.TransientModel):
    """What a deployment manager says to schedule a plan despite its conflicts."""

    _name = "deployment.schedule.override.wizard"
    _description = "Schedule a Deployment Plan despite its Conflicts"

    plan_id = fields.Many2one("deployment.plan", required=True, ondelete="cascade")
    scheduled_at = fields.Datetime(related="plan_id.scheduled_at")
    schedule_conflicts = fields.Text(related="plan_id.schedule_conflicts")
    reason = fields.Text()

    def action_confirm(self):
        self.ensure_one()
        self.plan_id.action_schedule_override((self.reason or "").strip())
        return {"type": "ir.actions.act_window_close"}
