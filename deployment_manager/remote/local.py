"""Commands on the manager's own machine, for single-server setups."""

import contextlib
import hashlib
import os
import select
import signal
import subprocess
import threading

from .errors import RemoteError
from .transport import (
    FILE_CHUNK,
    Transport,
    _finish_download,
    _open_new,
    _Process,
    _remove_quietly,
    file_sha256,
    group_has_live_members,
)
from .validation import validate_path


class _LocalProcess(_Process):
    def __init__(self, argv, env):
        full_env = dict(os.environ)
        full_env.update(env)
        # A session of its own: os.killpg then reaches every child the
        # command forks, and a signal aimed at the Odoo worker's group never
        # reaches the command.
        self._popen = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            start_new_session=True,
            bufsize=0,
            close_fds=True,
        )
        self.pgid = self._popen.pid
        self._closed = threading.Event()

    def _read(self, stream, n):
        with contextlib.suppress(OSError, ValueError):
            fd = stream.fileno()
            # select with a short timeout so close() can stop a reader even
            # when a process outside the group keeps the pipe open.
            while not self._closed.is_set():
                ready, _, _ = select.select([fd], [], [], 0.2)
                if ready:
                    data = os.read(fd, n)
                    if data:
                        return data
                    break
        stream.close()
        return b""

    def read_stdout(self, n):
        return self._read(self._popen.stdout, n)

    def read_stderr(self, n):
        return self._read(self._popen.stderr, n)

    def write_stdin(self, data):
        view = memoryview(data)
        try:
            while view:
                written = self._popen.stdin.write(view)
                view = view[written:]
        except ValueError:
            raise BrokenPipeError("the command's standard input is closed") from None

    def close_stdin(self):
        with contextlib.suppress(OSError):
            self._popen.stdin.close()

    def wait_exit(self, timeout):
        try:
            self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def exit_code(self):
        return self._popen.poll()

    def signal_group(self, name):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, getattr(signal, f"SIG{name}"))

    def group_alive(self):
        self._popen.poll()
        return group_has_live_members(self.pgid)

    def close(self):
        self._closed.set()
        self.close_stdin()


class _SpawnFailed(_Process):
    """A program that could not be started, reported like a shell would
    (exit 127 / 126) so both transports give the same kind of result."""

    def __init__(self, argv, exc):
        self._code = 127 if isinstance(exc, FileNotFoundError) else 126
        self._stderr = f"{argv[0]}: {exc.strerror or exc}\n".encode()

    def read_stdout(self, n):
        return b""

    def read_stderr(self, n):
        data, self._stderr = self._stderr, b""
        return data

    def write_stdin(self, data):
        raise BrokenPipeError("the command could not be started")

    def close_stdin(self):
        pass

    def wait_exit(self, timeout):
        return True

    def exit_code(self):
        return self._code

    def signal_group(self, name):
        pass

    def group_alive(self):
        return False

    def close(self):
        pass


class LocalTransport(Transport):
    """Runs commands as subprocesses of the Odoo worker."""

    def __init__(self, use_sudo=False, label="local"):
        self.use_sudo = use_sudo
        self.label = label

    def _spawn(self, argv, env):
        argv = self.wrap_argv(argv)
        try:
            return _LocalProcess(argv, env)
        except OSError as exc:
            return _SpawnFailed(argv, exc)

    def put_file(self, local_path, remote_path):
        validate_path(remote_path, "remote_path")
        if self.use_sudo:
            return self._put_streamed(local_path, remote_path)
        return _copy_verified(local_path, remote_path, self.label, private=False)

    def get_file(self, remote_path, local_path):
        validate_path(remote_path, "remote_path")
        if self.use_sudo:
            return self._get_streamed(remote_path, local_path)
        return _copy_verified(remote_path, local_path, self.label, private=True)


def _copy_verified(source_path, target_path, label, private):
    """Copy with sha256 on both ends; the "remote" end is the target for an
    upload (private=False) and the source for a download (private=True)."""
    tmp_path = f"{target_path}.dm-part-{os.urandom(4).hex()}"
    digest = hashlib.sha256()
    try:
        with (
            _remote_side(source_path, label, private),
            open(source_path, "rb") as source,
            _remote_side(target_path, label, not private),
            _open_new(tmp_path, 0o600 if private else 0o666) as target,
        ):
            while chunk := source.read(FILE_CHUNK):
                digest.update(chunk)
                target.write(chunk)
        # The source is hashed again: a file still being written while we
        # copied must not pass as a verified copy.
        return _finish_download(
            tmp_path, target_path, file_sha256(source_path), digest.hexdigest(), label
        )
    finally:
        _remove_quietly(tmp_path)


@contextlib.contextmanager
def _remote_side(path, label, is_remote):
    """Report a failure to open the "remote" end like the SSH transport
    does (RemoteError); the manager's own end fails with plain OSError."""
    try:
        yield
    except OSError as exc:
        if not is_remote:
            raise
        raise RemoteError(
            f"Could not access {path} on {label}: {exc.strerror or exc}.",
            "transfer_failed",
        ) from exc
