# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import contextlib
import logging
import os
import socket
import threading
import time
import traceback
from datetime import timedelta
from secrets import token_hex

import psycopg2
import psycopg2.errors

import odoo.modules.module
from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from .. import ops
from ..ops.context import Cancelled, OperationContext, OperationFailed
from ..remote import (
    ConnectionLost,
    HostKeyChanged,
    HostKeyUnknown,
    RemoteError,
    cancel_detached,
    start_detached,
    validate_path,
    wait_detached,
)
from . import operation_access as access
from .deployment_host import MANAGER_GROUP

_logger = logging.getLogger(__name__)

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

KINDS = [
    ("fetch_host_key", "Fetch host key"),
    ("test_connection", "Test connection"),
    ("discover", "Discover"),
    ("service_status", "Service status"),
    ("backup", "Backup"),
    ("verify_backup", "Verify backup"),
    ("restore", "Restore"),
    ("delete_backup", "Delete backup"),
    ("log_check", "Log check"),
    ("deployment_run", "Deployment"),
    ("rollback", "Rollback"),
    ("deployment_resume", "Deployment (decision)"),
    ("replicate", "Replicate production"),
    ("drift_report", "Configuration drift"),
    ("apply_configuration", "Apply production's configuration"),
    ("align_modules", "Align modules with production"),
    ("module_tests", "Module tests"),
    ("drop_rollback_point", "Drop rollback point"),
    ("remove_leftovers", "Remove old leftovers"),
]
# Whose results _apply_refresh_result summarizes.
REFRESH_AND_DEPLOYMENT_KINDS = (
    "align_modules",
    "drift_report",
    "apply_configuration",
    "deployment_run",
    "deployment_resume",
    "rollback",
)
DECISIONS = [
    ("pending", "Waiting for a decision"),
    ("rolled_back", "Rolled back"),
    ("ignored", "Ignored"),
    ("retried", "Retried"),
]
# Whose failure is evidence of the environment's health.
HEALTH_EVIDENCE_KINDS = ("discover", "service_status")
# Operations on a host itself (not on one of its environments).
HOST_KINDS = ("fetch_host_key", "test_connection", "remove_leftovers")

# Two arbitrary keys of PostgreSQL's advisory locks: the runner of an
# operation holds (namespace, operation id) for as long as it runs, so a
# lock that can be taken tells that its runner is gone.
ADVISORY_NAMESPACE = 7_341_002

# How often waiting on a detached command may reconnect after a dropped link.
RECONNECT_ATTEMPTS = 4

# Heartbeats are written at most this often, in seconds.
HEARTBEAT_INTERVAL = 5.0


