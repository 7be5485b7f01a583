# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The operation record: what was asked, by whom, on what, and how it ended.

Requests (access checks, scheduling, chaining), cancellation and the guided
failure's decisions live here; running queued operations is the runner's
(deployment_operation_runner.py), the journal of steps and commands the
journal's (operation_journal.py), and what each kind does its own module in
operation_kinds/.
"""

import json

import odoo.modules.module
from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from .. import operation_kinds
from ..operation_kinds import access
from .deployment_host import MANAGER_GROUP

USER_GROUP = "deployment_manager.group_deployment_user"
DEPLOYER_GROUP = "deployment_manager.group_deployment_deployer"

STATES = [
    ("queued", "Queued"),
    ("running", "Running"),
    ("done", "Done"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
    ("interrupted", "Interrupted"),
]
ACTIVE_STATES = ("queued", "running")
ENDED_BADLY = ("failed", "cancelled", "interrupted")
PRIORITIES = [("0", "Normal"), ("1", "Urgent")]
DEPENDENCY_OUTCOMES = [
    ("done", "Succeeded"),
    ("ended", "Ended, whatever the outcome"),
]
DECISIONS = [
    ("pending", "Waiting for a decision"),
    ("rolled_back", "Rolled back"),
    ("ignored", "Ignored"),
    ("retried", "Retried"),
]

# The version of what ``deployment_state`` holds: a worker taking an
# operation up refuses a state written by another version rather than
# guessing at it.
STATE_VERSION = 1


class DeploymentOperation(models.Model):
    """One action on a server, run in the background and journaled command by command.

    Operations are written by the system only: users request them through
    the action methods of hosts and environments, and may cancel them.
    """

    _name = "deployment.operation"
    _description = "Deployment Operation"
    _order = "id desc"

    name = fields.Char(readonly=True, default="/", copy=False)
    kind = fields.Selection(operation_kinds.selection(), required=True, readonly=True)
    environment_id = fields.Many2one(
        "deployment.environment", readonly=True, index=True, ondelete="cascade"
    )
    host_id = fields.Many2one(
        "deployment.host", required=True, readonly=True, index=True, ondelete="cascade"
    )
    environment_type = fields.Selection(related="environment_id.environment_type")
    backup_id = fields.Many2one(
        "deployment.backup", string="Backup", readonly=True, ondelete="set null"
    )
    params = fields.Json(readonly=True, help="What the operation was asked to do.")
    downtime = fields.Float(
        readonly=True,
        help="Seconds from stopping Odoo to Odoo answering its health check.",
    )
    rollback_data = fields.Json(
        readonly=True, help="The rollback point of a deployment."
    )
    deployment_state = fields.Json(
        readonly=True,
        help="Where a deployment, restore or replication stands, saved at each "
        "step: a worker taking it up again after a restart goes on from there.",
    )
    decision = fields.Selection(
        DECISIONS,
        readonly=True,
        help="Guided failure: what a manager decided about this failed deployment.",
    )
    decision_reason = fields.Text(readonly=True)
    decided_by_id = fields.Many2one("res.users", readonly=True)
    follow_up_id = fields.Many2one(
        "deployment.operation", string="Follow-up", readonly=True, ondelete="set null"
    )
    company_id = fields.Many2one("res.company", readonly=True)
    requested_by_id = fields.Many2one(
        "res.users", readonly=True, default=lambda self: self.env.user
    )
    state = fields.Selection(
        STATES, default="queued", required=True, readonly=True, index=True
    )
    progress = fields.Float(readonly=True, help="Percent done.")
    progress_message = fields.Char(readonly=True)
    started_at = fields.Datetime(readonly=True)
    finished_at = fields.Datetime(readonly=True)
    duration = fields.Float(compute="_compute_duration", help="Seconds.")
    heartbeat_at = fields.Datetime(
        readonly=True, help="Last sign of life of the worker running it."
    )
    worker = fields.Char(
        readonly=True, help="Host and process id of the worker running it."
    )
    attempt = fields.Integer(
        readonly=True, default=0, help="How many workers have taken it up."
    )
    cancel_requested = fields.Boolean(readonly=True)
    result_summary = fields.Text(readonly=True)
    result_data = fields.Json(readonly=True)
    # XML-RPC cannot carry a null (Odoo marshals with allow_none=False) and
    # results hold some: the same data as text, for any client.
    result_json = fields.Text(
        string="Result (JSON)",
        compute="_compute_result_json",
        help="The operation's result as JSON text, for the external API.",
    )
    error_reason = fields.Char(
        readonly=True, help="A short code: dns, refused, auth, host_key_changed, …"
    )
    error_message = fields.Text(readonly=True)
    step_ids = fields.One2many(
        "deployment.operation.step", "operation_id", readonly=True
    )
    command_ids = fields.One2many(
        "deployment.operation.command", "operation_id", readonly=True
    )
    command_count = fields.Integer(compute="_compute_command_count")
    scheduled_at = fields.Datetime(
        string="Not before",
        readonly=True,
        index=True,
        help="The operation does not start before this time.",
    )
    priority = fields.Selection(
        PRIORITIES,
        default="0",
        required=True,
        readonly=True,
        help="Urgent operations are taken before normal ones when workers are few.",
    )
    depends_on_id = fields.Many2one(
        "deployment.operation",
        string="After",
        readonly=True,
        index=True,
        ondelete="set null",
        help="The operation starts only once this one ended as required; if it "
        "did not, this one is cancelled with that reason.",
    )
    depends_on_outcome = fields.Selection(
        DEPENDENCY_OUTCOMES,
        string="Starts when it",
        default="done",
        required=True,
        readonly=True,
    )
    dependent_ids = fields.One2many(
        "deployment.operation", "depends_on_id", string="Next", readonly=True
    )

    def init(self):
        # One running operation per environment (host operations: per host),
        # guaranteed by the database even between two workers that race each
        # other; several may wait their turn (scheduled, chained).
        self.env.cr.execute(
            "DROP INDEX IF EXISTS deployment_operation_one_active_per_target"
        )
        self.env.cr.execute(
            """
            CREATE UNIQUE INDEX IF NOT EXISTS deployment_operation_one_running
            ON deployment_operation (
                COALESCE(environment_id, 0),
                (CASE WHEN environment_id IS NULL THEN host_id ELSE 0 END)
            ) WHERE state = 'running'
            """
        )

    @api.depends("started_at", "finished_at")
    def _compute_duration(self):
        now = fields.Datetime.now()
        for op in self:
            if op.started_at:
                op.duration = ((op.finished_at or now) - op.started_at).total_seconds()
            else:
                op.duration = 0.0

    def _compute_command_count(self):
        for op in self:
            op.command_count = len(op.command_ids)

    # ------------------------------------------------------------------
    # Immutability: the journal is the system's
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            raise AccessError(
                _("Operations are created by the deployment manager itself.")
            )
        for vals in vals_list:
            if vals.get("name", "/") == "/":
                vals["name"] = (
                    self.env["ir.sequence"].next_by_code("deployment.operation") or "/"
                )
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            raise AccessError(
                _("Operations cannot be edited: they are the journal of what was done.")
            )
        return super().write(vals)

    def unlink(self):
        if not self.env.su:
            # The journal must stay: refusing deletion is the point of this override.
            raise AccessError(  # pylint: disable=no-raise-unlink
                _(
                    "Operations cannot be deleted: "
                    "they are the journal of what was done."
                )
            )
        return super().unlink()

    # ------------------------------------------------------------------
    # Requests
    # ------------------------------------------------------------------
    @api.model
    def _request(self, kind, host=None, environment=None, backup=None, params=None):
        """Queue an operation after checking who asks; return an action showing it.

        What the buttons call; Python code that goes on with the record
        (chains, schedules) calls ``_enqueue``.
        """
        return self._enqueue(
            kind, host=host, environment=environment, backup=backup, params=params
        )._action_open()

    @api.model
    def _enqueue(
        self,
        kind,
        host=None,
        environment=None,
        backup=None,
        params=None,
        *,
        scheduled_at=None,
        depends_on=None,
        depends_on_outcome="done",
        priority="0",
    ):
        """Queue an operation after checking who asks; return the operation.

        ``scheduled_at``: not started before that time. ``depends_on``: started
        only once that operation ended as ``depends_on_outcome`` says
        ("done": succeeded; "ended": whatever the outcome); if it did not, this
        one ends cancelled with that reason. Without either, a target that
        already has an operation running or waiting to run now refuses the
        request, saying what it is busy with.
        """
        definition = self._kind_definition(kind)
        host = host or environment.host_id
        environment = environment or self.env["deployment.environment"]
        if definition.target == operation_kinds.HOST and environment:
            raise UserError(
                _(
                    "%(kind)s works on a host, not an environment.",
                    kind=self._kind_labels()[kind],
                )
            )
        if definition.target != operation_kinds.HOST and not environment:
            raise UserError(
                _(
                    "%(kind)s works on an environment, not a host.",
                    kind=self._kind_labels()[kind],
                )
            )
        self._check_may_run(kind, host, environment)
        try:
            stored_params = definition.normalize_params(params)
        except ValueError as error:
            raise UserError(
                _(
                    "The parameters of %(kind)s are not valid: %(error)s",
                    kind=self._kind_labels()[kind],
                    error=error,
                )
            ) from None
        if depends_on:
            depends_on._check_may_be_followed(depends_on_outcome)
        elif not scheduled_at:
            busy = self.sudo().search(
                self._target_domain(host, environment) + self._due_now_domain(),
                limit=1,
            )
            if busy:
                raise UserError(busy._busy_message())
        operation = self.sudo().create(
            {
                "kind": kind,
                "host_id": host.id,
                "environment_id": environment.id,
                "company_id": (environment.company_id or host.company_id).id,
                "requested_by_id": self.env.user.id,
                "backup_id": backup.id if backup else False,
                "params": stored_params,
                "scheduled_at": scheduled_at or False,
                "depends_on_id": depends_on.id if depends_on else False,
                "depends_on_outcome": depends_on_outcome,
                "priority": priority,
                "progress_message": self._waiting_message(scheduled_at, depends_on),
            }
        )
        self._trigger_runners(scheduled_at)
        return operation.with_env(self.env)

    @api.model
    def _waiting_message(self, scheduled_at=None, depends_on=None):
        if depends_on:
            return _("Waiting for %s to end", depends_on.name)
        if scheduled_at:
            return _(
                "Scheduled for %s",
                fields.Datetime.to_string(
                    fields.Datetime.context_timestamp(self, scheduled_at)
                ),
            )
        return _("Waiting for a worker")

    @api.model
    def _target_domain(self, host, environment):
        if environment:
            return [("environment_id", "=", environment.id)]
        return [("host_id", "=", host.id), ("environment_id", "=", False)]

    @api.model
    def _due_now_domain(self):
        """Operations running, or queued to run as soon as a worker is free."""
        return [
            "|",
            ("state", "=", "running"),
            "&",
            "&",
            ("state", "=", "queued"),
            ("depends_on_id", "=", False),
            "|",
            ("scheduled_at", "=", False),
            ("scheduled_at", "<=", fields.Datetime.now()),
        ]

    def _check_may_be_followed(self, outcome):
        """Refuse to chain after an operation that already ended otherwise."""
        self.ensure_one()
        if outcome == "done" and self.state in ENDED_BADLY:
            raise UserError(
                _(
                    "Operation %(name)s already ended %(state)s: nothing can wait "
                    "for it to succeed.",
                    name=self.name,
                    state=self._state_label(),
                )
            )

    @api.model
    def _kind_definition(self, kind):
        try:
            return operation_kinds.get(kind)
        except KeyError:
            raise UserError(_("Unknown operation kind: %s", kind)) from None

    def _kind(self):
        """This operation's kind (operation_kinds)."""
        return operation_kinds.get(self.kind)

    @api.depends("result_data")
    def _compute_result_json(self):
        for operation in self:
            operation.result_json = (
                json.dumps(operation.result_data, sort_keys=True)
                if operation.result_data
                else False
            )

    def _result(self):
        """The stored result of this done operation, typed by its kind
        (ops/results.py), or its JSON for a kind whose result is not typed."""
        self.ensure_one()
        return self._kind().result(self)

    @api.model
    def _trigger_runners(self, at=None, just_one=False):
        """Wake the runners (the cron jobs calling ``_cron_run_operations``).

        Each runner runs one operation at a time; Odoo gives each a cron
        worker when one is free, on any manager server sharing this database.
        ``just_one``: a single runner is enough (a later look at orphans).
        """
        runners = (
            self.env["ir.cron"]
            .sudo()
            .search(
                [
                    ("model_id.model", "=", self._name),
                    ("code", "ilike", "_cron_run_operations"),
                ],
                limit=1 if just_one else None,
            )
        )
        # Once per transaction and moment: fifty requests in one go (a
        # scheduled round of log checks) wake the runners once, not fifty
        # times each. The cron's precision is a minute.
        moment = at.replace(second=0, microsecond=0) if at else None
        triggered = self.env.cr.precommit.data.setdefault(
            "deployment_manager.triggered", set()
        )
        if (moment, just_one) in triggered or (moment, False) in triggered:
            return
        triggered.add((moment, just_one))
        for runner in runners:
            runner._trigger(at)

    def _state_label(self, state=None):
        """The label of ``state`` (the operation's own by default), translated."""
        labels = dict(self._fields["state"]._description_selection(self.env))
        return labels[state or self.state]

    def _busy_message(self):
        target = self.environment_id.display_name or self.host_id.display_name
        return _(
            "%(target)s is busy: operation %(name)s (%(kind)s) is %(state)s "
            "since %(since)s, requested by %(user)s. Wait for it to end or cancel it.",
            target=target,
            name=self.name,
            kind=dict(self._fields["kind"]._description_selection(self.env))[self.kind],
            state=dict(self._fields["state"]._description_selection(self.env))[
                self.state
            ],
            since=fields.Datetime.to_string(self.started_at or self.create_date),
            user=self.requested_by_id.name,
        )

    @api.model
    def _user_level(self):
        """The caller's deployment level (see operation_access), or None."""
        user = self.env.user
        for level, group in (
            (access.MANAGER, MANAGER_GROUP),
            (access.DEPLOYER, DEPLOYER_GROUP),
            (access.USER, USER_GROUP),
        ):
            if user.has_group(group):
                return level
        return None

    @api.model
    def _check_may_run(self, kind, host, environment):
        """Refuse, saying why, an operation the caller may not run on that target."""
        level = self._user_level()
        if not level:
            raise AccessError(_("You are not allowed to run deployment operations."))
        target = environment.display_name or host.display_name
        required = self._kind_definition(kind).required_level(
            environment.environment_type or None
        )
        if not access.has_level(level, required):
            if environment.environment_type in access.PRODUCTION_DATA_TYPES:
                raise AccessError(
                    _(
                        "Only deployment managers may run this operation on %s: "
                        "it holds production's data.",
                        target,
                    )
                )
            if required == access.DEPLOYER:
                raise AccessError(
                    _(
                        "Only deployers and managers may run %(kind)s on %(target)s: "
                        "it runs code a person supplies.",
                        kind=self._kind_labels()[kind],
                        target=target,
                    )
                )
            raise AccessError(
                _("Only deployment managers may run this operation on %s.", target)
            )
        refusal = access.host_refusal(
            level, host.kind == "local", host.sudo()._carries_production_data()
        )
        if refusal == "local":
            raise AccessError(
                _(
                    "Only deployment managers may run operations on %(host)s: it is "
                    "the manager's own machine, where commands run as the manager's "
                    "own system user, next to every stored key.",
                    host=host.display_name,
                )
            )
        if refusal == "shares_production":
            raise AccessError(
                _(
                    "Only deployment managers may run operations on %(host)s: it "
                    "also carries a production or recovery-site environment, whose "
                    "data anything run there could reach. Give %(target)s a host of "
                    "its own to let deployers and users work on it.",
                    host=host.display_name,
                    target=target,
                )
            )
        # Reading the target through the user's own rights (record rules, companies).
        (environment or host).check_access("read")

    @api.model
    def _kind_labels(self):
        return dict(self._fields["kind"]._description_selection(self.env))

    def _kind_label(self):
        return dict(self._fields["kind"]._description_selection(self.env))[self.kind]

    def _target(self):
        return (self.environment_id or self.host_id).sudo()

    def _notify(self, subtype_xmlid, body):
        self._target().message_post(body=body, subtype_xmlid=subtype_xmlid)

    def _action_open(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "current",
        }

    def action_cancel(self):
        """Cancel a queued operation, or ask a running one to stop.

        A running operation's command is killed; operations chained after a
        cancelled one are cancelled with it.
        """
        for op in self:
            op._check_may_run(op.kind, op.host_id, op.environment_id)
            if op.state == "queued":
                op.sudo().write(
                    {
                        "state": "cancelled",
                        "finished_at": fields.Datetime.now(),
                        "progress_message": _("Cancelled by %s", self.env.user.name),
                    }
                )
            elif op.state == "running":
                op.sudo().write({"cancel_requested": True})
            else:
                raise UserError(_("Operation %s has already ended.", op.name))
        self.sudo()._cancel_broken_chains()
        return True

    def action_refresh(self):
        """Nothing to do: the client reloads the record (used by the progress view)."""
        return True

    # ------------------------------------------------------------------
    # Where a long operation stands, saved at each step
    # ------------------------------------------------------------------
    def _commit(self):
        """Make what happened so far visible to everyone.

        Inside the test runner the whole test is one transaction, so this
        only flushes: the same unit of work then runs in a test unchanged.
        """
        self.env.flush_all()
        if not odoo.modules.module.current_test:
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _save_state(self, state):
        """Keep where the operation stands (versioned), committed at once."""
        self.deployment_state = {
            "version": STATE_VERSION,
            "state": self._jsonable(state),
        }
        self._commit()

    def _saved_state(self):
        """The state the operation saved, or None; refused if of another version."""
        saved = self.deployment_state
        if not saved:
            return None
        if saved.get("version") != STATE_VERSION or "state" not in saved:
            raise UserError(
                _(
                    "Operation %(name)s saved where it stood in another format "
                    "(version %(version)s): this manager cannot go on with it. "
                    "Check the environment and start a new operation.",
                    name=self.name,
                    version=saved.get("version", "?"),
                )
            )
        return saved["state"]

    def _resumable(self, function, journal, *args, **kwargs):
        """Run an ops function that hands over where it stands (restore,
        replication): kept in ``deployment_state``, it is given back to the
        function when a worker takes the operation up after a restart."""
        return function(
            journal,
            *args,
            on_state=self._save_state,
            resume_state=self._saved_state(),
            **kwargs,
        )

    def _stamp(self):
        """This operation's own time stamp: a worker taking it up again after a
        restart names what it makes the same way, and re-attaches to it."""
        return self.started_at.strftime("%Y%m%d%H%M%S")

    @api.model
    def _jsonable(self, value):
        if isinstance(value, dict):
            return {str(k): self._jsonable(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._jsonable(v) for v in value]
        if isinstance(value, str | int | float | bool) or value is None:
            return value
        return str(value)

    # ------------------------------------------------------------------
    # Guided failure: a manager decides about a failed deployment
    # ------------------------------------------------------------------
    def _check_decision(self):
        self.ensure_one()
        if not self.env.user.has_group(MANAGER_GROUP):
            raise AccessError(
                _("Only deployment managers decide about a failed deployment.")
            )
        if self.kind != "deployment_run" or self.decision != "pending":
            raise UserError(_("Operation %s waits for no decision.", self.name))

    def _decide(self, decision, reason=False, follow_up=None):
        self.sudo().write(
            {
                "decision": decision,
                "decision_reason": reason,
                "decided_by_id": self.env.user.id,
                "follow_up_id": follow_up.id if follow_up else False,
            }
        )

    def action_rollback(self):
        """Guided failure: roll the failed deployment back to its rollback point."""
        self._check_decision()
        follow_up = self._enqueue(
            "rollback",
            environment=self.environment_id,
            params={"operation_id": self.id},
        )
        self._decide("rolled_back", follow_up=follow_up)
        return follow_up._action_open()

    def action_retry(self):
        """Guided failure: run the failed step again, then go on."""
        self._check_decision()
        follow_up = self._enqueue(
            "deployment_resume",
            environment=self.environment_id,
            params={"operation_id": self.id, "action": "retry"},
        )
        self._decide("retried", follow_up=follow_up)
        return follow_up._action_open()

    def action_ignore(self):
        """Guided failure: a manager says why the failure is ignored."""
        self._check_decision()
        return {
            "type": "ir.actions.act_window",
            "res_model": "deployment.ignore.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_operation_id": self.id},
        }

    def _decide_ignore(self, reason):
        self._check_decision()
        follow_up = self._enqueue(
            "deployment_resume",
            environment=self.environment_id,
            params={"operation_id": self.id, "action": "ignore", "reason": reason},
        )
        self._decide("ignored", reason=reason, follow_up=follow_up)
        action = follow_up._action_open()
        self._target().message_post(
            body=_(
                "The failure of %(name)s was ignored by %(user)s: %(reason)s",
                name=self.name,
                user=self.env.user.name,
                reason=reason,
            ),
            subtype_xmlid="deployment_manager.mt_operation_failed",
        )
        return action
