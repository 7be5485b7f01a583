"""What every transport (local subprocess, SSH) offers, and the shared
supervision of a running command: concurrent draining of stdout and stderr,
timeouts, cancellation, heartbeats and process-group kills.
"""

import abc
import contextlib
import hashlib
import os
import re
import secrets as _secrets
import threading
import time

from .capture import BoundedCapture
from .errors import ConnectionLost, InvalidInput, RemoteError
from .masking import display_argv
from .result import CommandResult
from .validation import validate_argv, validate_env, validate_path

SUDO_PREFIX = ("sudo", "-n", "--")
# Seconds between SIGTERM and SIGKILL, matching systemd's spirit of letting a
# program clean up (pg_restore removes its temp files) but not forever.
TERM_GRACE = 3.0
HEARTBEAT_INTERVAL = 0.5
READ_CHUNK = 1 << 16
FILE_CHUNK = 1 << 20
# Once the command has exited, output still in flight gets this long to
# arrive; after that a pipe is held open by a process outside the group.
DRAIN_GRACE = 5.0

_SHA256_RE = re.compile(r"\\?([0-9a-f]{64})\s")

# Shell function: does process group $1 still have a member that is not a
# zombie? `kill -0` also counts zombies, which an init that reaps orphans
# lazily can leave around for seconds after the group is really gone.
GROUP_ALIVE_SH = """\
dm_alive() {
  if command -v ps > /dev/null 2>&1; then
    ps -e -o pgid= -o stat= |
      awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'
  else
    kill -0 -"$1" 2> /dev/null
  fi
}
"""


def group_has_live_members(pgid):
    """Local counterpart of GROUP_ALIVE_SH, reading /proc directly."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        # No procfs: fall back to kill -0, zombies included.
        try:
            with contextlib.suppress(PermissionError):
                os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # comm may contain spaces and parentheses: split after the last ")".
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


class _Process(abc.ABC):
    """One started command, as the supervising code sees it."""

    pgid = None

    @abc.abstractmethod
    def read_stdout(self, n):
        """Up to n bytes of stdout, b"" at end of stream."""

    @abc.abstractmethod
    def read_stderr(self, n):
        """Up to n bytes of stderr, b"" at end of stream."""

    @abc.abstractmethod
    def write_stdin(self, data):
        """Write all of data; BrokenPipeError once the command stopped
        reading, ConnectionLost if the link dropped."""

    @abc.abstractmethod
    def close_stdin(self):
        pass

    @abc.abstractmethod
    def wait_exit(self, timeout):
        """True once the command has exited (or can no longer report)."""

    @abc.abstractmethod
    def exit_code(self):
        """The exit code, None if unknown; ConnectionLost if the link died
        before the command could report it."""

    @abc.abstractmethod
    def signal_group(self, name):
        """Send SIG<name> to the command's whole process group."""

    @abc.abstractmethod
    def group_alive(self):
        pass

    def link_lost(self):
        return False

    @abc.abstractmethod
    def close(self):
        pass


def new_result(argv, secrets, host, capture_limits, stream_stdout):
    """The CommandResult of a command about to start on ``host``. A
    streamed stdout keeps only its head and tail: the caller reads it."""
    secrets = tuple(secrets or ())
    display = display_argv(argv, secrets)
    limits = dict(capture_limits or {})
    # What OutputTooLarge names; the display is already masked.
    where = f"`{display}` on {host}"
    if stream_stdout:
        stdout = BoundedCapture(
            head_limit=limits.get("head_limit", 32768),
            tail_limit=limits.get("tail_limit", 32768),
            spool_limit=0,
            source=f"The output of {where}",
        )
    else:
        stdout = BoundedCapture(**limits, source=f"The output of {where}")
    return CommandResult(
        argv=list(argv),
        display=display,
        host=host,
        exit_code=None,
        started_at=time.time(),
        duration=0.0,
        stdout=stdout,
        stderr=BoundedCapture(**limits, source=f"The error output of {where}"),
        secrets=secrets,
    )


