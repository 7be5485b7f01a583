"""A stream between two SSH hosts through two OpenSSH clients.

``ssh src cmd`` writes into one OS pipe, ``ssh dst cmd`` reads from another,
and the manager moves the data from the first to the second with
``splice(2)``: the kernel moves the pages, this process only counts them
(the GIL is released during each call). The relay, not a single shared
pipe, keeps the guarantee the paramiko pipe gives: the destination sees the
end of its input only once the source has succeeded; when the source fails
or the stream is cancelled, the destination is killed first.

Both commands are connected before either starts: each waits for its
go-ahead (see ``openssh.py``), sent only once both hosts have answered with
the expected host key. A wrong key on either side therefore runs nothing
anywhere.
"""

import contextlib
import fcntl
import os
import select
import threading
import time

from .errors import ConnectError
from .openssh import OpenSshCommand
from .result import PipeResult
from .transport import HEARTBEAT_INTERVAL
from .validation import validate_argv, validate_env

# The pipes between the clients and the relay: a larger buffer means fewer
# calls (1 MiB is Linux's default ceiling for an unprivileged process).
PIPE_SIZE = 1 << 20
_POLL_MS = 200
# How long a source may take to end once its destination has.
SOURCE_GRACE = 1.0
# What the manager reads of a client's output before its command starts: a
# login script's chatter, then the process group line.
_MARKER_LIMIT = 1 << 16


def _grow(fd):
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)


