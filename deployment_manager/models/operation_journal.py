# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The journal an operation runs in: every step and command becomes a record.

Plain Python over the operation's record: the kinds and the ops layer see an
OperationContext; this one writes the steps and commands, beats (commits and
learns about a cancel) and re-attaches detached commands after a restart.
"""

import contextlib
import re
import threading
import time
from secrets import token_hex

from odoo import _, fields

from ..ops.context import Cancelled, OperationContext
from ..remote import (
    ConnectionLost,
    RemoteError,
    cancel_detached,
    start_detached,
    validate_path,
    wait_detached,
)

# How often waiting on a detached command may reconnect after a dropped link.
RECONNECT_ATTEMPTS = 4

# Heartbeats are written at most this often, in seconds.
HEARTBEAT_INTERVAL = 5.0


def step_key(english_label):
    """A step's stable key: its English label, lowercased, words joined by dashes.

    Other records (checklist items) point at steps by it: it does not change
    with the requester's language.
    """
    return re.sub(r"[^a-z0-9]+", "-", english_label.lower()).strip("-")[:64]


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
        # Translated text -> the same text in English, for the steps' keys.
        self._english = {}

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
        text = self.env._(message, **params) if params else self.env._(message)
        self._english[text] = message % params if params else message
        return text

    @contextlib.contextmanager
    def step(self, label):
        english = self._english.get(label)
        if english is None:  # a message not translated yet
            label = self.text(label)
            english = self._english[label]
        key = step_key(english)
        Step = self.env["deployment.operation.step"].sudo()
        step = Step.search(
            [("operation_id", "=", self.operation.id), ("key", "=", key)], limit=1
        )
        if step:
            step.write({"state": "running", "message": False})
        else:
            step = Step.create(
                {
                    "operation_id": self.operation.id,
                    "name": label,
                    "key": key,
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

    def _detached_command(self, key):
        return (
            self.env["deployment.operation.command"]
            .sudo()
            .search(
                [("operation_id", "=", self.operation.id), ("detached_key", "=", key)],
                limit=1,
            )
        )

    def _new_run_dir(self, key):
        # Unique across databases sharing a host, attempts and launches: an
        # old run's exit code must never be read as this one's.
        return validate_path(
            f"{self.operation.host_id.work_dir}/{self.env.cr.dbname}"
            f"-op{self.operation.id}-{key}-{token_hex(4)}"
        )

    def _record_start(self, transport, argv, key, run_dir, secrets):
        return (
            self.env["deployment.operation.command"]
            .sudo()
            ._record_detached_start(
                self.operation,
                self._open_step,
                argv,
                key,
                run_dir,
                transport.label,
                secrets,
            )
        )

    def _launch(self, transport, command, argv, env, secrets):
        # Recorded before it starts: a worker dying right after can still find it.
        self.operation._commit()
        handle = start_detached(
            transport, argv, command.run_dir, env=env, secrets=secrets
        )
        command._record_launched(handle.pgid)
        self.operation._commit()

    def launch_detached(self, transport, argv, key, *, env=None, secrets=()):
        """Start argv detached under ``key`` and return at once; the step
        that waits for it (run_detached, same key) gets it in the journal."""
        self._check_cancelled()
        if self._detached_command(key):
            return
        secrets = list(secrets) + self._secrets
        command = self._record_start(
            transport, argv, key, self._new_run_dir(key), secrets
        )
        self._launch(transport, command, argv, env, secrets)

    def run_detached(self, transport, argv, key, *, timeout=None, env=None, secrets=()):
        """Run argv detached, once, under ``key``: an operation taken up after
        its worker stopped finds the command by its key and waits for it, as
        it waits for one started by launch_detached.

        The command is launched again only if its launch surely never
        completed, and then closed for good (abandon_detached); one that
        started and vanished is reported lost, never run twice.
        """
        self._check_cancelled()
        secrets = list(secrets) + self._secrets
        command = self._detached_command(key)
        if command and command.detached_state in ("done", "lost"):
            return command._detached_status()
        run_dir = self._new_run_dir(key)
        status = None
        if not command:
            command = self._record_start(transport, argv, key, run_dir, secrets)
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
            self._launch(transport, command, argv, env, secrets)
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
