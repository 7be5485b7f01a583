# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The runner: queued operations claimed and run on Odoo's cron workers.

Every cron job whose code calls ``_cron_run_operations`` is a *runner*: it
claims the next operation that may start (its time has come, what it waits
for ended as required, nothing else runs on its target), runs it, and claims
again until none is left. Odoo runs each cron job in one worker at a time, so
as many operations run at once as there are runners given a worker — cron
threads of every manager server sharing the database (``max_cron_threads``).
Claims are row locks (``FOR UPDATE SKIP LOCKED``) and a partial unique index
keeps one running operation per target; a runner holds its operation's
advisory lock while it runs, so a free lock tells that its runner is gone
(``_reconcile_orphans``).
"""

import contextlib
import logging
import os
import socket
import traceback
from datetime import timedelta

import psycopg2
import psycopg2.errors
import psycopg2.extensions

import odoo.modules.module
from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .. import operation_kinds
from ..ops.context import OperationFailed
from ..ops.typed import Typed
from ..remote import HostKeyChanged, HostKeyUnknown, RemoteError
from .deployment_operation import ENDED_BADLY
from .operation_journal import OperationJournal

_logger = logging.getLogger(__name__)

# Two arbitrary keys of PostgreSQL's advisory locks: the runner of an
# operation holds (namespace, operation id) for as long as it runs, so a
# lock that can be taken tells that its runner is gone.
ADVISORY_NAMESPACE = 7_341_002
# Claims are taken one at a time, under this transaction-level lock, each in
# a READ COMMITTED transaction of its own: a claim sees what the previous one
# started, so what may run beside what is decided on the latest facts.
CLAIM_LOCK = (7_341_003, 0)

# Whether queued operation ``o`` may start now: its time has come and what it
# waits for ended as required.
# (clock time: a runner's transaction may have begun long ago.)
_READY = """
    (o.scheduled_at IS NULL OR o.scheduled_at <= (clock_timestamp() AT TIME ZONE 'UTC'))
    AND (o.depends_on_id IS NULL OR EXISTS (
        SELECT 1 FROM deployment_operation d
         WHERE d.id = o.depends_on_id
           AND (d.state = 'done'
                OR (o.depends_on_outcome = 'ended'
                    AND d.state IN ('failed', 'cancelled', 'interrupted')))))
"""
# Whether operations ``a`` and ``b`` have the same target.
_SAME_TARGET = """
    COALESCE({a}.environment_id, 0) = COALESCE({b}.environment_id, 0)
    AND ({a}.environment_id IS NOT NULL OR {a}.host_id = {b}.host_id)
"""
# The next operation to start: ready, nothing running on its target (nor on
# its host, when it or what runs there is exclusive on its host), and the
# first in line for its target.
_CLAIM = f"""
    SELECT o.id FROM deployment_operation o
     WHERE o.state = 'queued' AND {_READY}
       AND NOT EXISTS (
            SELECT 1 FROM deployment_operation r
             WHERE r.state = 'running' AND {_SAME_TARGET.format(a="r", b="o")})
       AND NOT EXISTS (
            SELECT 1 FROM deployment_operation x
             WHERE x.state = 'running' AND x.host_id = o.host_id
               AND (x.kind = ANY(%(exclusive)s) OR o.kind = ANY(%(exclusive)s)))
       AND NOT EXISTS (
            SELECT 1 FROM deployment_operation e
             WHERE e.state = 'queued' AND e.id != o.id
               AND {_SAME_TARGET.format(a="e", b="o")}
               AND {_READY.replace("o.", "e.")}
               AND (e.priority > o.priority
                    OR (e.priority = o.priority AND e.id < o.id)))
     ORDER BY o.priority DESC, o.id
     LIMIT 1
     FOR UPDATE OF o SKIP LOCKED
