# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).

import dataclasses
import shlex

from odoo import _, fields, models

from ..remote import DetachedStatus, mask
from ..remote.detached import NEVER_MADE, STARTED, abandon_detached

NOT_KEPT = "(not kept: this output may contain secrets)"


class DeploymentOperationCommand(models.Model):
    """One command an operation ran: what, where, how it ended. Secrets are masked."""

    _name = "deployment.operation.command"
    _description = "Deployment Operation Command"
    _order = "operation_id, sequence, id"

    operation_id = fields.Many2one(
        "deployment.operation", required=True, ondelete="cascade", index=True
    )
    step_id = fields.Many2one("deployment.operation.step", ondelete="set null")
    sequence = fields.Integer()
    host = fields.Char(readonly=True)
    command = fields.Text(readonly=True, help="The argv as run, secrets masked.")
    started_at = fields.Datetime(readonly=True)
    duration = fields.Float(readonly=True, help="Seconds.")
    exit_code = fields.Integer(readonly=True)
    has_exit_code = fields.Boolean(readonly=True)
    timed_out = fields.Boolean(readonly=True)
    cancelled = fields.Boolean(readonly=True)
    # Byte counts can pass 2 GiB (a database dump on stdout): floats hold them exactly.
    stdout_bytes = fields.Float(readonly=True, digits=(20, 0))
    stderr_bytes = fields.Float(readonly=True, digits=(20, 0))
    stdout_excerpt = fields.Text(readonly=True)
    stderr_excerpt = fields.Text(readonly=True)
    output_attachment_ids = fields.Many2many(
        "ir.attachment", string="Full output", readonly=True
    )
    detached = fields.Boolean(
        readonly=True,
        help="Run under its own session on the host, so it "
        "outlives the worker that started it.",
    )
    detached_key = fields.Char(readonly=True)
    run_dir = fields.Char(readonly=True)
    reconnections = fields.Integer(
        readonly=True,
        help="Times the link dropped and was re-established while waiting.",
    )
    detached_state = fields.Selection(
        [("running", "Running"), ("done", "Done"), ("lost", "Lost")], readonly=True
    )
    pgid = fields.Integer(
        string="Process group",
        readonly=True,
        help="Recorded once its launch completed: the command surely started.",
    )
    note = fields.Text(
        readonly=True,
        help="What its exit code does not tell: launched again after a launch "
        "that never completed, or lost after it started.",
    )
    outcome = fields.Char(compute="_compute_outcome")

    def _compute_outcome(self):
        for command in self:
            if command.timed_out:
                command.outcome = _("timed out")
            elif command.cancelled:
                command.outcome = _("cancelled")
            elif command.detached_state == "running":
                command.outcome = _("running")
            elif command.detached_state == "lost":
                command.outcome = _("lost")
            elif command.has_exit_code:
                command.outcome = _("exit %s", command.exit_code)
            else:
                command.outcome = ""

    def _next_sequence(self, operation):
        return self.search_count([("operation_id", "=", operation.id)]) + 1

    def _record(self, operation, step, result, secrets, keep_output=True):
        """Journal a finished command (a remote CommandResult)."""
        vals = {
            "operation_id": operation.id,
            "step_id": step.id if step else False,
            "sequence": self._next_sequence(operation),
            "host": result.host,
            "command": mask(result.display, secrets),
            "started_at": fields.Datetime.to_datetime(_utc(result.started_at)),
            "duration": result.duration,
            "exit_code": result.exit_code or 0,
            "has_exit_code": result.exit_code is not None,
            "timed_out": result.timed_out,
            "cancelled": result.cancelled,
            "stdout_bytes": result.stdout.total_bytes,
            "stderr_bytes": result.stderr.total_bytes,
            "stdout_excerpt": _text(mask(result.stdout.excerpt(), secrets))
            if keep_output
            else NOT_KEPT,
            "stderr_excerpt": _text(mask(result.stderr.excerpt(), secrets)),
        }
        command = self.create(vals)
        if keep_output:
            command._attach_full_output("stdout", result.stdout, secrets)
        command._attach_full_output("stderr", result.stderr, secrets)
        return command

    def _attach_full_output(self, stream, capture, secrets):
        """Keep the whole output when the excerpt had to cut it."""
        if not capture.truncated:
            return
        data = capture.full_bytes()
        if data is None:
            # Beyond what is kept: the excerpt (head and tail) is all there is.
            data = capture.excerpt().encode()
        data = mask(data.decode("utf-8", "replace"), secrets).encode()
        name = f"{self.operation_id.name}-{self.sequence}-{stream}.log"
        attachment = self.env["ir.attachment"].create(
            {
                "name": name.replace("/", "-"),
                "raw": data,
                "mimetype": "text/plain",
                "res_model": self._name,
                "res_id": self.id,
            }
        )
        self.output_attachment_ids = [(4, attachment.id)]

    def _record_detached_start(
        self, operation, step, argv, key, run_dir, host_label, secrets
    ):
        return self.create(
            {
                "operation_id": operation.id,
                "step_id": step.id if step else False,
                "sequence": self._next_sequence(operation),
                "host": host_label,
                "command": mask(shlex.join(argv), secrets),
                "started_at": fields.Datetime.now(),
                "detached": True,
                "detached_key": key,
                "run_dir": run_dir,
                "detached_state": "running",
            }
        )

    def _record_launched(self, pgid):
        """Its launch completed: from now on the command counts as started,
        whatever becomes of its run directory."""
        self.write({"pgid": pgid})

    def _close_unfinished_launch(self, transport, argv, run_dir, secrets, step):
        """Its launch was found "not_started" when its operation was taken
        up: close it for good (abandon_detached), and record that the
        command is launched again in ``run_dir``, and why.

        False when that launch, still under way, won the race: the command
        runs after all, and is to be waited for, not launched.
        """
        found = abandon_detached(transport, self.run_dir)
        if found == STARTED:
            return False
        values = {"host": self.host, "run_dir": self.run_dir}
        if found == NEVER_MADE:
            note = _(
                "Launched again on %(host)s: the worker that launched it stopped "
                "before the command started (its run directory %(run_dir)s was "
                "never made). That launch is closed and can never start late.",
                **values,
            )
        else:
            note = _(
                "Launched again on %(host)s: the worker that launched it stopped "
                "before the command started (its run directory %(run_dir)s holds "
                "no process group). That launch is closed and can never start "
                "late.",
                **values,
            )
        self.write(
            {
                "command": mask(shlex.join(argv), secrets),
                "run_dir": run_dir,
                "started_at": fields.Datetime.now(),
                "pgid": 0,
            }
        )
        self._add_note(note, step)
        return True

    def _add_note(self, note, step):
        """Journal ``note``: added to the command's, shown on its step."""
        self.note = "\n".join(filter(None, [self.note, note]))
        (step or self.step_id).write({"message": note})

    def _record_detached_end(self, status, secrets, step=None):
        """Record how the command ended; returns the status as recorded.

        A lost command, and one whose run directory no longer tells anything
        although its launch completed, are told apart from one that never
        started, in its note and on its step.
        """
        if status.state == "not_started":
            # Only a launch that completed gets here (see run_detached): the
            # run directory was removed or emptied behind our back.
            status = dataclasses.replace(status, state="lost", pgid=self.pgid)
            self._add_note(
                _(
                    "The command started on %(host)s (process group %(pgid)s) and "
                    "was lost: its run directory %(run_dir)s no longer holds its "
                    "process group, so how it ended is unknown.",
                    host=self.host,
                    pgid=self.pgid or "?",
                    run_dir=self.run_dir,
                ),
                step,
            )
        elif status.state == "lost":
            self._add_note(
                _(
                    "The command started on %(host)s (process group %(pgid)s) and "
                    "was lost: its processes are gone and it left no exit code, so "
                    "how it ended is unknown.",
                    host=self.host,
                    pgid=status.pgid or self.pgid or "?",
                ),
                step,
            )
        if step and step != self.step_id:
            # Launched ahead (launch_detached): it belongs to the step that
            # waited for it, where its outcome mattered.
            self.step_id = step
        self.write(
            {
                "detached_state": status.state,
                "exit_code": status.exit_code or 0,
                "has_exit_code": status.exit_code is not None,
                "cancelled": status.cancelled,
                "duration": (fields.Datetime.now() - self.started_at).total_seconds(),
                "stdout_bytes": status.stdout_bytes or 0,
                "stderr_bytes": status.stderr_bytes or 0,
                "stdout_excerpt": _text(mask(status.stdout_excerpt or "", secrets)),
                "stderr_excerpt": _text(mask(status.stderr_excerpt or "", secrets)),
            }
        )
        return status

    def _detached_status(self):
        return DetachedStatus(
            state=self.detached_state,
            exit_code=self.exit_code if self.has_exit_code else None,
            stdout_excerpt=self.stdout_excerpt or "",
            stderr_excerpt=self.stderr_excerpt or "",
            stdout_bytes=int(self.stdout_bytes),
            stderr_bytes=int(self.stderr_bytes),
            cancelled=self.cancelled,
            pgid=self.pgid or None,
        )

    def action_show_output(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }


def _text(output):
    """Output as PostgreSQL can store it: NUL bytes (find -print0, binary
    output) are shown as \\0 instead of failing the whole journal entry."""
    return output.replace("\x00", "\\0")


def _utc(timestamp):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(timestamp, tz=timezone.utc).replace(tzinfo=None)
