# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Choosing the go-live by production's workload (issue 11, R1).

A ``workload`` operation reads production's activity hour by hour over the
last weeks; the plan shows it as an hour-of-week heatmap in the reader's time
zone and suggests the quietest window long enough for the downtime expected,
not before the announcement lead time of its risk, outside freeze windows
and other plans' go-lives.
"""

import math
from datetime import timedelta

import pytz
from babel.dates import get_day_names
from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..ops.workload import hour_of_week_averages, quietest_window

# How far ahead a go-live is looked for, and how old a reading may be.
SEARCH_DAYS = 28
FRESH_DAYS = 14


class DeploymentPlan(models.Model):
    _inherit = "deployment.plan"

    workload_operation_id = fields.Many2one(
        "deployment.operation",
        string="Workload read by",
        compute="_compute_workload",
    )
    workload_heatmap = fields.Html(
        string="Production's workload", compute="_compute_workload", sanitize=False
    )
    needed_downtime = fields.Float(
        string="Downtime to plan for (minutes)",
        compute="_compute_workload",
        help="Pre-production's measured downtime scaled by the ratio of the "
        "databases' sizes when both are known, else the expected downtime.",
    )
    needed_downtime_basis = fields.Char(string="Based on", compute="_compute_workload")
    suggested_at = fields.Datetime(
        string="Suggested go-live", compute="_compute_workload"
    )
    suggestion_reason = fields.Char(
        string="Why this window", compute="_compute_workload"
    )

    @api.depends(
        "production_id",
        "expected_downtime",
        "operation_ids.state",
        "state",
        "scheduled_at",
        "risk_level",
    )
    @api.depends_context("tz", "uid")
    def _compute_workload(self):
        for plan in self:
            operation = plan._workload_operation()
            minutes, basis = plan._needed_downtime()
            plan.workload_operation_id = operation
            plan.needed_downtime = minutes
            plan.needed_downtime_basis = basis
            plan.workload_heatmap = False
            plan.suggested_at = False
            plan.suggestion_reason = False
            if not operation:
                continue
            to_local = plan._to_local()
            averages = hour_of_week_averages(operation._result(), to_local)
            plan.workload_heatmap = plan._heatmap(averages, operation)
            start, load = plan._suggest(averages, minutes, to_local)
            if start:
                plan.suggested_at = start
                plan.suggestion_reason = _(
                    "The quietest %(hours)s hour(s) in the next %(days)s days "
                    "outside freezes and other plans: %(load)s messages and "
                    "logins on average.",
                    hours=plan._window_hours(minutes),
                    days=SEARCH_DAYS,
                    load="%.1f" % load,
                )

    def _workload_operation(self):
        """Production's latest workload reading, if recent enough."""
        if not self.production_id:
            return self.env["deployment.operation"]
        return (
            self.env["deployment.operation"]
            .sudo()
            .search(
                [
                    ("kind", "=", "workload"),
                    ("environment_id", "=", self.production_id.id),
                    ("state", "=", "done"),
                    (
                        "finished_at",
                        ">=",
                        fields.Datetime.now() - timedelta(days=FRESH_DAYS),
                    ),
                ],
                order="finished_at desc, id desc",
                limit=1,
            )
        )

    def _needed_downtime(self):
        """``(minutes, basis)``: what to plan the window for."""
        deployment = self._latest_preproduction_deployment()
        if deployment and deployment.downtime:
            minutes = deployment.downtime / 60
            production = self.production_id.database_size
            preproduction = self.preproduction_id.database_size
            if production and preproduction:
                ratio = production / preproduction
                return minutes * ratio, _(
                    "pre-production's deployment %(name)s (%(seconds)s s) × "
                    "%(ratio)s, the ratio of the databases' sizes",
                    name=deployment.name,
                    seconds="%.0f" % deployment.downtime,
                    ratio="%.2f" % ratio,
                )
            return minutes, _(
                "pre-production's deployment %(name)s (%(seconds)s s)",
                name=deployment.name,
                seconds="%.0f" % deployment.downtime,
            )
        return self.expected_downtime or 0.0, _("the expected downtime")

    @staticmethod
    def _window_hours(minutes):
        return max(1, math.ceil((minutes or 0) / 60))

    def _to_local(self):
        zone = pytz.timezone(self.env.user.tz or self.env.context.get("tz") or "UTC")

        def to_local(moment):
            return pytz.utc.localize(moment).astimezone(zone).replace(tzinfo=None)

        return to_local

    def _suggest(self, averages, minutes, to_local):
        """The quietest window from the earliest go-live the risk allows,
        over the next weeks, meeting no freeze window and no other plan."""
        hours = self._window_hours(minutes)
        earliest = max(self._earliest_go_live(), fields.Datetime.now())
        first = earliest.replace(minute=0, second=0, microsecond=0)
        if first < earliest:
            first += timedelta(hours=1)
        blocked = self._busy_intervals(first, first + timedelta(days=SEARCH_DAYS + 1))
        length = timedelta(hours=hours)
        candidates = [
            start
            for start in (first + timedelta(hours=h) for h in range(SEARCH_DAYS * 24))
            if not any(
                busy_start < start + length and busy_end > start
                for busy_start, busy_end in blocked
            )
        ]
        return quietest_window(averages, candidates, hours, to_local)

    def _busy_intervals(self, since, until):
        """Freeze window occurrences and other plans' go-lives of the landscape."""
        busy = [
            (start, end)
            for _window, start, end in self.env[
                "deployment.freeze.window"
            ]._overlapping(self.production_id, since, until)
        ]
        others = self.sudo().search(
            [
                ("production_id", "=", self.production_id.id),
                ("state", "in", ("scheduled", "deploying")),
                ("id", "!=", self._origin.id or 0),
            ]
        )
        busy += [i for i in (other._go_live_interval() for other in others) if i]
        return busy

    def _heatmap(self, averages, operation):
        """A 7×24 table, each cell shaded by its hour's share of the busiest."""
        peak = max(averages.values()) or 1.0
        days = self._weekday_names()
        header = Markup("").join(
            Markup('<th class="text-center p-0">%s</th>') % hour for hour in range(24)
        )
        rows = Markup("")
        for day in range(7):
            cells = Markup("")
            for hour in range(24):
                value = averages[(day, hour)]
                alpha = value / peak
                cells += Markup(
                    '<td class="text-center p-0" title="%s" '
                    'style="background-color: rgba(220, 53, 69, %.2f); '
                    'min-width: 1.6em;">%s</td>'
                ) % (
                    _(
                        "%(day)s %(hour)s:00: %(value)s on average",
                        day=days[day],
                        hour="%02d" % hour,
                        value="%.1f" % value,
                    ),
                    alpha,
                    f"{value:.0f}" if value >= 0.5 else "",
                )
            rows += Markup('<tr><th class="pe-2">%s</th>%s</tr>') % (days[day], cells)
        caption = _(
            "Messages and logins an hour, on average over the last %(weeks)s "
            "weeks (read %(when)s), in %(zone)s time.",
            weeks=operation._result().weeks,
            when=self.env["deployment.freeze.window"]._format_moment(
                operation.finished_at
            ),
            zone=self.env.user.tz or "UTC",
        )
        return Markup(
            '<table class="o_deployment_workload small"><caption>%s</caption>'
            "<thead><tr><th></th>%s</tr></thead><tbody>%s</tbody></table>"
        ) % (caption, header, rows)

    def _weekday_names(self):
        """Monday first, in the reader's language."""
        names = get_day_names("abbreviated", locale=self.env.lang or "en_US")
        return [names[day] for day in range(7)]

    def action_read_workload(self):
        """Queue the reading of production's activity (a manager's, as any
        operation on production)."""
        self.ensure_one()
        if not self.production_id:
            raise UserError(_("Choose the production environment first."))
        operation = (
            self.env["deployment.operation"]
            .with_context(deployment_plan_id=self.id)
            ._enqueue("workload", environment=self.production_id, params={"weeks": 4})
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": "deployment.operation",
            "res_id": operation.id,
            "view_mode": "form",
            "target": "current",
        }

    def action_use_suggested_window(self):
        """Set the go-live to the suggested window (R1); scheduling stays a
        separate step, with its own checks."""
        for plan in self:
            plan._check_state("approved")
            if not plan.suggested_at:
                raise UserError(
                    _(
                        "No window to suggest: read production's workload first "
                        "(a reading older than %s days is not used).",
                        FRESH_DAYS,
                    )
                )
            plan.scheduled_at = plan.suggested_at
            plan.message_post(
                body=_(
                    "Go-live set to the suggested window: %(reason)s",
                    reason=plan.suggestion_reason,
                )
            )
        return True