class _Execution:
    """Bookkeeping shared by Transport.run and RunningCommand."""

    def __init__(self, proc, result, stream_stdout):
        self.proc = proc
        self.result = result
        self.t0 = time.monotonic()
        self.last_activity = self.t0
        self._wake = threading.Event()
        self._threads = []
        self._errors = []
        self._kill_lock = threading.Lock()
        self._pump(proc.read_stderr, result.stderr, "stderr")
        if not stream_stdout:
            self._pump(proc.read_stdout, result.stdout, "stdout")

    def _pump(self, read, capture, name):
        def loop():
            try:
                while True:
                    data = read(READ_CHUNK)
                    if not data:
                        break
                    capture.feed(data)
                    self.last_activity = time.monotonic()
            except (RemoteError, OSError, EOFError, ValueError) as exc:
                self._errors.append(exc)  # raised again by finish()
            finally:
                self._wake.set()

        self.add_thread(loop, name)

    def add_thread(self, target, name):
        thread = threading.Thread(target=target, name=f"dm-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def feed_stdin(self, data):
        if not data:
            self._close_stdin_quietly()
            return

        # A separate writer: a command that prints before reading its input
        # would otherwise deadlock against us.
        def loop():
            view = memoryview(data)
            try:
                # The command stopped reading; its exit status says why.
                with contextlib.suppress(OSError, EOFError, ValueError, ConnectionLost):
                    for offset in range(0, len(view), READ_CHUNK):
                        self.proc.write_stdin(bytes(view[offset : offset + READ_CHUNK]))
            finally:
                self._close_stdin_quietly()

        threading.Thread(target=loop, name="dm-stdin", daemon=True).start()

    def _close_stdin_quietly(self):
        with contextlib.suppress(OSError, EOFError, ValueError, ConnectionLost):
            self.proc.close_stdin()

    def readers_done(self):
        return not any(t.is_alive() for t in self._threads)

    def wait_activity(self, timeout):
        self._wake.wait(timeout)
        self._wake.clear()

    def terminate(self):
        """TERM the whole process group, KILL whatever is left after
        TERM_GRACE seconds."""
        with self._kill_lock:
            deadline = time.monotonic() + TERM_GRACE
            self.proc.signal_group("TERM")
            self.proc.wait_exit(TERM_GRACE)
            while self.proc.group_alive():
                if time.monotonic() >= deadline:
                    self.proc.signal_group("KILL")
                    self.proc.wait_exit(TERM_GRACE)
                    break
                time.sleep(0.2)

    def finish(self):
        """Collect the output still in flight and fill in the result."""
        deadline = time.monotonic() + DRAIN_GRACE
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if not self.readers_done():
            self.proc.close()
            for thread in self._threads:
                thread.join(1.0)
        try:
            self.result.exit_code = self.proc.exit_code()
        finally:
            self.result.duration = time.monotonic() - self.t0
        for exc in self._errors:
            if isinstance(exc, ConnectionLost):
                raise exc
        return self.result


class _StdinStream:
    """The writable end of a started command's standard input."""

    def __init__(self, proc):
        self._proc = proc

    def writable(self):
        return True

    def write(self, data):  # pylint: disable=method-required-super  # not an Odoo model
        self._proc.write_stdin(bytes(data))
        return len(data)

    def flush(self):
        pass

    def close(self):
        self._proc.close_stdin()


class RunningCommand:
    """A command whose stdin and stdout the caller streams itself."""

    def __init__(self, execution):
        self._ex = execution
        self._proc = execution.proc
        self.result = execution.result
        self.stdin = _StdinStream(execution.proc)
        self.stderr = execution.result.stderr
        # Counts what the caller streamed, without keeping a copy of it.
        self.stdout = execution.result.stdout
        self._draining = False
        self._lock = threading.Lock()

    @property
    def display(self):
        return self.result.display

    @property
    def pgid(self):
        return self._proc.pgid

    def close_stdin(self):
        self._ex._close_stdin_quietly()

    def stdout_read(self, n=READ_CHUNK):
        data = self._proc.read_stdout(n)
        if data:
            self.stdout.feed(data)
            self._ex.last_activity = time.monotonic()
        elif self._proc.link_lost():
            # Raises ConnectionLost unless the exit status made it through.
            self._proc.exit_code()
        return data

    def exited(self):
        return self._proc.wait_exit(0)

    def kill(self):
        """Stop the command's whole process group and mark it cancelled."""
        self.result.cancelled = True
        self._ex.terminate()

    def _start_drain(self):
        # Unread stdout must still be consumed or the command could block
        # on a full pipe and never exit.
        with self._lock:
            if self._draining:
                return
            self._draining = True

        def loop():
            try:
                while self.stdout_read(READ_CHUNK):
                    pass
            except (RemoteError, OSError, EOFError, ValueError) as exc:
                self._ex._errors.append(exc)

        self._ex.add_thread(loop, "drain")

    def wait(self, timeout=None):
        """Close stdin, wait for the command and return its result; past
        ``timeout`` seconds the command is killed and marked timed out."""
        self.close_stdin()
        self._start_drain()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._proc.wait_exit(0.1):
            if self._proc.link_lost():
                break
            if deadline is not None and time.monotonic() >= deadline:
                self.result.timed_out = True
                self.result.timeout_kind = "total"
                self._ex.terminate()
                break
        return self._ex.finish()


class Transport(abc.ABC):
    """Runs argv lists on one host. Use as a context manager."""

    label = "transport"
    use_sudo = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):  # noqa: B027 - optional hook, most transports hold nothing
        """Release the connection, if the transport holds one."""

    def wrap_argv(self, argv):
        """The argv actually executed: prefixed by sudo when configured."""
        return [*SUDO_PREFIX, *argv] if self.use_sudo else list(argv)

    @abc.abstractmethod
    def _spawn(self, argv, env):
        """Start argv (not yet sudo-wrapped) and return a _Process."""

    def _begin(self, argv, env, secrets, capture_limits, stream_stdout):
        argv = validate_argv(argv)
        env = validate_env(env)
        result = new_result(argv, secrets, self.label, capture_limits, stream_stdout)
        proc = self._spawn(argv, env)
        return _Execution(proc, result, stream_stdout)

    def run(
        self,
        argv,
        *,
        timeout=None,
        idle_timeout=None,
        stdin_data=None,
        env=None,
        secrets=(),
        on_output=None,
        cancel_event=None,
        capture_limits=None,
    ):
        """Run argv to completion and return its CommandResult.

        A non-zero exit is reported, never raised; ConnectionLost is raised
        when the link drops. ``capture_limits`` is a dict of BoundedCapture
        keyword arguments applied to both streams.
        """
        ex = self._begin(argv, env, secrets, capture_limits, stream_stdout=False)
        try:
            ex.feed_stdin(stdin_data)
            return self._supervise(ex, timeout, idle_timeout, on_output, cancel_event)
        except BaseException:
            ex.proc.close()
            raise

    def _supervise(self, ex, timeout, idle_timeout, on_output, cancel_event):
        result = ex.result
        next_beat = ex.t0 + HEARTBEAT_INTERVAL
        while True:
            if ex.readers_done():
                if ex.proc.wait_exit(0.05) or ex.proc.link_lost():
                    break
            else:
                ex.wait_activity(0.1)
            now = time.monotonic()
            if cancel_event is not None and cancel_event.is_set():
                result.cancelled = True
            elif timeout is not None and now - ex.t0 >= timeout:
                result.timed_out, result.timeout_kind = True, "total"
            elif idle_timeout is not None and now - ex.last_activity >= idle_timeout:
                result.timed_out, result.timeout_kind = True, "idle"
            if result.cancelled or result.timed_out:
                ex.terminate()
                break
            if on_output is not None and now >= next_beat:
                next_beat = now + HEARTBEAT_INTERVAL
                try:
                    on_output(result.stdout.total_bytes, result.stderr.total_bytes)
                except BaseException:
                    # The caller gave up (e.g. its job was cancelled while
                    # heartbeating): leave nothing running behind.
                    result.cancelled = True
                    ex.terminate()
                    raise
        return ex.finish()

    def start(self, argv, *, env=None, secrets=(), capture_limits=None):
        """Start argv for streaming through RunningCommand.stdin/stdout_read."""
        ex = self._begin(argv, env, secrets, capture_limits, stream_stdout=True)
        return RunningCommand(ex)

    # -- files -------------------------------------------------------------

    def sha256(self, path):
        """The sha256 hex digest of a file on this transport's host."""
        validate_path(path)
        result = self.run(["sha256sum", "--", path])
        match = _SHA256_RE.match(result.stdout.text())
        if not result.ok or not match:
            raise RemoteError(
                f"Could not compute the sha256 of {path} on {self.label}: "
                f"{result.stderr_tail(3) or 'no output'}",
                "checksum",
            )
        return match.group(1)

    @abc.abstractmethod
    def put_file(self, local_path, remote_path):
        """Upload a file; return its sha256, verified on the remote side."""

    @abc.abstractmethod
    def get_file(self, remote_path, local_path):
        """Download a file; return its sha256, verified on both sides."""

    def kill_process_group(self, pgid, signal_name="TERM"):
        """Signal a process group on this host, e.g. the command a
        ConnectionLost left running (its ``pgid``); False if no live process
        was left in it."""
        if isinstance(pgid, bool) or not isinstance(pgid, int) or pgid <= 1:
            raise InvalidInput("process group", pgid, "a process group id is required")
        if signal_name not in ("TERM", "KILL", "INT", "HUP"):
            raise InvalidInput("signal", signal_name, "use TERM, KILL, INT or HUP")
        script = GROUP_ALIVE_SH + 'dm_alive "$2" && kill -"$1" -"$2" 2>/dev/null'
        argv = ["sh", "-c", script, "sh", signal_name, str(pgid)]
        return self.run(argv, timeout=30).ok

    def test_connection(self):
        """Identify the account and system commands run on: a UI check."""
        user = self.run(["id", "-un"], timeout=30).check()
        uname = self.run(["uname", "-a"], timeout=30).check()
        return {
            "user": user.stdout.text().strip(),
            "uname": uname.stdout.text().strip(),
        }

    def read_text(self, path, max_bytes=1_000_000):
        """The file's text; beyond max_bytes, its head and tail with a
        marker of what was left out."""
        validate_path(path)
        head = max_bytes // 2
        result = self.run(
            ["cat", "--", path],
            capture_limits={
                "head_limit": head,
                "tail_limit": max_bytes - head,
                "spool_limit": max_bytes,
            },
        )
        if not result.ok:
            raise RemoteError(
                f"Could not read {path} on {self.label}: "
                f"{result.stderr_tail(5) or f'exit code {result.exit_code}'}",
                "read_failed",
            )
        return result.stdout.text_or_excerpt()

    def _partial_name(self, path):
        return f"{path}.dm-part-{_secrets.token_hex(4)}"

    def _commit_upload(self, tmp_path, remote_path, digest):
        """Compare the uploaded copy's checksum, then move it into place, so
        a reader never sees a partial or corrupt file under the final name."""
        try:
            remote_digest = self.sha256(tmp_path)
            if remote_digest != digest:
                raise RemoteError(
                    f"Checksum mismatch uploading to {remote_path} on "
                    f"{self.label}: sent {digest}, stored {remote_digest}.",
                    "checksum",
                )
            self.run(["mv", "-f", "--", tmp_path, remote_path]).check()
        except BaseException:
            self.run(["rm", "-f", "--", tmp_path])
            raise
        return digest

    def _put_streamed(self, local_path, remote_path):
        """Upload through `cat` on the remote side, for sudo transports."""
        tmp_path = self._partial_name(remote_path)
        digest = hashlib.sha256()
        with open(local_path, "rb") as source:
            cmd = self.start(["sh", "-c", 'cat > "$1"', "sh", tmp_path])
            try:
                # the result below carries the reason
                with contextlib.suppress(BrokenPipeError):
                    while chunk := source.read(FILE_CHUNK):
                        digest.update(chunk)
                        cmd.stdin.write(chunk)
            except BaseException:
                cmd.kill()
                cmd.wait()
                raise
        result = cmd.wait()
        if not result.ok:
            self.run(["rm", "-f", "--", tmp_path])
            raise RemoteError(
                f"Upload to {remote_path} on {self.label} failed: "
                f"{result.stderr_tail(3) or f'exit code {result.exit_code}'}",
                "transfer_failed",
            )
        return self._commit_upload(tmp_path, remote_path, digest.hexdigest())

    def _get_streamed(self, remote_path, local_path):
        """Download through `cat` on the remote side, for sudo transports."""
        expected = self.sha256(remote_path)
        digest = hashlib.sha256()
        tmp_path = f"{local_path}.dm-part-{_secrets.token_hex(4)}"
        try:
            with _open_new(tmp_path) as target:
                cmd = self.start(["cat", "--", remote_path])
                try:
                    while data := cmd.stdout_read(FILE_CHUNK):
                        digest.update(data)
                        target.write(data)
                except BaseException:
                    cmd.kill()
                    cmd.wait()
                    raise
            result = cmd.wait()
            if not result.ok:
                raise RemoteError(
                    f"Download of {remote_path} from {self.label} failed: "
                    f"{result.stderr_tail(3) or f'exit code {result.exit_code}'}",
                    "transfer_failed",
                )
            return _finish_download(
                tmp_path, local_path, expected, digest.hexdigest(), self.label
            )
        finally:
            _remove_quietly(tmp_path)


def _open_new(path, mode=0o600):
    """Create a file that must not exist yet. Downloads default to the
    manager's user only: they are usually backups, which hold every secret
    of the database."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    return os.fdopen(fd, "wb")


def _remove_quietly(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(FILE_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _finish_download(tmp_path, local_path, expected, received, label):
    stored = file_sha256(tmp_path)
    if not expected == received == stored:
        raise RemoteError(
            f"Checksum mismatch downloading to {local_path} from {label}: "
            f"source {expected}, received {received}, stored {stored}.",
            "checksum",
        )
    os.replace(tmp_path, local_path)
    return stored
