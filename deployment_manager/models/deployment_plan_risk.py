# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The risk of a plan (issue 11, R1): a short questionnaire and what the plan
already knows, turned into a level by the rules below; the level sets how
many managers approve and how long before the go-live users are told.

The rules (also in readme/CONFIGURE.md), points added up:

* touches critical processes (invoicing, payroll, stock valuation…): 3;
* users affected: a few 0, one team or department 1, most users 2;
* migrates existing data: 2;
* rollback: easy 0, hard (work entered after go-live is redone) 2, not
  possible once users have worked 4;
* what the module changed on pre-production: not checked 1; adds scheduled
  actions 1; adds outgoing mail 1; drops tables or columns, or alters
  columns, 1;
* days on pre-production in this iteration, from the key users' invitation
  to the first approval, fewer than the plan's soak minimum: 2;
* problems found in this iteration: 1 when any; each still open 2 more, at
  most 4.

Level: up to 2 low, 3 to 5 medium, 6 to 8 high, 9 and more critical.
Approvals: the landscape's policy, at least 2 for a high risk and 3 for a
critical one. Announcement lead time: set per level on the landscape
(defaults 1, 3, 7 and 14 days); scheduling sooner is a conflict a manager
may override with a reason.
"""

from datetime import timedelta

from odoo import _, api, fields, models

RISK_LEVELS = [
    ("low", "Low"),
    ("medium", "Medium"),
    ("high", "High"),
    ("critical", "Critical"),
]
# (highest score of the level, approvals at least, default days of
# announcement: each landscape sets its own)
LEVEL_RULES = {
    "low": (2, 1, 1),
    "medium": (5, 1, 3),
    "high": (8, 2, 7),
    "critical": (None, 3, 14),
}
USERS_AFFECTED = [
    ("few", "A few users"),
    ("team", "One team or department"),
    ("most", "Most users"),
]
ROLLBACK_DIFFICULTY = [
    ("easy", "Easy: restore the backup, nothing is lost"),
    ("hard", "Hard: work entered after go-live is redone"),
    ("impossible", "Not possible once users have worked"),
]
USERS_POINTS = {"few": 0, "team": 1, "most": 2}
ROLLBACK_POINTS = {"easy": 0, "hard": 2, "impossible": 4}


def risk_level(score):
    for level, (highest, _approvals, _days) in LEVEL_RULES.items():
        if highest is None or score <= highest:
            return level
    return "critical"


class DeploymentEnvironment(models.Model):
    _inherit = "deployment.environment"

    plan_risk_required = fields.Boolean(
        string="Approval needs a risk assessment",
        default=True,
        help="A plan of this landscape is approved only once its risk "
        "questionnaire is answered.",
    )
    plan_lead_days_low = fields.Integer(
        string="Announce a low risk (days before)", default=LEVEL_RULES["low"][2]
    )
    plan_lead_days_medium = fields.Integer(
        string="Announce a medium risk (days before)",
        default=LEVEL_RULES["medium"][2],
    )
    plan_lead_days_high = fields.Integer(
        string="Announce a high risk (days before)", default=LEVEL_RULES["high"][2]
    )
    plan_lead_days_critical = fields.Integer(
        string="Announce a critical risk (days before)",
        default=LEVEL_RULES["critical"][2],
    )


class DeploymentPlan(models.Model):
    _inherit = "deployment.plan"

    risk_critical_processes = fields.Boolean(
        string="Touches critical processes",
        tracking=True,
        help="Invoicing, payroll, stock valuation, anything the company "
        "cannot do without for a day.",
    )
    risk_users_affected = fields.Selection(
        USERS_AFFECTED, string="Users affected", tracking=True
    )
    risk_data_migration = fields.Boolean(
        string="Migrates existing data",
        tracking=True,
        help="The module changes records that exist before it is installed.",
    )
    risk_rollback = fields.Selection(
        ROLLBACK_DIFFICULTY, string="Rollback", tracking=True
    )
    risk_assessed = fields.Boolean(compute="_compute_risk")
    risk_score = fields.Integer(compute="_compute_risk")
    risk_level = fields.Selection(RISK_LEVELS, compute="_compute_risk")
    risk_reasons = fields.Text(
        string="Why this level",
        compute="_compute_risk",
        help="Every rule that added points, with its points.",
    )
    risk_lead_days = fields.Integer(
        string="Risk lead time (days)",
        compute="_compute_risk",
        help="How many days before the go-live users are told, by risk level.",
    )
    soak_days_done = fields.Float(
        string="Days soaked",
        compute="_compute_risk",
        digits=(16, 1),
        help="Days on pre-production in this iteration, from the key users' "
        "invitation until the first approval.",
    )

    @api.depends(
        "risk_critical_processes",
        "risk_users_affected",
        "risk_data_migration",
        "risk_rollback",
        "state",
        "iteration",
        "item_ids",
        "problem_ids.state",
        "approval_ids",
        "soak_started_at",
        "soak_min_days",
        "operation_ids.state",
        "operation_ids.result_data",
        "production_id.plan_lead_days_low",
        "production_id.plan_lead_days_medium",
        "production_id.plan_lead_days_high",
        "production_id.plan_lead_days_critical",
    )
    def _compute_risk(self):
        for plan in self:
            score, reasons = plan._risk_points()
            level = risk_level(score)
            plan.risk_assessed = bool(plan.risk_users_affected and plan.risk_rollback)
            plan.risk_score = score
            plan.risk_level = level
            plan.risk_reasons = "\n".join(
                f"+{points} {reason}" for points, reason in reasons
            )
            plan.risk_lead_days = (
                plan.production_id[f"plan_lead_days_{level}"]
                if plan.production_id
                else LEVEL_RULES[level][2]
            )
            plan.soak_days_done = plan._soak_days()

    @api.depends("production_id.plan_approvals_needed", "risk_level")
    def _compute_approvals_needed(self):
        for plan in self:
            plan.approvals_needed = max(
                plan.production_id.plan_approvals_needed,
                LEVEL_RULES[plan.risk_level or "low"][1],
            )

    def _risk_points(self):
        """``(score, [(points, reason)])`` by the rules of the module's doc."""
        self.ensure_one()
        reasons = []
        if self.risk_critical_processes:
            reasons.append((3, _("touches critical processes")))
        users = USERS_POINTS.get(self.risk_users_affected, 0)
        if users:
            reasons.append(
                (
                    users,
                    _(
                        "users affected: %s",
                        self._label("risk_users_affected"),
                    ),
                )
            )
        if self.risk_data_migration:
            reasons.append((2, _("migrates existing data")))
        rollback = ROLLBACK_POINTS.get(self.risk_rollback, 0)
        if rollback:
            reasons.append(
                (
                    rollback,
                    _("rollback: %s", self._label("risk_rollback")),
                )
            )
        reasons += self._risk_change_points()
        if self.soak_min_days and self._soak_days() < self.soak_min_days:
            reasons.append(
                (2, _("fewer than %s days in pre-production", self.soak_min_days))
            )
        problems = self.problem_ids.filtered(
            lambda p: p.reported_at >= self._iteration_started_at()
        )
        if problems:
            reasons.append(
                (1, _("%s problem(s) found in this iteration", len(problems)))
            )
            still_open = problems.filtered(lambda p: p.state == "open")
            if still_open:
                reasons.append(
                    (
                        min(2 * len(still_open), 4),
                        _("%s problem(s) still open", len(still_open)),
                    )
                )
        return sum(points for points, _reason in reasons), reasons

    def _risk_change_points(self):
        operation = self.module_change_operation_id
        if not operation:
            return [(1, _("what the module changed was not checked"))]
        changes = operation._result()
        reasons = []
        if changes.adds_scheduled_actions:
            reasons.append((1, _("the module adds scheduled actions")))
        if changes.adds_outgoing_mail:
            reasons.append((1, _("the module adds outgoing mail")))
        if changes.changes_structure:
            reasons.append((1, _("the module drops or alters tables or columns")))
        return reasons

    def _soak_days(self):
        """Days on pre-production in this iteration, from the key users'
        invitation until the iteration's first approval (or now)."""
        self.ensure_one()
        if self.state not in ("preproduction", "approved", "scheduled"):
            return 0.0
        started = self._soak_started_at()
        approvals = self.approval_ids.filtered(
            lambda a: a.iteration == self.iteration
        ).mapped("approved_at")
        end = min(approvals) if approvals else fields.Datetime.now()
        return max((end - started).total_seconds(), 0) / 86400

    def _gate_blockers(self, transition):
        blockers = super()._gate_blockers(transition)
        if (
            transition == "approve"
            and self.production_id.plan_risk_required
            and not self.risk_assessed
        ):
            blockers.append(
                _(
                    "Assess the risk: say how many users are affected and how "
                    "hard a rollback would be."
                )
            )
        return blockers

    def _schedule_conflicts(self):
        """The announcement lead time of the risk level is one more conflict:
        a manager may schedule sooner anyway, saying why."""
        conflicts = super()._schedule_conflicts()
        # Once scheduled, the announcement is made: only scheduling is judged.
        if self.scheduled_at and self.state == "approved":
            earliest = self._earliest_go_live()
            if self.scheduled_at < earliest:
                conflicts.append(
                    _(
                        "A %(level)s risk asks to tell users %(days)s day(s) "
                        "before the go-live: not before %(earliest)s.",
                        level=self._label("risk_level").lower(),
                        days=self.risk_lead_days,
                        earliest=self.env["deployment.freeze.window"]._format_moment(
                            earliest
                        ),
                    )
                )
        return conflicts

    def _label(self, field):
        """The label of a selection field's value, in the reader's language."""
        selection = self._fields[field]._description_selection(self.env)
        return dict(selection).get(self[field], "")

    def _earliest_go_live(self):
        """Now plus the announcement lead time of the plan's risk level."""
        return fields.Datetime.now() + timedelta(days=self.risk_lead_days)