class DeploymentOperation(models.Model):
    """One action on a server, run in the background and journaled command by command.

    Operations are written by the system only: users request them through
    the action methods of hosts and environments, and may cancel them.
    """

    _name = "deployment.operation"
    _description = "Deployment Operation"
    _order = "id desc"

    name = fields.Char(readonly=True, default="/", copy=False)
    kind = fields.Selection(KINDS, required=True, readonly=True)
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

    def init(self):
        # One queued-or-running operation per environment (host operations:
        # per host), guaranteed by the database even between two requests
        # that race each other.
        self.env.cr.execute(
            """
            CREATE UNIQUE INDEX IF NOT EXISTS deployment_operation_one_active_per_target
            ON deployment_operation (
                COALESCE(environment_id, 0),
                (CASE WHEN environment_id IS NULL THEN host_id ELSE 0 END)
            ) WHERE state IN ('queued', 'running')
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
        """Queue an operation after checking who asks; return an action showing it."""
        host = host or environment.host_id
        environment = environment or self.env["deployment.environment"]
        self._check_may_run(kind, host, environment)
        target_domain = (
            [("environment_id", "=", environment.id)]
            if environment
            else [("host_id", "=", host.id), ("environment_id", "=", False)]
        )
        busy = self.sudo().search(
            target_domain + [("state", "in", ACTIVE_STATES)], limit=1
        )
        if busy:
            raise UserError(busy._busy_message())
        try:
            with self.env.cr.savepoint():
                operation = self.sudo().create(
                    {
                        "kind": kind,
                        "host_id": host.id,
                        "environment_id": environment.id,
                        "company_id": (environment.company_id or host.company_id).id,
                        "requested_by_id": self.env.user.id,
                        "backup_id": backup.id if backup else False,
                        "params": params or False,
                        "progress_message": _("Waiting for a worker"),
                    }
                )
                self.env.flush_all()
        except psycopg2.errors.UniqueViolation:
            busy = self.sudo().search(
                target_domain + [("state", "in", ACTIVE_STATES)], limit=1
            )
            raise UserError(busy._busy_message()) from None
        self.env.ref("deployment_manager.ir_cron_run_operations").sudo()._trigger()
        return operation._action_open()

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
        required = access.required_level(kind, environment.environment_type or None)
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

        A running operation's command is killed.
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
        return True

    def action_refresh(self):
        """Nothing to do: the client reloads the record (used by the progress view)."""
        return True

    # ------------------------------------------------------------------
    # The background runner
    # ------------------------------------------------------------------
    @api.model
    def _cron_run_operations(self):
        """Cron entry point: reconcile orphans, then run queued operations in turn."""
        self._reconcile_orphans()
        done = 0
        while True:
            operation = self._claim_next()
            if not operation:
                break
            operation._execute()
            done += 1
            remaining = self.sudo().search_count([("state", "=", "queued")])
            self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)

    def _commit(self):
        """Make what happened so far visible to everyone.

        Inside the test runner the whole test is one transaction, so this
        only flushes: the same unit of work then runs in a test unchanged.
        """
        self.env.flush_all()
        if not odoo.modules.module.current_test:
            self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _claim_next(self):
        """Take the oldest queued operation no other worker is taking, and start it."""
        self.env.cr.execute(
            """
            SELECT id FROM deployment_operation
             WHERE state = 'queued'
             ORDER BY id
             LIMIT 1
             FOR UPDATE SKIP LOCKED
            """
        )
        row = self.env.cr.fetchone()
        if not row:
            return self.browse()
        operation = self.sudo().browse(row[0])._in_requester_language()
        operation._take_over()
        operation.write({"started_at": fields.Datetime.now()})
        self._commit()
        return operation

    def _in_requester_language(self):
        """Steps, results and messages are written in the language of who asked."""
        return self.with_context(lang=self.requested_by_id.lang or "en_US")

    def _take_over(self):
        """Mark this worker as the one running the operation; hold its advisory lock."""
        self.env.cr.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (ADVISORY_NAMESPACE, self.id)
        )
        if not self.env.cr.fetchone()[0]:
            raise UserError(_("Operation %s is held by another worker.", self.name))
        self.write(
            {
                "state": "running",
                "heartbeat_at": fields.Datetime.now(),
                "worker": f"{socket.gethostname()}:{os.getpid()}",
                "attempt": self.attempt + 1,
                "progress_message": _("Starting"),
            }
        )

    def _release(self):
        with contextlib.suppress(psycopg2.Error):
            self.env.cr.execute(
                "SELECT pg_advisory_unlock(%s, %s)", (ADVISORY_NAMESPACE, self.id)
            )

    def _execute(self):
        """Run the operation to its end; every outcome is recorded, none escapes."""
        self.ensure_one()
        journal = OperationJournal(self)
        try:
            result = self._dispatch(journal)
        except Exception as error:  # noqa: BLE001 - every failure must be recorded
            self._record_failure(journal, error)
        else:
            self._record_success(journal, result)
        finally:
            journal.close()
            self._release()
            self._commit()

    def _dispatch(self, journal):
        handler = getattr(self, f"_run_{self.kind}")
        return handler(journal)

    def _record_success(self, journal, result):
        if journal.cancel_honoured():
            self.write(
                {
                    "state": "cancelled",
                    "finished_at": fields.Datetime.now(),
                    "progress_message": _("Cancelled"),
                }
            )
            return
        summary = self._apply_result(result)
        self.write(
            {
                "state": "done",
                "progress": 100.0,
                "progress_message": _("Done"),
                "finished_at": fields.Datetime.now(),
                "result_summary": summary,
                "result_data": _jsonable(result),
            }
        )
        self._notify(
            "deployment_manager.mt_operation_done",
            _(
                "%(kind)s %(name)s done: %(summary)s",
                kind=self._kind_label(),
                name=self.name,
                summary=summary,
            ),
        )

    def _record_failure(self, journal, error):
        if not odoo.modules.module.current_test:
            # Whatever the failure left half-written is dropped; the journal
            # up to the last heartbeat is already committed.
            with contextlib.suppress(psycopg2.Error):
                self.env.cr.rollback()
        journal.fail_open_step()
        cancelled = journal.cancel_honoured()
        if isinstance(error, RemoteError):
            reason, message = error.reason, self._describe_remote_error(error)
        elif isinstance(error, OperationFailed | UserError):
            reason, message = "failed", str(error.args[0] if error.args else error)
        else:
            reason, message = "internal", _("Unexpected error: %s", error)
            _logger.info(
                "Operation %s failed unexpectedly:\n%s",
                self.name,
                traceback.format_exc(),
            )
        self.write(
            {
                "state": "cancelled" if cancelled else "failed",
                "finished_at": fields.Datetime.now(),
                "error_reason": "cancelled" if cancelled else reason,
                "error_message": message,
                "progress_message": _("Cancelled") if cancelled else _("Failed"),
            }
        )
        self._apply_failure(reason, message, cancelled=cancelled)
        if cancelled:
            return
        self._notify(
            "deployment_manager.mt_operation_failed",
            _(
                "%(kind)s %(name)s failed: %(message)s",
                kind=self._kind_label(),
                name=self.name,
                message=message,
            ),
        )
        target = self._target()
        target.activity_schedule(
            "mail.mail_activity_data_todo",
            user_id=self.requested_by_id.id,
            summary=_("Operation %s failed", self.name),
            note=message,
        )

    def _describe_remote_error(self, error):
        """The core's error, in the requester's language where we know its shape."""
        host = self.host_id.display_name
        if isinstance(error, HostKeyChanged):
            return _(
                "The host key of %(host)s has changed: the pinned key is %(expected)s "
                "but the server presented %(presented)s. The connection was refused; "
                "if the change is legitimate (the server was reinstalled), "
                "fetch and pin the new key.",
                host=host,
                expected=error.expected_fingerprint,
                presented=error.presented_fingerprint,
            )
        if isinstance(error, HostKeyUnknown):
            return _(
                "The host key of %(host)s is not pinned: the server presented "
                "a %(type)s key with fingerprint %(presented)s. "
                "Check this fingerprint on the server, then pin it.",
                host=host,
                type=error.key_type,
                presented=error.presented_fingerprint,
            )
        templates = {
            "dns": _("The address of %(host)s cannot be resolved (DNS)."),
            "refused": _(
                "%(host)s refused the connection: nothing listens on that port."
            ),
            "timeout": _("%(host)s did not answer in time."),
            "auth": _(
                "%(host)s refused the authentication: "
                "check the user and the private key."
            ),
            "key": _(
                "The private key of %(host)s cannot be read: "
                "check it and its passphrase."
            ),
            "protocol": _("The SSH connection to %(host)s failed."),
            "connection_lost": _(
                "The connection to %(host)s was lost while a command was running."
            ),
            "invalid_input": _("A value was refused before any command was built."),
            "work_dir_unsafe": _(
                "The work directory on %(host)s is not private to the user commands "
                "run as: nothing was run there."
            ),
            "run_dir_unsafe": _(
                "A run directory on %(host)s cannot be trusted: nothing was read "
                "from it or signalled."
            ),
            "output_too_large": _(
                "A command on %(host)s printed more than can be read in full: it "
                "was not used cut short."
            ),
            "command_failed": _("A command failed on %(host)s."),
        }
        template = templates.get(error.reason)
        if not template:
            return str(error)
        # The core's own sentence follows: it has the technical details.
        return f"{template % {'host': host}}\n{error}"

    def _target(self):
        return (self.environment_id or self.host_id).sudo()

    def _kind_label(self):
        return dict(self._fields["kind"]._description_selection(self.env))[self.kind]

    def _notify(self, subtype_xmlid, body):
        self._target().message_post(body=body, subtype_xmlid=subtype_xmlid)

    # ------------------------------------------------------------------
    # Orphans: operations whose worker died
    # ------------------------------------------------------------------
    @api.model
    def _reconcile_orphans(self):
        """Find running operations nobody runs any more and settle them.

        A worker holds the advisory lock of its operation while it runs; when
        the lock is free and the heartbeat is older than the grace period,
        the worker is gone. A detached command of the operation is then
        re-attached (and the operation finished); otherwise the operation is
        marked interrupted with the reason.
        """
        grace = int(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("deployment_manager.heartbeat_grace_seconds", 30)
        )
        now = fields.Datetime.now()
        candidates = self.sudo().search([("state", "=", "running")], order="id")
        for operation in candidates:
            if operation.heartbeat_at and operation.heartbeat_at > now - timedelta(
                seconds=grace
            ):
                # Too recent to judge: look again once the grace period is over.
                self.env.ref(
                    "deployment_manager.ir_cron_run_operations"
                ).sudo()._trigger(operation.heartbeat_at + timedelta(seconds=grace + 1))
                continue
            self.env.cr.execute(
                "SELECT pg_try_advisory_lock(%s, %s)",
                (ADVISORY_NAMESPACE, operation.id),
            )
            if not self.env.cr.fetchone()[0]:
                continue  # its worker is alive, only slow to beat
            operation._release()
            # A module test run is named by its stamp: taken up again, it
            # finds its copy and re-attaches to its commands.
            if (
                operation.deployment_state
                or operation.kind == "module_tests"
                or operation.command_ids.filtered(
                    lambda c: c.detached and c.detached_state == "running"
                )
            ):
                operation._in_requester_language()._resume()
            else:
                operation._mark_interrupted()
            self._commit()

    def _register_hook(self):
        super()._register_hook()
        # After the manager restarts, what its previous process left running
        # is settled at once rather than at the cron's next interval.
        self.env.cr.execute(
            "SELECT 1 FROM deployment_operation WHERE state = 'running' LIMIT 1"
        )
        if self.env.cr.fetchone():
            cron = self.env.ref(
                "deployment_manager.ir_cron_run_operations", raise_if_not_found=False
            )
            if cron:
                cron.sudo()._trigger()

    def _mark_interrupted(self):
        message = _(
            "The worker running this operation (%(worker)s) stopped at about %(when)s "
            "before the operation ended. Nothing was left running; start it again.",
            worker=self.worker or "?",
            when=fields.Datetime.to_string(self.heartbeat_at),
        )
        self.step_ids.filtered(lambda s: s.state == "running").write(
            {
                "state": "failed",
                "message": _("Interrupted"),
                "finished_at": fields.Datetime.now(),
            }
        )
        self.write(
            {
                "state": "interrupted",
                "finished_at": fields.Datetime.now(),
                "error_reason": "interrupted",
                "error_message": message,
                "progress_message": _("Interrupted"),
            }
        )
        self._notify(
            "deployment_manager.mt_operation_failed",
            _(
                "%(kind)s %(name)s was interrupted: %(message)s",
                kind=self._kind_label(),
                name=self.name,
                message=message,
            ),
        )

    def _resume(self):
        """Take the operation up again.

        Its detached commands are re-attached, not restarted.
        """
        self._take_over()
        self.write(
            {"progress_message": _("Re-attached after the previous worker stopped")}
        )
        self._commit()
        self._execute()

    # ------------------------------------------------------------------
    # The operations
    # ------------------------------------------------------------------
    def _run_fetch_host_key(self, journal):
        host = self.host_id.sudo()
        info = ops.fetch_host_key(
            journal, host.hostname, host.port, host.connect_timeout or 10
        )
        return {
            "key_type": info.key_type,
            "key_base64": info.key_base64,
            "fingerprint": info.fingerprint,
        }

    def _run_test_connection(self, journal):
        return ops.test_connection(journal, journal.transport())

    def _run_discover(self, journal):
        return ops.discover(journal, journal.transport(), self.environment_id._spec())

    def _run_service_status(self, journal):
        return {
            "services": ops.service_status(
                journal, journal.transport(), self.environment_id._spec()
            )
        }

    def _run_backup(self, journal):
        spec = self.environment_id._spec()
        backup = self._take_backup(journal, spec)
        self._apply_retention(journal, spec)
        return {
            "bundle": backup.bundle_dir,
            "verification": backup.manifest.get("verification"),
        }

    def _take_backup(self, journal, spec, keep=False):
        """A backup bundle of the environment (J1, J2), recorded as it is made.

        On a resumed operation the bundle started by the previous worker is
        taken up again (the ops layer completes an unfinished bundle).
        """
        environment = self.environment_id
        backup = self.backup_id
        if not backup:
            stamp = fields.Datetime.now().strftime("%Y%m%d-%H%M%S")
            slug = "".join(c if c.isalnum() else "-" for c in environment.name.lower())
            bundle_dir = (
                f"{spec.backup_dir}/{slug.strip('-') or 'env'}-{stamp}-{self.id}"
            )
            backup = (
                self.env["deployment.backup"]
                .sudo()
                .create(
                    {
                        "name": bundle_dir.rsplit("/", 1)[-1],
                        "environment_id": environment.id,
                        "operation_id": self.id,
                        "bundle_dir": bundle_dir,
                        "keep": keep,
                    }
                )
            )
            self.backup_id = backup
            self._commit()
        manifest = ops.backup_bundle(
            journal,
            journal.transport(),
            spec,
            backup.bundle_dir,
            extra_paths=environment._extra_paths(),
            meta={"requested_by": self.requested_by_id.name, "operation": self.name},
        )
        backup._apply_manifest(manifest)
        return backup

    def _apply_retention(self, journal, spec):
        backups = self.env["deployment.backup"].sudo()
        expired_backups = backups.search(
            [("environment_id", "=", self.environment_id.id)]
        )._expired()
        for expired in expired_backups:
            try:
                ops.remove_bundle(
                    journal, journal.transport(), spec, expired.bundle_dir
                )
            except OperationFailed as error:
                # The new backup is good; an old one that cannot be removed
                # is said, not a reason to fail it.
                expired.verification_message = str(error)
                continue
            expired.state = "deleted"

    def _run_verify_backup(self, journal):
        verification = ops.verify_bundle(
            journal, journal.transport(), self.backup_id.bundle_dir
        )
        self.backup_id._apply_verification(verification)
        return verification

    def _run_restore(self, journal):
        # A stamp of this operation's own: taken up again after a restart, it
        # goes on from its saved state instead of starting a second restore.
        return self._resumable(
            ops.restore_bundle,
            journal,
            journal.transport(),
            self.environment_id._spec(),
            self.backup_id.bundle_dir,
            stamp=self._stamp(),
        )

    def _resumable(self, function, journal, *args, **kwargs):
        """Run an ops function that hands over where it stands (restore,
        replication): kept in ``deployment_state``, it is given back to the
        function when a worker takes the operation up after a restart."""

        def save_state(state):
            self.deployment_state = _jsonable(state)
            self._commit()

        return function(
            journal,
            *args,
            on_state=save_state,
            resume_state=self.deployment_state or None,
            **kwargs,
        )

    def _run_delete_backup(self, journal):
        spec = self.environment_id._spec()
        ops.remove_bundle(journal, journal.transport(), spec, self.backup_id.bundle_dir)
        self.backup_id.state = "deleted"
        return {"deleted": self.backup_id.bundle_dir}

    def _run_log_check(self, journal):
        environment = self.environment_id
        spec = environment._spec()
        known = environment.log_finding_ids.mapped("signature")
        thresholds = ops.Thresholds(
            max_errors=environment.log_check_max_errors,
            max_warnings=environment.log_check_max_warnings,
        )
        return ops.check_log(
            journal,
            journal.transport(),
            spec.log_file,
            environment.log_check_position or None,
            known,
            thresholds,
        )

    # ------------------------------------------------------------------
    # Deployment run (J1–J5) and rollback
    # ------------------------------------------------------------------
    def _run_deployment_run(self, journal):
        environment = self.environment_id
        spec = environment._spec()
        params = self.params or {}
        source = dict(params.get("source") or {})
        with contextlib.ExitStack() as stack:
            if source.get("kind") == "zip":
                source["path"] = stack.enter_context(self._attachment_file(source))
            hooks = self._deployment_hooks(journal, spec, params)
            if self.deployment_state:
                # Taken up after the previous worker died: go on from its state.
                result = self._deployment_call(
                    ops.resume_deployment,
                    journal,
                    spec,
                    self.deployment_state,
                    "continue",
                    log_check=hooks["log_check"],
                )
                self._keep_rollback_point(journal, spec, result)
                return result
            result = self._deployment_call(
                ops.deployment_run,
                journal,
                spec,
                source=source,
                install=params.get("install") or (),
                upgrade=params.get("upgrade") or (),
                backup=hooks["backup"],
                log_check=hooks["log_check"],
                auto_rollback=environment.rollback_policy == "automatic",
                restart_database=not self._shares_manager_database(spec),
            )
            self._keep_rollback_point(journal, spec, result)
            return result

    def _deployment_hooks(self, journal, spec, params):
        backup = params.get("backup")
        log_check = params.get("log_check", True)
        return {
            "backup": (lambda: self._deployment_backup(journal, spec))
            if backup
            else None,
            "log_check": (
                (lambda: self._deployment_log_check(journal, spec))
                if log_check
                else None
            ),
        }

    def _deployment_call(self, function, journal, spec, *args, **kwargs):
        """Run a deployment function of the ops layer, saving its state at each step."""

        def save_state(state):
            self.deployment_state = _jsonable(state)
            self._commit()

        try:
            result = function(
                journal, journal.transport(), spec, *args, on_state=save_state, **kwargs
            )
        except ops.RollbackAvailable as failure:
            # Kept before the failure is recorded (which drops what is not
            # committed): a manager decides what happens next.
            self.write(
                {
                    "rollback_data": _jsonable(failure.rollback_data()),
                    "decision": "pending",
                }
            )
            self._commit()
            raise
        self.downtime = result.get("downtime") or 0.0
        return result

    def _shares_manager_database(self, spec):
        """Whether the environment's PostgreSQL is the manager's own cluster.

        Restarting it (J4) would cut the manager's own connection in the middle
        of the deployment, so the restart is skipped and the notes say so.
        """
        from odoo.tools import config

        if self.host_id.kind != "local":
            return False
        manager_port = int(config.get("db_port") or 5432)
        local_names = (None, "localhost", "127.0.0.1", config.get("db_host") or None)
        same_host = (spec.db_host or None) in local_names
        return same_host and int(spec.db_port or 5432) == manager_port

    @contextlib.contextmanager
    def _attachment_file(self, source):
        """The uploaded zip as a file on the manager, for the time of the upload."""
        import tempfile

        attachment = (
            self.env["ir.attachment"].sudo().browse(source.get("attachment_id"))
        )
        if not attachment.exists():
            raise OperationFailed(_("The uploaded zip file is gone."))
        with tempfile.NamedTemporaryFile(suffix=".zip") as handle:
            handle.write(attachment.raw)
            handle.flush()
            yield handle.name

    def _deployment_backup(self, journal, spec):
        """J1, J2: a verified bundle, kept as long as this deployment refers to it."""
        backup = self._take_backup(journal, spec, keep=True)
        if backup.state != "verified":
            raise OperationFailed(
                _("The backup did not verify: %s", backup.verification_message)
            )
        return {"bundle": backup.bundle_dir}

    def _deployment_log_check(self, journal, spec):
        """J5: the log since the last check; a fail verdict fails the deployment."""
        environment = self.environment_id
        result = ops.check_log(
            journal,
            journal.transport(),
            spec.log_file,
            environment.log_check_position or None,
            environment.log_finding_ids.mapped("signature"),
            ops.Thresholds(
                max_errors=environment.log_check_max_errors,
                max_warnings=environment.log_check_max_warnings,
            ),
        )
        environment._apply_log_check(result, self)
        # The reason names the signatures behind the verdict: a failure
        # that rolls back says why.
        return result.get("verdict"), result.get("reason")

    def _run_rollback(self, journal):
        return self._resume_failed(journal, "rollback")

    def _run_deployment_resume(self, journal):
        params = self.params or {}
        return self._resume_failed(journal, params.get("action"), params.get("reason"))

    def _resume_failed(self, journal, action, reason=None):
        """Guided failure: go on from where the failed deployment stopped."""
        failed = self.browse((self.params or {}).get("operation_id"))
        data = failed.rollback_data or {}
        spec = self.environment_id._spec()
        hooks = self._deployment_hooks(journal, spec, failed.params or {})
        result = self._deployment_call(
            ops.resume_deployment,
            journal,
            spec,
            self.deployment_state or data.get("state"),
            "continue" if self.deployment_state else action,
            reason=reason,
            log_check=hooks["log_check"],
        )
        self._keep_rollback_point(journal, spec, result)
        return result

    def _keep_rollback_point(self, journal, spec, result):
        """After a healthy deployment: record its rollback point, drop the older
        ones beyond what the environment keeps.

        A rolled-back deployment swapped its point in: there is none to keep,
        and nothing is dropped after a failure.
        """
        point = result.get("rollback_point") or {}
        if result.get("rolled_back") or not point.get("database"):
            return
        Point = self.env["deployment.rollback.point"].sudo()
        environment = self.environment_id
        record = Point.search(
            [("environment_id", "=", environment.id), ("name", "=", point["database"])],
            limit=1,
        )
        if not record:
            sizes = ops.rollback_point_sizes(journal, journal.transport(), spec, point)
            record = Point.create(
                {
                    "name": point["database"],
                    "environment_id": environment.id,
                    "operation_id": self.id,
                    "filestore": point.get("filestore") or False,
                    "created_at": self.started_at,
                    "database_size": sizes["database"] or 0,
                    "filestore_size": sizes["filestore"] or 0,
                }
            )
            self._commit()
        for expired in environment.rollback_point_ids._expired():
            try:
                ops.drop_rollback_point(
                    journal, journal.transport(), spec, expired._as_ops_point()
                )
            except OperationFailed as error:
                # The deployment is good; an old copy that cannot be dropped
                # is said on the point, not a reason to fail the deployment.
                expired.drop_message = str(error)
                continue
            expired._mark_dropped(_("Dropped after %s succeeded.", self.name))

    def _run_remove_leftovers(self, journal):
        host = self.host_id.sudo()
        environments = (
            self.env["deployment.environment"]
            .sudo()
            .with_context(active_test=False)
            .search([("host_id", "=", host.id)])
        )
        addons_paths = sorted(
            {path for env in environments for path in env._spec().addons_paths}
        )
        result = ops.remove_leftovers(
            journal,
            journal.transport(),
            host.work_dir,
            addons_paths,
            host.leftover_retention_days,
        )
        result["attachments_removed"] = self._remove_uploaded_zips(
            environments, host.leftover_retention_days
        )
        return result

    def _remove_uploaded_zips(self, environments, days):
        """Zips uploaded for deployments that ended more than ``days`` ago."""
        ended = self.sudo().search(
            [
                ("environment_id", "in", environments.ids),
                ("kind", "=", "deployment_run"),
                ("state", "not in", ACTIVE_STATES),
                ("finished_at", "<", fields.Datetime.now() - timedelta(days=days)),
            ]
        )
        ids = [
            (op.params or {}).get("source", {}).get("attachment_id")
            for op in ended
            if op.decision != "pending"
        ]
        attachments = self.env["ir.attachment"].sudo().browse([i for i in ids if i])
        attachments = attachments.exists()
        count = len(attachments)
        attachments.unlink()
        return count

    def _run_drop_rollback_point(self, journal):
        point = self.env["deployment.rollback.point"].browse(
            (self.params or {}).get("point_id")
        )
        if not point.exists() or point.state != "kept":
            raise OperationFailed(_("That rollback point is already dropped."))
        result = ops.drop_rollback_point(
            journal,
            journal.transport(),
            self.environment_id._spec(),
            point._as_ops_point(),
        )
        point._mark_dropped(_("Dropped by %s.", self.requested_by_id.name))
        return result

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
        action = self._request(
            "rollback",
            environment=self.environment_id,
            params={"operation_id": self.id},
        )
        self._decide("rolled_back", follow_up=self.browse(action["res_id"]))
        return action

    def action_retry(self):
        """Guided failure: run the failed step again, then go on."""
        self._check_decision()
        action = self._request(
            "deployment_resume",
            environment=self.environment_id,
            params={"operation_id": self.id, "action": "retry"},
        )
        self._decide("retried", follow_up=self.browse(action["res_id"]))
        return action

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
        action = self._request(
            "deployment_resume",
            environment=self.environment_id,
            params={"operation_id": self.id, "action": "ignore", "reason": reason},
        )
        self._decide("ignored", reason=reason, follow_up=self.browse(action["res_id"]))
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

    # ------------------------------------------------------------------
    # Environment refresh (D1, S1, C2)
    # ------------------------------------------------------------------
    def _run_replicate(self, journal):
        target = self.environment_id
        production = target.production_id
        if not production:
            raise OperationFailed(
                _("%s is derived from no production: set it first.", target.name)
            )
        # The recovery site is an exact replica in standby: neither
        # neutralized nor started. Any other replica is neutralized under
        # its own name before the swap: its Odoo never serves production's
        # mail servers, crons or payment providers.
        standby = target.environment_type == "disaster_recovery"
        with contextlib.closing(production.host_id._open_transport()) as source:
            return self._resumable(
                ops.replicate,
                journal,
                source,
                production._spec(),
                journal.transport(),
                target._spec(),
                stamp=self._stamp(),
                keep_previous=target.keep_previous_database,
                neutralize=not standby,
                neutralization_rules=target._neutralization_rules(),
                start_after=not standby,
            )

    def _production_pair(self):
        """The environment and the production it derives from, with transports."""
        target = self.environment_id
        if not target.production_id:
            raise OperationFailed(
                _("%s is derived from no production: set it first.", target.name)
            )
        return target, target.production_id

    def _stamp(self):
        """This operation's own time stamp: a worker taking it up again after a
        restart names what it makes the same way, and re-attaches to it."""
        return self.started_at.strftime("%Y%m%d%H%M%S")

    def _from_production(self, journal, function, **kwargs):
        """Run an ops function from production (source) to this environment."""
        target, production = self._production_pair()
        with contextlib.closing(production.host_id._open_transport()) as source:
            return function(
                journal,
                source,
                production._spec(),
                journal.transport(),
                target._spec(),
                **kwargs,
            )

    def _run_drift_report(self, journal):
        return self._from_production(journal, ops.drift_report)

    def _run_apply_configuration(self, journal):
        return self._from_production(
            journal, ops.apply_configuration, stamp=self._stamp()
        )

    def _run_align_modules(self, journal):
        return self._from_production(journal, ops.align_modules, stamp=self._stamp())

    # ------------------------------------------------------------------
    # The new module's tests on real data (D4, D5)
    # ------------------------------------------------------------------
    def _run_module_tests(self, journal):
        environment = self.environment_id
        if environment._holds_production_data():
            raise OperationFailed(
                _("Tests never run on production's server: use a development copy.")
            )
        params = self.params or {}
        return ops.run_module_tests(
            journal,
            journal.transport(),
            environment._spec(),
            params.get("module") or "",
            stamp=self._stamp(),
            mode=params.get("mode") or "auto",
        )

    def _apply_result(self, result):
        """Write what the operation found on its target; return a one-line summary."""
        host = self.host_id.sudo()
        environment = self.environment_id.sudo()
        if self.kind == "fetch_host_key":
            host.write(
                {
                    "presented_key_type": result["key_type"],
                    "presented_key_base64": result["key_base64"],
                }
            )
            if result["key_base64"] == host.host_key_base64:
                return _(
                    "The server presents the pinned key %s.", result["fingerprint"]
                )
            return _(
                "The server presents %(type)s %(fingerprint)s: check it and pin it.",
                type=result["key_type"],
                fingerprint=result["fingerprint"],
            )
        if self.kind == "test_connection":
            message = _(
                "Connected as %(user)s on %(system)s.",
                user=result["user"],
                system=result["system"],
            )
            host.write(
                {
                    "connection_state": "ok",
                    "connection_message": message,
                    "connection_checked_at": fields.Datetime.now(),
                }
            )
            return message
        if self.kind == "discover":
            return environment._apply_discovery(result)
        if self.kind == "service_status":
            return environment._apply_service_states(result["services"])
        if self.kind == "backup":
            backup = self.backup_id
            return _(
                "Backup %(name)s: %(size)s, %(parts)s parts, %(state)s.",
                name=backup.name,
                size=backup.size_display or "?",
                parts=len(backup.part_ids),
                state=dict(backup._fields["state"]._description_selection(self.env))[
                    backup.state
                ],
            )
        if self.kind == "verify_backup":
            return self.backup_id.verification_message or ""
        if self.kind == "restore":
            environment.message_post(
                body=_(
                    "Restored from backup %(backup)s. The previous database is kept as "
                    "%(previous)s until you drop it.",
                    backup=self.backup_id.name,
                    previous=result.get("previous_database") or "?",
                )
            )
            return _("Restored from %s.", self.backup_id.name)
        if self.kind == "delete_backup":
            return _("Backup %s deleted from the host.", self.backup_id.name)
        if self.kind == "log_check":
            return environment._apply_log_check(result, self)
        if self.kind == "replicate":
            return environment._apply_replication(result, self)
        if self.kind in REFRESH_AND_DEPLOYMENT_KINDS:
            return self._apply_refresh_result(result)
        if self.kind == "remove_leftovers":
            return _(
                "%(files)s leftover(s) older than %(days)s days removed from the "
                "host, %(zips)s uploaded zip(s) from the manager.",
                files=len(result.get("removed") or []),
                days=result.get("kept_days"),
                zips=result.get("attachments_removed", 0),
            )
        if self.kind == "drop_rollback_point":
            return _("Rollback point %s dropped from the host.", result.get("dropped"))
        if self.kind == "module_tests":
            run = (
                self.env["deployment.test.run"].sudo()._create_from_result(self, result)
            )
            return run._summary()
        return ""

    def _apply_refresh_result(self, result):
        """Summaries of the refresh (D2, D3, S2, S3) and deployment operations."""
        environment = self.environment_id.sudo()
        if self.kind == "align_modules":
            before = result["before"]
            return _(
                "Modules aligned with production: %(installed)s installed, "
                "%(upgraded)s upgraded, %(paths)s addons path(s) copied; no "
                "difference is left.",
                installed=len(before.get("to_install", [])),
                upgraded=len(before.get("to_upgrade", [])),
                paths=len(result.get("moved_paths", [])),
            )
        if self.kind == "drift_report":
            return environment._apply_drift(result)
        if self.kind == "apply_configuration":
            environment._apply_drift(result["after"])
            return _(
                "Production's configuration applied: %(before)s difference(s) before, "
                "%(after)s after; previous file kept as %(backup)s.",
                before=result["before"]["count"],
                after=result["after"]["count"],
                backup=result.get("config_backup"),
            )
        if self.kind in ("deployment_run", "deployment_resume") and not result.get(
            "rolled_back"
        ):
            versions = result.get("versions") or {}
            return _(
                "Deployed %(modules)s; downtime %(downtime)s s.",
                modules=", ".join(f"{m} {v}" for m, v in versions.items()) or "-",
                downtime=round(result.get("downtime") or 0, 1),
            )
        if self.kind in ("rollback", "deployment_resume"):
            return _("Rolled back to the rollback point; the environment is healthy.")
        return ""

    def _apply_failure(self, reason, message, cancelled=False):
        """What a failure changes on the target: only what it is evidence of."""
        if self.kind == "test_connection":
            self.host_id.sudo().write(
                {
                    "connection_state": "failed",
                    "connection_message": message,
                    "connection_checked_at": fields.Datetime.now(),
                }
            )
        elif self.kind == "backup" and self.backup_id:
            self.backup_id.sudo().write(
                {"state": "failed", "verification_message": message}
            )
        elif self.kind == "replicate":
            self.environment_id.sudo().replication_state = "failed"
        elif self.kind in HEALTH_EVIDENCE_KINDS and not cancelled:
            # Reading the environment or its services failed: that is a
            # fact about its health. Other failures (a drift report, a test
            # run, a cancel) say nothing of it, and their message says what
            # state they left.
            self.environment_id.sudo().health_state = "error"


class OperationJournal(OperationContext):
    """The context an operation runs in: every step and command becomes a record."""

    def __init__(self, operation):
        self.operation = operation
        self.env = operation.env
        self.cancel_event = threading.Event()
        # False once the operation passed its point of no return (the swap of
        # a restore or replication: ops.restore.refuse_cancel); a cancel
        # asked later is not honoured.
        self.cancellable = True
        self._transport = None
        self._open_step = None
        self._last_beat = 0.0
        self._secrets = (operation.environment_id or operation.host_id)._secrets()

    # Transport: one connection for all the commands of the operation.
    def transport(self):
        if self._transport is None:
            self._transport = self.operation.host_id._open_transport()
        return self._transport

    def close(self):
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()
            self._transport = None

    def text(self, message, **params):
        # env._ finds this module's translations from the calling frame.
        return self.env._(message, **params) if params else self.env._(message)

    @contextlib.contextmanager
    def step(self, label):
        label = self.text(label)
        Step = self.env["deployment.operation.step"].sudo()
        step = Step.search(
            [("operation_id", "=", self.operation.id), ("name", "=", label)], limit=1
        )
        if step:
            step.write({"state": "running", "message": False})
        else:
            step = Step.create(
                {
                    "operation_id": self.operation.id,
                    "name": label,
                    "state": "running",
                    "sequence": len(self.operation.step_ids) + 1,
                    "started_at": fields.Datetime.now(),
                }
            )
        outer_step, self._open_step = self._open_step, step
        self.operation._commit()
        try:
            yield step
        except BaseException:
            step.write({"state": "failed", "finished_at": fields.Datetime.now()})
            self._open_step = outer_step
            raise
        step.write({"state": "done", "finished_at": fields.Datetime.now()})
        self._open_step = outer_step
        self.beat(force=True)

    def fail_open_step(self):
        if self._open_step:
            self._open_step.write(
                {"state": "failed", "finished_at": fields.Datetime.now()}
            )
            self._open_step = None

    def progress(self, percent, message=None):
        self.operation.write(
            {
                "progress": percent,
                "progress_message": self.text(message) if message else False,
            }
        )
        self.beat(force=True)

    def beat(self, force=False):
        """Heartbeat: commit the journal, and learn whether a cancel was asked."""
        now = time.monotonic()
        if not force and now - self._last_beat < HEARTBEAT_INTERVAL:
            return
        self._last_beat = now
        operation = self.operation
        operation.write({"heartbeat_at": fields.Datetime.now()})
        operation._commit()
        self.env.cr.execute(
            "SELECT cancel_requested FROM deployment_operation WHERE id = %s",
            (operation.id,),
        )
        if self.env.cr.fetchone()[0]:
            self.cancel_event.set()

    def _on_output(self, *_args):
        self.beat()

    def run(self, transport, argv, keep_output=True, **kwargs):
        self._check_cancelled()
        kwargs.setdefault("timeout", 3600)
        secrets = list(kwargs.pop("secrets", ())) + self._secrets
        try:
            result = transport.run(
                argv,
                secrets=secrets,
                on_output=self._on_output,
                cancel_event=self.cancel_event if self.cancellable else None,
                **kwargs,
            )
        except ConnectionLost as lost:
            # Without its link the command would run on, unwatched: stop it
            # (the transport reconnects for that) before the failure is told.
            if lost.pgid:
                with contextlib.suppress(RemoteError, OSError):
                    transport.kill_process_group(lost.pgid)
            raise
        self.env["deployment.operation.command"].sudo()._record(
            self.operation, self._open_step, result, secrets, keep_output=keep_output
        )
        self.beat(force=True)
        self._check_cancelled(result)
        return result

    def run_detached(self, transport, argv, key, *, timeout=None, env=None, secrets=()):
        """Run argv detached, once, under ``key``: an operation taken up after
        its worker stopped finds the command by its key and waits for it.

        The command is launched again only if its launch surely never
        completed, and then closed for good (abandon_detached); one that
        started and vanished is reported lost, never run twice.
        """
        self._check_cancelled()
        secrets = list(secrets) + self._secrets
        Command = self.env["deployment.operation.command"].sudo()
        command = Command.search(
            [("operation_id", "=", self.operation.id), ("detached_key", "=", key)],
            limit=1,
        )
        if command and command.detached_state in ("done", "lost"):
            return command._detached_status()
        host = self.operation.host_id
        # Unique across databases sharing a host, attempts and launches: an
        # old run's exit code must never be read as this one's.
        run_dir = validate_path(
            f"{host.work_dir}/{self.env.cr.dbname}-op{self.operation.id}-{key}-"
            f"{token_hex(4)}"
        )
        status = None
        if not command:
            command = Command._record_detached_start(
                self.operation,
                self._open_step,
                argv,
                key,
                run_dir,
                transport.label,
                secrets,
            )
        else:
            status = self._wait_detached(transport, command, timeout)
            # A launch recorded as completed (pgid) did start, whatever its
            # run directory says now: only one never seen to complete is
            # closed, then launched again.
            if status.state == "not_started" and not command.pgid:
                if command._close_unfinished_launch(
                    transport, argv, run_dir, secrets, self._open_step
                ):
                    status = None  # launched again below
                else:  # that launch, still under way, won the race: it runs
                    status = self._wait_detached(transport, command, timeout)
        if status is None:
            # Recorded before it starts: a worker dying right after can still find it.
            self.operation._commit()
            handle = start_detached(
                transport, argv, command.run_dir, env=env, secrets=secrets
            )
            command._record_launched(handle.pgid)
            self.operation._commit()
            status = self._wait_detached(transport, command, timeout)
        if status.state == "running":  # waited long enough: stop it
            status = cancel_detached(transport, command.run_dir)
        status = command._record_detached_end(status, secrets, self._open_step)
        # Committed before the run directory goes: a command still recorded
        # as running, without its run directory, would look never started.
        self.operation._commit()
        # Its result is in the journal now; the run directory has done its job.
        self.run(transport, ["rm", "-rf", "--", command.run_dir], timeout=120)
        self.beat(force=True)
        self._check_cancelled()
        return status

    def _wait_detached(self, transport, command, timeout):
        """Wait for a detached command; a dropped link is re-established.

        The command runs in its own session on the host, so losing the
        connection loses nothing: the transport reconnects on its next use
        and the wait goes on.
        """
        for attempt in range(1, RECONNECT_ATTEMPTS + 1):
            try:
                return wait_detached(
                    transport,
                    command.run_dir,
                    timeout=timeout,
                    on_poll=self._on_output,
                    cancel_event=self.cancel_event if self.cancellable else None,
                )
            except ConnectionLost:
                if attempt == RECONNECT_ATTEMPTS:
                    raise
                command.write({"reconnections": command.reconnections + 1})
                self.beat(force=True)
                time.sleep(attempt)

    def cancel_honoured(self):
        """A cancel was asked while the operation could still be cancelled."""
        return self.cancellable and self.cancel_event.is_set()

    def _check_cancelled(self, result=None):
        if self.cancel_honoured():
            raise Cancelled(_("Cancelled on request."), result)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
