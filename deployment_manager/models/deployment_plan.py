# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A deployment plan: one or more new modules put into one production
landscape, phase by phase (BRIEF D1–A3), behind gates."""

from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from ..remote import InvalidInput
from ..remote.validation import validate_git_url
from .deployment_checklist import PHASES, SATISFIED
from .deployment_host import MANAGER_GROUP

DEPLOYER_GROUP = "deployment_manager.group_deployment_deployer"

PLAN_STATES = [
    ("draft", "Draft"),
    ("development", "Development"),
    ("preproduction", "Pre-production"),
    ("approved", "Approved"),
    ("scheduled", "Scheduled"),
    ("deploying", "Deploying"),
    ("hypercare", "Hypercare"),
    ("done", "Done"),
    ("cancelled", "Cancelled"),
]
# The checklist phase a plan state works through.
STATE_PHASE = {
    "development": "development",
    "preproduction": "preproduction",
    "approved": "planning",
    "scheduled": "deployment_day",
    "deploying": "deployment_day",
    "hypercare": "after_go_live",
    "done": "after_go_live",
}
# Which plan field names the environment of an item's role.
ROLE_FIELDS = {
    "development": "development_id",
    "preproduction": "preproduction_id",
    "production": "production_id",
    "disaster_recovery": "recovery_id",
}
DAY_OUTCOMES = [
    ("succeeded", "Succeeded"),
    ("rolled_back", "Rolled back"),
    ("aborted", "Aborted"),
]
REVIEW_OUTCOMES = [
    ("successful", "Successful"),
    ("with_issues", "Successful with issues"),
    ("unsuccessful", "Unsuccessful"),
]


class DeploymentPlan(models.Model):
    _name = "deployment.plan"
    _description = "Deployment Plan"
    _inherit = ["mail.thread", "mail.activity.mixin", "deployment.gate.mixin"]  # noqa: RUF012 - Odoo model attribute
    _order = "id desc"

    name = fields.Char(string="Reference", readonly=True, default="/", copy=False)
    title = fields.Char(required=True, tracking=True)
    state = fields.Selection(
        PLAN_STATES,
        default="draft",
        required=True,
        readonly=True,
        tracking=True,
        index=True,
        group_expand="_group_expand_states",
    )
    phase = fields.Selection(PHASES, compute="_compute_phase", store=True)
    iteration = fields.Integer(
        readonly=True,
        default=0,
        tracking=True,
        help="How many times the plan went through development.",
    )
    iteration_ids = fields.One2many(
        "deployment.plan.iteration", "plan_id", string="Iterations", readonly=True
    )
    user_id = fields.Many2one(
        "res.users",
        string="Owner",
        default=lambda self: self.env.user,
        tracking=True,
    )
    color = fields.Integer()
    production_id = fields.Many2one(
        "deployment.environment",
        string="Production",
        required=True,
        domain=[("environment_type", "=", "production")],
        tracking=True,
    )
    company_id = fields.Many2one(
        related="production_id.company_id", store=True, readonly=True
    )
    development_id = fields.Many2one(
        "deployment.environment",
        string="Development",
        compute="_compute_environments",
        store=True,
        readonly=False,
        domain="[('production_id', '=', production_id), "
        "('environment_type', '=', 'development')]",
        tracking=True,
    )
    preproduction_id = fields.Many2one(
        "deployment.environment",
        string="Pre-production",
        compute="_compute_environments",
        store=True,
        readonly=False,
        domain="[('production_id', '=', production_id), "
        "('environment_type', '=', 'preproduction')]",
        tracking=True,
    )
    recovery_id = fields.Many2one(
        "deployment.environment",
        string="Disaster recovery site",
        compute="_compute_environments",
        store=True,
        readonly=False,
        domain="[('production_id', '=', production_id), "
        "('environment_type', '=', 'disaster_recovery')]",
        tracking=True,
    )
    module_ids = fields.One2many("deployment.plan.module", "plan_id", copy=True)
    module_names = fields.Char(
        string="Modules", compute="_compute_module_names", store=True
    )
    source_kind = fields.Selection(
        [("git", "Git repository"), ("zip", "Zip file")],
        string="Source",
        default="git",
        required=True,
    )
    git_url = fields.Char(string="Repository")
    git_ref = fields.Char(string="Branch, tag or commit", tracking=True)
    source_zip = fields.Binary(string="Zip of the module(s)", attachment=True)
    source_zip_filename = fields.Char()
    justification = fields.Text(string="Why")
    impact_ids = fields.One2many("deployment.plan.impact", "plan_id", copy=True)
    scheduled_at = fields.Datetime(string="Go-live", tracking=True, copy=False)
    expected_downtime = fields.Float(
        string="Expected downtime (minutes)", help="Told to users in announcements."
    )
    next_date = fields.Datetime(compute="_compute_next_date")

    # Checklists
    item_ids = fields.One2many("deployment.checklist.item", "plan_id", readonly=True)
    current_item_ids = fields.One2many(
        "deployment.checklist.item",
        "plan_id",
        string="Checklist",
        domain=[("current", "=", True)],
        readonly=True,
    )
    checklist_progress = fields.Float(compute="_compute_checklist_progress")
    live = fields.Boolean(
        compute="_compute_checklist_progress",
        help="An item's operation is under way: the form keeps itself up to date.",
    )
    checklist_summary = fields.Char(compute="_compute_checklist_progress")

    # Approval
    approval_ids = fields.One2many("deployment.plan.approval", "plan_id", readonly=True)
    approvals_needed = fields.Integer(
        compute="_compute_approvals_needed",
        help="The landscape's policy, raised by the plan's risk level.",
    )
    approval_count = fields.Integer(compute="_compute_approval_count")

    # Deployment day
    day_started_at = fields.Datetime(string="Deployment started", readonly=True)
    day_ended_at = fields.Datetime(string="Deployment ended", readonly=True)
    downtime = fields.Float(
        string="Production downtime (s)",
        readonly=True,
        help="Measured by the deployment: from the stop to a healthy start.",
    )
    day_outcome = fields.Selection(DAY_OUTCOMES, readonly=True, tracking=True)
    day_reason = fields.Text(string="Why the day stopped", readonly=True)
    override_reason = fields.Text(
        readonly=True, help="Why a manager started the deployment day anyway."
    )
    overridden_by_id = fields.Many2one("res.users", readonly=True)
    recovery_operation_id = fields.Many2one(
        "deployment.operation", string="Recovery-site replication", readonly=True
    )

    # After go-live
    hypercare_until = fields.Datetime(readonly=True, tracking=True)
    hypercare_check_interval = fields.Integer(
        string="Check production's log every (minutes)", default=60
    )
    hypercare_next_check_at = fields.Datetime(readonly=True, copy=False)
    support_user_ids = fields.Many2many(
        "res.users",
        "deployment_plan_support_user_rel",
        string="Support roster",
        help="Who assists end users after go-live (A1).",
    )
    problem_ids = fields.One2many("deployment.plan.problem", "plan_id")
    problem_count = fields.Integer(compute="_compute_counts")
    review_date = fields.Date()
    review_participant_ids = fields.Many2many(
        "res.users", "deployment_plan_review_user_rel", string="Participants"
    )
    review_outcome = fields.Selection(REVIEW_OUTCOMES, string="Outcome", tracking=True)
    review_went_well = fields.Text(string="What went well")
    review_went_wrong = fields.Text(string="What went wrong")
    review_action_ids = fields.One2many("deployment.plan.action", "plan_id")

    # What the plan's operations made
    operation_ids = fields.One2many("deployment.operation", "plan_id", readonly=True)
    operation_count = fields.Integer(compute="_compute_counts")
    backup_count = fields.Integer(compute="_compute_counts")
    test_run_count = fields.Integer(compute="_compute_counts")
    finding_count = fields.Integer(compute="_compute_counts")

    @api.model
    def _group_expand_states(self, states, domain):
        return [key for key, _label in PLAN_STATES if key != "cancelled"]

    # What only the plan's own methods write: a transition, an approval or
    # the deployment day written directly (over RPC) would skip its gate.
    _SYSTEM_FIELDS = frozenset(
        {
            "name",
            "state",
            "iteration",
            "day_started_at",
            "day_ended_at",
            "downtime",
            "day_outcome",
            "day_reason",
            "override_reason",
            "overridden_by_id",
            "recovery_operation_id",
            "hypercare_until",
            "hypercare_next_check_at",
            "schedule_override_reason",
            "schedule_overridden_by_id",
        }
    )

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            for vals in vals_list:
                self._check_system_fields(set(vals) - {"name"})
        for vals in vals_list:
            if vals.get("name", "/") == "/":
                vals["name"] = self.env["ir.sequence"].next_by_code(
                    "deployment.plan"
                ) or _("New")
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            self._check_system_fields(vals)
        return super().write(vals)

    def _check_system_fields(self, names):
        written = sorted(set(names) & self._SYSTEM_FIELDS)
        if written:
            raise AccessError(
                _(
                    "%(fields)s of a deployment plan change only through its "
                    "buttons (or their methods), which check the gates.",
                    fields=", ".join(written),
                )
            )

    @api.depends("name", "title")
    def _compute_display_name(self):
        for plan in self:
            plan.display_name = (
                f"{plan.name} {plan.title}" if plan.title else plan.name or ""
            )

    @api.depends("state")
    def _compute_phase(self):
        for plan in self:
            plan.phase = STATE_PHASE.get(plan.state, False)

    @api.depends("production_id")
    def _compute_environments(self):
        for plan in self:
            derived = plan.production_id.derived_ids
            for role, field in ROLE_FIELDS.items():
                if role == "production":
                    continue
                if plan[field].production_id != plan.production_id or not plan[field]:
                    plan[field] = derived.filtered(
                        lambda env, role=role: env.environment_type == role
                    )[:1]

    @api.depends("module_ids.name")
    def _compute_module_names(self):
        for plan in self:
            plan.module_names = ", ".join(plan.module_ids.mapped("name"))

    @api.depends("state", "scheduled_at", "hypercare_until")
    def _compute_next_date(self):
        for plan in self:
            if plan.state in ("approved", "scheduled", "deploying"):
                plan.next_date = plan.scheduled_at
            elif plan.state == "hypercare":
                plan.next_date = plan.hypercare_until
            else:
                plan.next_date = False

    @api.depends("current_item_ids.state")
    def _compute_checklist_progress(self):
        for plan in self:
            items = plan.current_item_ids
            done = len(items.filtered(lambda i: i.state in SATISFIED))
            plan.checklist_progress = 100.0 * done / len(items) if items else 0.0
            plan.checklist_summary = f"{done} / {len(items)}" if items else ""
            plan.live = any(i.state == "running" for i in items)

    @api.depends("approval_ids", "iteration")
    def _compute_approval_count(self):
        for plan in self:
            plan.approval_count = len(
                plan.approval_ids.filtered(
                    lambda a, plan=plan: a.iteration == plan.iteration
                )
            )

    def _compute_counts(self):
        for plan in self:
            plan.operation_count = len(plan.operation_ids)
            plan.backup_count = len(plan._backups())
            plan.test_run_count = len(plan._test_runs())
            plan.finding_count = len(plan._findings())
            plan.problem_count = len(plan.problem_ids)

    def _backups(self):
        return (
            self.env["deployment.backup"].search(
                [("operation_id", "in", self.operation_ids.ids)]
            )
            | self.operation_ids.backup_id
        )

    def _test_runs(self):
        return self.env["deployment.test.run"].search(
            [("operation_id", "in", self.operation_ids.ids)]
        )

    def _findings(self):
        """Log findings seen by the plan's own log checks (S5, J5, A2)."""
        return self.env["deployment.log.finding"].search(
            [
                "|",
                ("first_operation_id", "in", self.operation_ids.ids),
                ("last_operation_id", "in", self.operation_ids.ids),
            ]
        )

    # ------------------------------------------------------------------
    # Who may do what
    # ------------------------------------------------------------------
    def _check_deployer(self):
        if not self.env.user.has_group(DEPLOYER_GROUP):
            raise AccessError(
                _("Only deployers and deployment managers move a deployment plan.")
            )

    def _check_manager(self, what):
        if not self.env.user.has_group(MANAGER_GROUP):
            raise AccessError(_("Only deployment managers %s.", what))

    def _check_state(self, *states):
        for plan in self:
            if plan.state not in states:
                raise UserError(
                    _(
                        "%(plan)s is %(state)s: this is not possible now.",
                        plan=plan.display_name,
                        state=plan._state_label(),
                    )
                )

    def _state_label(self):
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    # ------------------------------------------------------------------
    # Transitions (public: buttons and XML-RPC alike)
    # ------------------------------------------------------------------
    def action_start_development(self):
        """Draft → development (D1–D5): the first iteration starts."""
        self._check_deployer()
        self._check_state("draft")
        for plan in self:
            plan._gate_check("start_development")
            plan._start_iteration()
            plan._set_state("development")
        return True

    def action_to_preproduction(self):
        """Development → pre-production (S1–S6), development's checklist done."""
        self._check_deployer()
        self._check_state("development")
        for plan in self:
            plan._gate_check("to_preproduction")
            plan._set_state("preproduction")
        return True

    def action_approve(self, note=None):
        """A deployment manager approves leaving pre-production; the plan is
        approved once the landscape's policy has its approvals."""
        self._check_manager(_("approve a deployment plan"))
        self._check_state("preproduction")
        for plan in self:
            if plan.approval_ids.filtered(
                lambda a, plan=plan: (
                    a.iteration == plan.iteration and a.user_id == self.env.user
                )
            ):
                raise UserError(
                    _("You already approved %s in this iteration.", plan.display_name)
                )
            plan._gate_check("approve")
            self.env["deployment.plan.approval"].sudo().create(
                {
                    "plan_id": plan.id,
                    "iteration": plan.iteration,
                    "user_id": self.env.user.id,
                    "note": note or False,
                }
            )
            plan.message_post(
                body=_(
                    "Approved by %(user)s (%(count)s of %(needed)s).",
                    user=self.env.user.name,
                    count=plan.approval_count,
                    needed=plan.approvals_needed,
                )
            )
            if plan.approval_count >= max(plan.approvals_needed, 1):
                plan._set_state("approved")
        return True

    def action_schedule(self, scheduled_at=None):
        """Approved → scheduled (R1, R2): the go-live date is set and announced."""
        self._check_deployer()
        self._check_state("approved")
        for plan in self:
            if scheduled_at:
                plan.scheduled_at = fields.Datetime.to_datetime(scheduled_at)
            plan._gate_check("schedule")
            plan._set_state("scheduled")
        return True

    def action_back_to_development(self, reason=None):
        """S6: problems found — a new iteration starts from development.

        Without a reason (a button), the form asking for it opens."""
        if not reason:
            return self._reason_wizard("back_to_development")
        self._check_deployer()
        self._check_state("preproduction", "approved", "scheduled")
        if not reason.strip():
            raise UserError(_("Say why the plan goes back to development."))
        for plan in self:
            plan.iteration_ids.filtered(
                lambda i, plan=plan: i.number == plan.iteration
            ).sudo().write(
                {
                    "ended_at": fields.Datetime.now(),
                    "back_reason": reason.strip(),
                    "back_by_id": self.env.user.id,
                    "back_from": plan.state,
                }
            )
            plan.message_post(
                body=_(
                    "Back to development (iteration %(iteration)s ends): %(reason)s",
                    iteration=plan.iteration,
                    reason=reason.strip(),
                )
            )
            plan._start_iteration()
            plan._set_state("development")
        return True

    def action_done(self):
        """Hypercare → done, once the lessons-learned review is recorded (A3)."""
        self._check_deployer()
        self._check_state("hypercare")
        for plan in self:
            plan._gate_check("done")
            plan.iteration_ids.filtered(
                lambda i, plan=plan: i.number == plan.iteration
            ).sudo().write({"ended_at": fields.Datetime.now()})
            plan._set_state("done")
            for action in plan.review_action_ids.filtered(
                lambda a: not a.activity_done
            ):
                action._schedule_activity()
        return True

    def action_cancel(self):
        self._check_deployer()
        self._check_state(
            "draft", "development", "preproduction", "approved", "scheduled"
        )
        for plan in self:
            plan._set_state("cancelled")
        return True

    def action_waive(self, item_ids, reason):
        """XML-RPC: a manager waives items of the current checklist, saying why."""
        items = self.item_ids.browse(item_ids).filtered(lambda i: i.plan_id in self)
        return items.action_waive(reason)

    def _set_state(self, state):
        self.ensure_one()
        self.sudo().write({"state": state})
        phase = STATE_PHASE.get(state)
        if phase and not self.item_ids.filtered(
            lambda i: i.phase == phase and i.iteration == self.iteration
        ):
            self._create_checklist(phase)
        self.activity_update()

    def _start_iteration(self):
        self.ensure_one()
        self.sudo().write({"iteration": self.iteration + 1})
        self.env["deployment.plan.iteration"].sudo().create(
            {"plan_id": self.id, "number": self.iteration}
        )

    def _iteration_started_at(self):
        current = self.iteration_ids.filtered(lambda i: i.number == self.iteration)
        return current.started_at or self.create_date

    # ------------------------------------------------------------------
    # Gates
    # ------------------------------------------------------------------
    def _gate_transition_label(self, transition):
        return {
            "start_development": _("start development"),
            "to_preproduction": _("go to pre-production"),
            "approve": _("be approved"),
            "schedule": _("be scheduled"),
            "start_day": _("start the deployment day"),
            "done": _("be closed"),
        }.get(transition, transition)

    def _gate_blockers(self, transition):
        blockers = super()._gate_blockers(transition)
        if transition == "start_development":
            if not self.module_ids:
                blockers.append(_("Name the module(s) to put into production."))
            if not self.development_id:
                blockers.append(_("Choose the development environment."))
            blockers += self._source_problems()
        elif transition in ("to_preproduction", "approve", "schedule", "done"):
            blockers += self._checklist_blockers()
            if transition == "to_preproduction" and not self.preproduction_id:
                blockers.append(_("Choose the pre-production environment."))
            if transition == "schedule":
                if not self.scheduled_at:
                    blockers.append(_("Set the go-live date and time."))
                elif self.scheduled_at <= fields.Datetime.now():
                    blockers.append(_("The go-live date is already past."))
        elif transition == "start_day":
            blockers += self._deployment_day_blockers()
        return blockers

    def _checklist_blockers(self):
        """Each mandatory item of the current checklist not done, named."""
        blockers = []
        for item in self.current_item_ids.filtered("mandatory"):
            label = item.display_name_with_code()
            if item.state == "waived":
                continue
            if item.state != "done":
                detail = f" ({item.reason})" if item.reason else ""
                blockers.append(
                    _(
                        "%(item)s is %(state)s%(detail)s",
                        item=label,
                        state=item._state_label().lower(),
                        detail=detail,
                    )
                )
                continue
            problem = item._requirement_problem()
            if problem:
                blockers.append(f"{label}: {problem}")
        return blockers

    def _deployment_day_blockers(self):
        """Why the deployment day may not start now (hook: freeze windows and
        other reasons are added by overriding it). A manager may override
        these with a reason."""
        self.ensure_one()
        blockers = []
        if self.scheduled_at and fields.Datetime.now() < self.scheduled_at:
            blockers.append(
                _(
                    "The go-live is scheduled for %s.",
                    fields.Datetime.to_string(
                        fields.Datetime.context_timestamp(self, self.scheduled_at)
                    ),
                )
            )
        return blockers

    def _source_problems(self):
        if self.source_kind == "zip":
            return [] if self.source_zip else [_("Attach the zip of the module(s).")]
        if not (self.git_url and self.git_ref):
            return [_("Give the repository and the branch, tag or commit.")]
        try:
            validate_git_url(self.git_url.strip())
        except InvalidInput:
            return [
                _(
                    "The repository URL holds credentials (a token or a password), "
                    "or is not a git URL: use an SSH URL with a deploy key."
                )
            ]
        return []

    # ------------------------------------------------------------------
    # Requirements of checklist items (see deployment_checklist.REQUIREMENTS)
    # ------------------------------------------------------------------
    def _requirement_tests_passed(self, item):
        runs = self.env["deployment.test.run"].search(
            [("operation_id", "=", item.operation_id.id)], limit=1
        )
        if not runs:
            return _("No test run recorded: run the module's tests.")
        unwaived = runs.line_ids.filtered(
            lambda line: line.status in ("failed", "error") and not line.waived_by_id
        )
        if runs.verdict == "passed" or (
            runs.line_ids and not unwaived and not runs.run_errors
        ):
            return False
        if not unwaived:
            return _("%s: the tests could not run.", runs.name)
        return _(
            "%(run)s: %(count)s test(s) failed (%(tests)s): fix them, or a manager "
            "waives each failure with a reason.",
            run=runs.name,
            count=len(unwaived),
            tests=", ".join(unwaived.mapped("method")),
        )

    def _requirement_tests_documented(self, item):
        since = self._iteration_started_at()
        missing = []
        for module in self.module_ids.mapped("name"):
            cases = self.env["deployment.test.case"].search_count(
                [
                    ("module", "=", module),
                    (
                        "environment_id",
                        "in",
                        (self.development_id | self.preproduction_id).ids,
                    ),
                    ("tested_on", ">=", since),
                ]
            )
            if not cases:
                missing.append(module)
        if missing:
            return _(
                "Document the tests run for %s (manual test cases) in this iteration.",
                ", ".join(missing),
            )
        return False

    def _requirement_no_open_errors(self, item):
        deployed = self.current_item_ids.filtered(
            lambda i: (
                i.operation_kind == "deployment_run"
                and i.environment_id == item.environment_id
            )
        ).operation_ids.filtered(lambda o: o.state == "done")
        if not deployed:
            return _(
                "The module was not deployed on %s in this iteration yet.",
                item.environment_id.name,
            )
        since = max(deployed.mapped("finished_at"))
        findings = self.env["deployment.log.finding"].search(
            [
                ("environment_id", "=", item.environment_id.id),
                ("level", "in", ("ERROR", "CRITICAL")),
                ("known", "=", False),
                ("last_operation_id.started_at", ">=", since),
            ]
        )
        if findings:
            return _(
                "%(count)s unresolved error(s) in %(env)s's log since the "
                "deployment: %(list)s. Examine each; mark it known once resolved.",
                count=len(findings),
                env=item.environment_id.name,
                list="; ".join((f.template or f.signature)[:80] for f in findings),
            )
        return False

    def _requirement_log_passes(self, item):
        operation = item.operation_id
        if operation.kind == "log_check" and operation._result().verdict == "fail":
            return _(
                "The log check of %(env)s failed: %(summary)s",
                env=item.environment_id.name,
                summary=item.operation_id.result_summary or "-",
            )
        return False

    def _requirement_go_live_date(self, item):
        if not self.scheduled_at:
            return _("Set the go-live date and time.")
        return False

    def _requirement_review(self, item):
        if not self.review_outcome:
            return _("Record the lessons-learned review and its outcome.")
        return False

    # ------------------------------------------------------------------
    # Checklists
    # ------------------------------------------------------------------
    def _create_checklist(self, phase):
        """Entering a phase: its template's items for this iteration."""
        self.ensure_one()
        template = self.env["deployment.checklist.template"].search(
            [("phase", "=", phase)], limit=1
        )
        Item = self.env["deployment.checklist.item"].sudo().with_context(lang="en_US")
        installed = self.env["res.lang"].get_installed()
        languages = [code for code, _name in installed if code != "en_US"]
        for entry in template.with_context(lang="en_US").item_ids:
            environment = (
                self[ROLE_FIELDS[entry.environment_role]]
                if entry.environment_role
                else self.env["deployment.environment"]
            )
            base = {
                "plan_id": self.id,
                "phase": phase,
                "iteration": self.iteration,
                "sequence": entry.sequence,
                "code": entry.code,
                "mode": entry.mode,
                "operation_kind": entry.operation_kind,
                "environment_id": environment.id,
                "mandatory": entry.mandatory,
                "requirement": entry.requirement,
                "responsible_group_id": entry.responsible_group_id.id,
            }
            # One item per module for its tests: each module's pass on their own.
            modules = (
                self.module_ids.mapped("name")
                if entry.operation_kind == "module_tests"
                else [False]
            )
            for module in modules:
                item = Item.create({**base, "module": module, **_texts(entry, module)})
                for lang in languages:
                    item.with_context(lang=lang).write(
                        _texts(entry.with_context(lang=lang), module)
                    )

    def _operation_params(self, item):
        """What an automated item's operation is asked, from the plan."""
        if item.operation_kind == "module_tests":
            return {"module": item.module, "mode": "auto"}
        if item.operation_kind == "deployment_run":
            return self._deployment_params(item.environment_id)
        return None

    def _deployment_params(self, environment):
        self.ensure_one()
        problems = self._source_problems()
        if problems:
            raise UserError("\n".join(problems))
        paths = environment._spec().addons_paths
        if not paths:
            raise UserError(
                _(
                    "%s has no custom addons path: set it (or Discover it from the "
                    "configuration) before deploying.",
                    environment.name,
                )
            )
        # The plan's modules are deployed; whether each is installed or
        # upgraded is read by the deployment from the database itself (no
        # list given): the environment's discovered modules may be stale
        # (development has the module from an earlier iteration), and "-i" on
        # an installed module reloads it without its migration scripts.
        source = {
            "kind": self.source_kind,
            "addons_path": paths[0],
            "modules": self.module_ids.mapped("name"),
        }
        if self.source_kind == "zip":
            attachment = (
                self.env["ir.attachment"]
                .sudo()
                .create(
                    {
                        "name": self.source_zip_filename or "modules.zip",
                        "datas": self.source_zip,
                        "res_model": "deployment.environment",
                        "res_id": environment.id,
                    }
                )
            )
            source["attachment_id"] = attachment.id
        else:
            source.update({"url": self.git_url.strip(), "ref": self.git_ref.strip()})
        return {
            "install": [],
            "upgrade": [],
            "backup": False,
            "log_check": True,
            "source": source,
        }

    def _log_item(self, item, what, comment=None):
        body = _(
            "%(item)s %(what)s by %(user)s.",
            item=item.display_name_with_code(),
            what=what,
            user=self.env.user.name,
        )
        if comment:
            body = f"{body} {comment}"
        self.message_post(body=body)

    # ------------------------------------------------------------------
    # Reasons asked in a form
    # ------------------------------------------------------------------
    def _reason_wizard(self, action, item=None):
        self.ensure_one()
        titles = {
            "back_to_development": _("Back to development"),
            "waive_item": _("Waive a checklist item"),
            "approve": _("Approve"),
        }
        return {
            "type": "ir.actions.act_window",
            "name": titles.get(action, _("Why?")),
            "res_model": "deployment.plan.reason.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_plan_id": self.id,
                "default_action": action,
                "default_item_id": item.id if item else False,
            },
        }

    def action_open_approve(self):
        return self._reason_wizard("approve")

    # ------------------------------------------------------------------
    # Activities, in the style of Odoo's maintenance requests: one per
    # purpose, rescheduled or closed as the plan moves, never piled up.
    # ------------------------------------------------------------------
    def activity_update(self):
        day = "deployment_manager.mail_act_deployment_day"
        review = "deployment_manager.mail_act_lessons_learned"
        approval = "deployment_manager.mail_act_plan_approval"
        for plan in self:
            plan._activity_keep(
                day,
                plan.state == "scheduled" and plan.scheduled_at,
                plan.scheduled_at,
                plan.user_id,
                _("Deployment day of %s", plan.display_name),
            )
            plan._activity_keep(
                review,
                plan.state == "hypercare",
                plan.hypercare_until,
                plan.user_id,
                _("Lessons-learned review of %s", plan.display_name),
            )
            plan._activity_keep(
                approval,
                plan.state == "preproduction",
                fields.Datetime.now() + timedelta(days=7),
                plan.user_id,
                _("Approve %s once pre-production is conclusive", plan.display_name),
            )

    def _activity_keep(self, xmlid, wanted, when, user, summary):
        activities = self.activity_ids.filtered(
            lambda a: a.activity_type_id == self.env.ref(xmlid)
        )
        if not wanted:
            if activities:
                activities.action_feedback(feedback=_("The plan moved on."))
            return
        deadline = fields.Date.to_date(when) if when else fields.Date.today()
        if activities:
            activities.write({"date_deadline": deadline, "user_id": user.id})
        else:
            self.activity_schedule(
                xmlid, date_deadline=deadline, user_id=user.id, summary=summary
            )

    # ------------------------------------------------------------------
    # Smart buttons
    # ------------------------------------------------------------------
    def _list_action(self, name, model, domain):
        return {
            "type": "ir.actions.act_window",
            "name": name,
            "res_model": model,
            "view_mode": "list,form",
            "domain": domain,
        }

    def action_view_operations(self):
        self.ensure_one()
        return self._list_action(
            _("Operations of %s", self.name),
            "deployment.operation",
            [("plan_id", "=", self.id)],
        )

    def action_view_backups(self):
        self.ensure_one()
        return self._list_action(
            _("Backups of %s", self.name),
            "deployment.backup",
            [("id", "in", self._backups().ids)],
        )

    def action_view_test_runs(self):
        self.ensure_one()
        return self._list_action(
            _("Test runs of %s", self.name),
            "deployment.test.run",
            [("id", "in", self._test_runs().ids)],
        )

    def action_view_findings(self):
        self.ensure_one()
        return self._list_action(
            _("Log findings of %s", self.name),
            "deployment.log.finding",
            [("id", "in", self._findings().ids)],
        )

    def action_view_problems(self):
        self.ensure_one()
        action = self._list_action(
            _("Problems reported on %s", self.name),
            "deployment.plan.problem",
            [("plan_id", "=", self.id)],
        )
        action["context"] = {"default_plan_id": self.id}
        return action


def _texts(entry, module):
    """A template item's name and instructions, in the entry's language."""
    return {
        "name": f"{entry.name}: {module}" if module else entry.name,
        "instructions": entry.instructions,
    }