"""


class DeploymentOperationRunner(models.Model):
    _inherit = "deployment.operation"

    @api.model
    def _cron_run_operations(self):
        """A runner: reconcile orphans, then run the operations it can claim in turn."""
        self._reconcile_orphans()
        self._cancel_broken_chains()
        done = 0
        while True:
            operation = self._claim_next()
            if not operation:
                break
            operation._execute()
            # Between two operations: what a dead worker left running (on
            # this server or another) is taken up, and broken chains ended.
            self._reconcile_orphans()
            self._cancel_broken_chains()
            done += 1
            self.env["ir.cron"]._notify_progress(done=done, remaining=0)

    @api.model
    def _claim_next(self):
        """Take the next operation that may start, and start it.

        Runners race each other, on several servers: claims are serialized
        by an advisory lock held until the claim is committed, and read in
        READ COMMITTED (Odoo's transactions are REPEATABLE READ, whose
        snapshot could predate the claim just before). The one-running-per-
        target index still stands behind it.
        """
        exclusive = [
            code
            for code, kind in operation_kinds.REGISTRY.items()
            if kind.exclusive_on_host
        ]
        for _attempt in range(10):
            self._commit()
            if not odoo.modules.module.current_test:
                # The first statement of the claim's transaction.
                self.env.cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            try:
                with self.env.cr.savepoint(flush=False):
                    self.env.cr.execute(
                        "SELECT pg_advisory_xact_lock(%s, %s)", CLAIM_LOCK
                    )
                    self.env.cr.execute(
                        _CLAIM, {"exclusive": exclusive}, log_exceptions=False
                    )
                    row = self.env.cr.fetchone()
                    if row:
                        self.env.cr.execute(
                            "UPDATE deployment_operation SET state = 'running' "
                            "WHERE id = %s",
                            (row[0],),
                            log_exceptions=False,
                        )
            except (
                psycopg2.extensions.TransactionRollbackError,
                psycopg2.errors.UniqueViolation,
            ):
                self._start_over()
                continue
            if not row:
                self._commit()
                return self.browse()
            operation = self.sudo().browse(row[0])._in_requester_language()
            operation.invalidate_recordset(["state"])
            operation._take_over()
            operation.write({"started_at": fields.Datetime.now()})
            self._commit()
            return operation
        return self.browse()

    def _start_over(self):
        """A new transaction, hence a new snapshot (kept as is inside a test)."""
        if not odoo.modules.module.current_test:
            self.env.cr.rollback()
        self.env.invalidate_all()

    def _in_requester_language(self):
        """Steps, results and messages are written in the language of who asked."""
        return self.with_context(lang=self.requested_by_id.lang or "en_US")

    def _take_over(self, locked=False):
        """Mark this worker as the one running the operation; hold its advisory lock.

        ``locked``: the caller already holds the lock (an orphan taken up).
        """
        if not locked:
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
            kind = self._kind()
            result = kind.typed_result(kind.run(self, journal))
        except Exception as error:  # noqa: BLE001 - every failure must be recorded
            self._record_failure(journal, error)
        else:
            self._record_success(journal, result)
        finally:
            journal.close()
            self._release()
            self._commit()

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
        kind = self._kind()
        summary = kind.apply_result(self, result)
        kept = kind.kept_result(self, result)
        self.write(
            {
                "state": "done",
                "progress": 100.0,
                "progress_message": _("Done"),
                "finished_at": fields.Datetime.now(),
                "result_summary": summary,
                "result_data": self._jsonable(
                    kept.to_json() if isinstance(kept, Typed) else kept
                ),
            }
        )
        if not kind.tells_success(self, result):
            return
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
        self._kind().apply_failure(self, reason, message, cancelled=cancelled)
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
                self._trigger_runners(
                    operation.heartbeat_at + timedelta(seconds=grace + 1),
                    just_one=True,
                )
                continue
            self.env.cr.execute(
                "SELECT pg_try_advisory_lock(%s, %s)",
                (ADVISORY_NAMESPACE, operation.id),
            )
            if not self.env.cr.fetchone()[0]:
                continue  # its worker is alive, only slow to beat
            # The lock is kept: no other runner can take the orphan up between
            # this judgement and its resumption.
            if operation._kind().resumes_after_worker_death(operation):
                operation._in_requester_language()._resume()
            else:
                operation._mark_interrupted()
                operation._release()
            self._commit()

    def _register_hook(self):
        super()._register_hook()
        # After the manager restarts, what its previous process left running
        # is settled at once rather than at the runners' next interval.
        self.env.cr.execute(
            "SELECT 1 FROM deployment_operation WHERE state = 'running' LIMIT 1"
        )
        if self.env.cr.fetchone():
            self._trigger_runners()

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
        self._end_badly(
            "interrupted",
            "interrupted",
            message,
            _(
                "%(kind)s %(name)s was interrupted: %(message)s",
                kind=self._kind_label(),
                name=self.name,
                message=message,
            ),
        )

    def _end_badly(self, state, reason, message, chatter):
        """End the operation in ``state`` (interrupted, cancelled) for
        ``reason``, say ``message`` on it and ``chatter`` to its followers."""
        self.write(
            {
                "state": state,
                "finished_at": fields.Datetime.now(),
                "error_reason": reason,
                "error_message": message,
                "progress_message": self._state_label(state),
            }
        )
        self._notify("deployment_manager.mt_operation_failed", chatter)

    def _resume(self):
        """Take the operation up again.

        Its detached commands are re-attached, not restarted.
        """
        self._take_over(locked=True)
        self.write(
            {"progress_message": _("Re-attached after the previous worker stopped")}
        )
        self._commit()
        self._execute()

    @api.model
    def _cancel_broken_chains(self):
        """Cancel the queued operations whose awaited operation did not succeed.

        Their own followers are cancelled in turn: a chain stops at its failed
        link, and each cancelled operation says which one failed.
        """
        while True:
            self.env.flush_all()
            try:
                with self.env.cr.savepoint(flush=False):
                    self.env.cr.execute(
                        """
                        SELECT o.id FROM deployment_operation o
                          JOIN deployment_operation d ON d.id = o.depends_on_id
                         WHERE o.state = 'queued' AND o.depends_on_outcome = 'done'
                           AND d.state IN %s
                           FOR UPDATE OF o SKIP LOCKED
                        """,
                        (ENDED_BADLY,),
                        log_exceptions=False,
                    )
                    ids = [row[0] for row in self.env.cr.fetchall()]
            except psycopg2.extensions.TransactionRollbackError:
                # Another runner changed them meanwhile: its own pass, or
                # this runner's next one, ends them.
                self._start_over()
                return
            broken = self.sudo().browse(ids)
            if not broken:
                return
            for operation in broken:
                operation = operation._in_requester_language()
                awaited = operation.depends_on_id
                message = _(
                    "Not started: %(name)s (%(kind)s), which it waited for, ended "
                    "%(state)s.",
                    name=awaited.name,
                    kind=awaited._kind_label(),
                    state=awaited._state_label(),
                )
                operation._end_badly(
                    "cancelled",
                    "dependency",
                    message,
                    _(
                        "%(kind)s %(name)s was cancelled: %(message)s",
                        kind=operation._kind_label(),
                        name=operation.name,
                        message=message,
                    ),
                )
            self._commit()
