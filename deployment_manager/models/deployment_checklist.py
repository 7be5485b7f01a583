# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Checklists: the procedure's steps (BRIEF D1–A3) as items a person sees,
runs or confirms. Templates say what each phase asks; entering a phase copies
its template onto the plan, for the iteration under way."""

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from .. import operation_kinds
from .deployment_host import MANAGER_GROUP

PHASES = [
    ("development", "Development"),
    ("preproduction", "Pre-production"),
    ("planning", "Production planning"),
    ("deployment_day", "Deployment day"),
    ("after_go_live", "After go-live"),
]
ENVIRONMENT_ROLES = [
    ("development", "Development"),
    ("preproduction", "Pre-production"),
    ("production", "Production"),
    ("disaster_recovery", "Disaster recovery site"),
]
# What an item asks beyond being done, checked again by every gate.
REQUIREMENTS = [
    ("tests_passed", "The module's tests passed (or each failure waived)"),
    ("tests_documented", "The tests that were run are documented"),
    ("no_open_errors", "No unresolved error in the log since the deployment"),
    ("log_passes", "The log check passed (errors within the environment's limits)"),
    ("go_live_date", "The go-live date is set"),
    ("review", "The lessons-learned review is recorded"),
]
ITEM_STATES = [
    ("todo", "To do"),
    ("running", "Running"),
    ("done", "Done"),
    ("failed", "Failed"),
    ("waived", "Waived"),
]
SATISFIED = ("done", "waived")
# An automated item's operation: the kinds that need what the plan says.
PLAN_PARAM_KINDS = ("deployment_run", "module_tests")


class DeploymentChecklistTemplate(models.Model):
    """What a phase of the procedure asks, as items; edited by managers."""

    _name = "deployment.checklist.template"
    _description = "Checklist Template"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    phase = fields.Selection(PHASES, required=True)
    description = fields.Text(translate=True)
    item_ids = fields.One2many(
        "deployment.checklist.template.item", "template_id", copy=True
    )


class DeploymentChecklistTemplateItem(models.Model):
    _name = "deployment.checklist.template.item"
    _description = "Checklist Template Item"
    _order = "sequence, id"

    template_id = fields.Many2one(
        "deployment.checklist.template", required=True, ondelete="cascade"
    )
    sequence = fields.Integer(default=10)
    code = fields.Char(help="The procedure's code of the step (D1…A3).")
    name = fields.Char(required=True, translate=True)
    instructions = fields.Text(translate=True)
    mode = fields.Selection(
        [("manual", "Manual"), ("automated", "Automated")],
        required=True,
        default="manual",
    )
    operation_kind = fields.Selection(
        operation_kinds.selection(),
        help="The operation an automated item runs.",
    )
    environment_role = fields.Selection(
        ENVIRONMENT_ROLES,
        string="On",
        help="Which of the plan's environments the operation runs on.",
    )
    mandatory = fields.Boolean(default=True)
    requirement = fields.Selection(REQUIREMENTS)
    responsible_group_id = fields.Many2one(
        "res.groups", help="Who confirms a manual item (managers always may)."
    )

    @api.constrains("mode", "operation_kind", "environment_role")
    def _check_automated(self):
        for item in self:
            if item.mode == "automated" and not (
                item.operation_kind and item.environment_role
            ):
                raise UserError(
                    _(
                        "The automated item %s needs an operation and the "
                        "environment it runs on.",
                        item.name,
                    )
                )


class DeploymentChecklistItem(models.Model):
    """One step of one phase of a plan, in one iteration."""

    _name = "deployment.checklist.item"
    _description = "Checklist Item"
    _order = "plan_id, iteration desc, phase_sequence, sequence, id"

    plan_id = fields.Many2one(
        "deployment.plan", required=True, ondelete="cascade", index=True
    )
    active = fields.Boolean(
        default=True,
        readonly=True,
        help="A deployment day that stopped keeps its steps as history, archived.",
    )
    company_id = fields.Many2one(related="plan_id.company_id", store=True)
    phase = fields.Selection(PHASES, required=True, readonly=True)
    phase_sequence = fields.Integer(compute="_compute_phase_sequence", store=True)
    iteration = fields.Integer(readonly=True, default=1)
    sequence = fields.Integer(readonly=True)
    code = fields.Char(readonly=True)
    # Copied from the template in every installed language: each reader sees
    # the step in theirs, and a later edit of the template leaves history be.
    name = fields.Char(required=True, readonly=True, translate=True)
    instructions = fields.Text(readonly=True, translate=True)
    mode = fields.Selection(
        [("manual", "Manual"), ("automated", "Automated")],
        required=True,
        readonly=True,
    )
    operation_kind = fields.Selection(operation_kinds.selection(), readonly=True)
    module = fields.Char(
        readonly=True, help="The module an item about one module's tests is for."
    )
    environment_id = fields.Many2one("deployment.environment", readonly=True)
    mandatory = fields.Boolean(readonly=True)
    requirement = fields.Selection(REQUIREMENTS, readonly=True)
    responsible_group_id = fields.Many2one("res.groups", readonly=True)
    responsible_user_id = fields.Many2one("res.users")
    state = fields.Selection(ITEM_STATES, default="todo", required=True, readonly=True)
    operation_id = fields.Many2one(
        "deployment.operation", readonly=True, ondelete="set null"
    )
    operation_ids = fields.Many2many(
        "deployment.operation",
        string="Every run",
        readonly=True,
        help="Each operation run for this item, retries included.",
    )
    progress = fields.Float(related="operation_id.progress")
    progress_message = fields.Char(related="operation_id.progress_message")
    reason = fields.Text(
        readonly=True, help="Why the item failed, as its operation or check said."
    )
    comment = fields.Text()
    evidence_ids = fields.Many2many("ir.attachment", string="Evidence")
    done_by_id = fields.Many2one("res.users", readonly=True)
    done_at = fields.Datetime(readonly=True)
    waiver_reason = fields.Text(readonly=True)
    waived_by_id = fields.Many2one("res.users", readonly=True)
    waived_at = fields.Datetime(readonly=True)
    current = fields.Boolean(
        compute="_compute_current",
        store=True,
        help="Of the plan's current phase and iteration.",
    )

    def write(self, vals):
        # People comment, attach evidence and name a responsible; everything
        # else (state, operation, waiver) goes through the item's methods,
        # which check who may and the gates.
        if not self.env.su and set(vals) - {
            "comment",
            "evidence_ids",
            "responsible_user_id",
        }:
            raise AccessError(
                _("A checklist item changes through its buttons (Run, Done, Waive).")
            )
        return super().write(vals)

    @api.depends("phase")
    def _compute_phase_sequence(self):
        order = [code for code, _label in PHASES]
        for item in self:
            item.phase_sequence = order.index(item.phase) if item.phase else 0

    @api.depends("plan_id.state", "plan_id.iteration", "phase", "iteration", "active")
    def _compute_current(self):
        for item in self:
            item.current = (
                item.active
                and item.iteration == item.plan_id.iteration
                and item.phase == item.plan_id.phase
            )

    def _state_label(self):
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    def display_name_with_code(self):
        self.ensure_one()
        return f"{self.code} {self.name}" if self.code else self.name

    # ------------------------------------------------------------------
    # Manual items
    # ------------------------------------------------------------------
    def _check_may_confirm(self):
        user = self.env.user
        for item in self:
            if user.has_group(MANAGER_GROUP):
                continue
            if item.responsible_user_id and item.responsible_user_id == user:
                continue
            if item.responsible_group_id and user in item.responsible_group_id.users:
                continue
            if (
                not item.responsible_user_id
                and not item.responsible_group_id
                and user.has_group("deployment_manager.group_deployment_deployer")
            ):
                continue
            raise AccessError(
                _(
                    "%(item)s is confirmed by its responsible (%(who)s) or a "
                    "deployment manager.",
                    item=item.display_name_with_code(),
                    who=item.responsible_user_id.name
                    or item.responsible_group_id.full_name
                    or _("deployers"),
                )
            )

    def action_confirm(self, comment=None):
        """A person says a manual step is done (with an optional comment)."""
        self._check_may_confirm()
        for item in self:
            item._check_open()
            if item.mode != "manual":
                raise UserError(
                    _(
                        "%s is done by its operation: run it.",
                        item.display_name_with_code(),
                    )
                )
            missing = item._requirement_problem()
            if missing:
                raise UserError(missing)
            values = {
                "state": "done",
                "done_by_id": self.env.user.id,
                "done_at": fields.Datetime.now(),
                "reason": False,
            }
            if comment:
                values["comment"] = comment
            item.sudo().write(values)
            item.plan_id._log_item(item, _("done"), comment or item.comment)
            item.plan_id._maybe_finish_day()
        return True

    def action_reopen(self):
        """Put a done or waived manual item back to do (its plan still in its phase)."""
        self._check_may_confirm()
        for item in self:
            item._check_open(allow_done=True)
            item.sudo().write({"state": "todo", "done_by_id": False, "done_at": False})
        return True

    def action_waive(self, reason):
        """A manager waives a mandatory item, saying why; recorded on the plan."""
        if not self.env.user.has_group(MANAGER_GROUP):
            raise AccessError(_("Only deployment managers waive a checklist item."))
        if not (reason or "").strip():
            raise UserError(_("Say why the item is waived."))
        for item in self:
            item._check_open()
            item.sudo().write(
                {
                    "state": "waived",
                    "waiver_reason": reason.strip(),
                    "waived_by_id": self.env.user.id,
                    "waived_at": fields.Datetime.now(),
                }
            )
            item.plan_id._log_item(item, _("waived"), reason.strip())
        return True

    def action_open_reason(self):
        """The form asking why an item is waived."""
        return self.plan_id._reason_wizard("waive_item", item=self)

    def _check_open(self, allow_done=False):
        """Only items of the plan's current phase and iteration change."""
        self.ensure_one()
        if not self.current:
            raise UserError(
                _(
                    "%s belongs to another phase or an earlier iteration: it is "
                    "kept as history.",
                    self.display_name_with_code(),
                )
            )
        if not allow_done and self.state in SATISFIED:
            raise UserError(
                _(
                    "%(item)s is already %(state)s.",
                    item=self.display_name_with_code(),
                    state=self._state_label(),
                )
            )

    # ------------------------------------------------------------------
    # Automated items
    # ------------------------------------------------------------------
    def action_run(self):
        """Start the item's operation; the item ends with it."""
        self.ensure_one()
        operation = self._start()
        return operation._action_open()

    def _start(self, depends_on=None, scheduled_at=None):
        self.ensure_one()
        self._check_open()
        if self.mode != "automated":
            raise UserError(
                _("%s is confirmed by a person.", self.display_name_with_code())
            )
        if self.state == "running":
            raise UserError(_("%s is already running.", self.display_name_with_code()))
        if not self.environment_id:
            raise UserError(
                _(
                    "%s runs on an environment the plan does not name: set it on "
                    "the plan.",
                    self.display_name_with_code(),
                )
            )
        params = self.plan_id._operation_params(self)
        operation = (
            self.env["deployment.operation"]
            .with_context(deployment_plan_id=self.plan_id.id)
            ._enqueue(
                self.operation_kind,
                environment=self.environment_id,
                params=params,
                depends_on=depends_on,
                scheduled_at=scheduled_at,
            )
        )
        self.sudo().write(
            {
                "state": "running",
                "operation_id": operation.id,
                "operation_ids": [(4, operation.id)],
                "reason": False,
            }
        )
        return operation

    def _operation_ended(self, operation):
        """The item's operation (or its follow-up) ended: the item says how."""
        for item in self.sudo():
            if operation.state == "done" and operation.kind != "rollback":
                problem = item._requirement_problem()
                if problem:
                    item.write({"state": "failed", "reason": problem})
                else:
                    item.write(
                        {
                            "state": "done",
                            "done_at": fields.Datetime.now(),
                            "done_by_id": operation.requested_by_id.id,
                            "reason": False,
                        }
                    )
            elif operation.state == "cancelled" and (
                operation.error_reason == "dependency"
            ):
                # Never started: the step is still to do once its cause is fixed.
                item.write(
                    {
                        "state": "todo",
                        "operation_id": False,
                        "reason": operation.error_message,
                    }
                )
            else:
                item.write(
                    {
                        "state": "failed",
                        "reason": operation.error_message
                        or operation.result_summary
                        or operation._state_label(),
                    }
                )
            item.plan_id._item_ended(item, operation)

    def action_recheck(self):
        """Check a failed item's requirement again (after a waiver of its failures)."""
        for item in self:
            item._check_open()
            if item.state != "failed" or not item.operation_id:
                continue
            if item.operation_id.state == "done":
                item._operation_ended(item.operation_id)
        return True

    # ------------------------------------------------------------------
    # Requirements (what the gates check beyond "done")
    # ------------------------------------------------------------------
    def _requirement_problem(self):
        """Why the item's requirement is not met, or False."""
        self.ensure_one()
        check = getattr(self.plan_id, f"_requirement_{self.requirement}", None)
        if not self.requirement or check is None:
            return False
        return check(self)

    def action_open_operation(self):
        self.ensure_one()
        return self.operation_id._action_open()