class _Stream:
    def __init__(self, on_progress, cancel_event, timeout, src_feed=None):
        self.src_feed = src_feed
        self.on_progress = on_progress
        self.cancel_event = cancel_event
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.next_report = time.monotonic() + HEARTBEAT_INTERVAL
        self.copied = 0
        self.source = self.target = None
        self.fds = []
        self.relay_in = self.relay_out = None
        self.drainer = None

    # -- helpers -----------------------------------------------------------

    def _fd(self, fd):
        self.fds.append(fd)
        return fd

    def _close(self, fd):
        if fd == self.relay_in and self.drainer is not None:
            # Ends with the source's client, which is stopped by then.
            self.drainer.join()
        if fd in self.fds:
            self.fds.remove(fd)
            with contextlib.suppress(OSError):
                os.close(fd)

    def _beat(self):
        if self.on_progress is not None and time.monotonic() >= self.next_report:
            self.next_report = time.monotonic() + HEARTBEAT_INTERVAL
            self.on_progress(self.copied)

    def _interrupted(self):
        """True (both sides stopped) on a cancel or past the deadline."""
        cancelled = self.cancel_event is not None and self.cancel_event.is_set()
        late = self.deadline is not None and time.monotonic() >= self.deadline
        if not (cancelled or late):
            return False
        self._stop_source(timed_out=late and not cancelled)
        self.target.stop(timed_out=late and not cancelled)
        return True

    def _stop_source(self, timed_out=False):
        """Stop the source, its output read and dropped meanwhile: a client
        blocked writing into a full pipe would never exit."""
        self._drain()
        self.source.stop(timed_out=timed_out)

    def _drain(self):
        if self.drainer is not None or self.relay_in not in self.fds:
            return
        fd = self.relay_in

        def drain():
            os.set_blocking(fd, True)
            with contextlib.suppress(OSError):
                while os.read(fd, 1 << 16):
                    pass

        self.drainer = threading.Thread(target=drain, name="dm-ossh-drain")
        self.drainer.daemon = True
        self.drainer.start()

    def _wait(self, command):
        """Wait for a client to exit, beating and honouring a cancel."""
        while not command.wait(_POLL_MS / 1000):
            if self._interrupted():
                return
            self._beat()

    # -- the stream --------------------------------------------------------

    def run(self, clients, src_argv, dst_argv, src_env, dst_env, secrets):
        src_client, dst_client = clients
        relay_in, source_out = os.pipe()
        self.relay_in = self._fd(relay_in)
        self._fd(source_out)
        target_in, relay_out = os.pipe()
        self.relay_out = self._fd(relay_out)
        self._fd(target_in)
        _grow(relay_in)
        _grow(relay_out)
        self.source = OpenSshCommand(
            src_client, src_argv, src_env, secrets, stdout_fd=source_out
        )
        self.source.marker_fd = relay_in
        self._close(source_out)
        self.target = OpenSshCommand(
            dst_client, dst_argv, dst_env, secrets, stdin_fd=target_in
        )
        self._close(target_in)
        if not self._start(max(src_client.start_timeout, dst_client.start_timeout)):
            return self._results()
        self._relay()
        return self._results()

    def _start(self, timeout):
        """Both clients connected and their commands waiting, then the
        go-ahead to both; False (nothing ran) when a side did not start."""
        deadline = time.monotonic() + timeout
        pending = {
            self.source.marker_fd: self.source,
            self.target.marker_fd: self.target,
        }
        seen = dict.fromkeys(pending, b"")
        first = {}
        failed = None
        poller = select.poll()
        for fd in pending:
            poller.register(fd, select.POLLIN)
        while pending and failed is None:
            if self._interrupted():
                return False
            if time.monotonic() >= deadline:
                failed = "timeout"
                break
            for fd, _event in poller.poll(_POLL_MS):
                command = pending[fd]
                data = os.read(fd, _MARKER_LIMIT)
                seen[fd] += data
                rest = command.take_marker(seen[fd])
                if rest is not None:
                    first[command] = rest
                    del pending[fd]
                    poller.unregister(fd)
                elif not data or len(seen[fd]) > _MARKER_LIMIT:
                    failed = command
                    break
        if failed is not None:
            self._abandon(failed)
            if failed == "timeout":
                raise ConnectError(
                    f"The commands did not start within {timeout:g} seconds.",
                    "timeout",
                )
            error = failed.start_error()
            if error is not None:
                raise error
            return False
        # Both clients have authenticated: the key is needed no more.
        self.source.client.forget_key()
        self.target.client.forget_key()
        self.target.capture_stdout(first[self.target])
        self.target.go_ahead(self.relay_out)
        self.source.go_ahead(feed=self.src_feed)
        # Before its go-ahead the source printed nothing after its line.
        if first[self.source]:
            os.write(self.relay_out, first[self.source])
        return True

    def _abandon(self, failed):
        """Neither command gets its go-ahead: both wrappers end without
        running anything (a client still connecting is killed)."""
        self.source.abandon()
        self._close(self.relay_out)
        for command in (self.source, self.target):
            if command is not failed:
                command.stopped = True
                command.result.cancelled = True
            if not command.wait(2.0):
                command.stop()
        for command in (self.source, self.target):
            command.finish()

    def _relay(self):
        relay_in, relay_out = self.relay_in, self.relay_out
        os.set_blocking(relay_in, False)
        os.set_blocking(relay_out, False)
        flags = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
        readable = writable = False
        target_gone = False
        while True:
            if self._interrupted():
                return
            if self.target.exited():
                target_gone = True
                break
            if not (readable and writable):
                poller = select.poll()
                if not readable:
                    poller.register(relay_in, select.POLLIN)
                if not writable:
                    poller.register(relay_out, select.POLLOUT)
                for fd, _event in poller.poll(_POLL_MS):
                    if fd == relay_in:
                        readable = True
                    else:
                        writable = True
            if readable and writable:
                try:
                    moved = os.splice(relay_in, relay_out, PIPE_SIZE, flags=flags)
                except BlockingIOError:
                    readable = writable = False
                    continue
                except BrokenPipeError:
                    target_gone = True
                    break
                if not moved:
                    break
                self.copied += moved
            self._beat()
        if target_gone:
            # The destination stopped reading (tar stops at the end of its
            # archive, before the source's client is done): a source that is
            # not ending is stopped, for nobody reads it any more.
            self._drain()
            if not self.source.wait(SOURCE_GRACE):
                self._stop_source()
            return
        self._wait(self.source)
        self.source.finish()
        if self.source.result.ok:
            # Only now may the destination see the end of its input.
            self._close(relay_out)
        else:
            self.target.stop()
        self._wait(self.target)

    def _results(self):
        for command in (self.source, self.target):
            command.finish()
        for command in (self.source, self.target):
            if command.lost:
                raise command.lost_error()
        if self.on_progress is not None:
            self.on_progress(self.copied)
        self.source.result.stdout.count_unseen(self.copied)
        return PipeResult(
            self.copied, self.source.result, self.target.result, via="openssh"
        )

    def cleanup(self):
        """After an error: nothing left running, every descriptor closed."""
        for command in (self.source, self.target):
            if command is not None:
                # The original error matters more than one from the stop.
                with contextlib.suppress(Exception):
                    if command is self.source:
                        self._stop_source()
                    else:
                        command.stop()
                    command.finish()
        for fd in list(self.fds):
            self._close(fd)


def stream_openssh(
    clients,
    src_argv,
    dst_argv,
    *,
    on_progress=None,
    src_env=None,
    dst_env=None,
    secrets=(),
    cancel_event=None,
    timeout=None,
    src_feed=None,
):
    """``pipe()`` between two SSH hosts through ``clients`` (two
    ``OpenSshClient``): same arguments, same PipeResult, ``via`` "openssh";
    ``src_feed`` (pipe's ``_Feed``) writes the source's input."""
    src_argv = validate_argv(src_argv)
    dst_argv = validate_argv(dst_argv)
    src_env = validate_env(src_env)
    dst_env = validate_env(dst_env)
    secrets = tuple(secrets or ())
    stream = _Stream(on_progress, cancel_event, timeout, src_feed)
    src_client, dst_client = clients
    with src_client, dst_client:
        try:
            result = stream.run(clients, src_argv, dst_argv, src_env, dst_env, secrets)
        except BaseException:
            stream.cleanup()
            raise
        for fd in list(stream.fds):
            stream._close(fd)
        return result
