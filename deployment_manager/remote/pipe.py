"""Streaming one command's output into another's input, across hosts.

Used to copy a database dump or a filestore archive from production to
staging without a temporary file; it is never held whole in memory.

Between two SSH hosts the stream goes through two OpenSSH clients
(``openssh.py``) whose pipes the kernel joins (``splice``): the manager
counts the bytes and decides when the destination may see the end of its
input, but never copies them. Otherwise (a local side, no ``ssh`` client, a
key OpenSSH cannot use) the data flows through the manager's Python in
chunks, read from one transport and written to the other.
"""

import contextlib
import threading
import time

from .errors import RemoteError
from .openssh import openssh_pair
from .openssh_pipe import stream_openssh
from .result import PipeResult
from .transport import HEARTBEAT_INTERVAL

__all__ = ["PipeResult", "pipe"]

# How long pipe() waits, once the stream has ended, for the thread that
# wrote the source's input (it ends when the source's input closes).
FEED_JOIN = 5.0


class _Either:
    """Set when either event is (what the streams poll as their cancel)."""

    def __init__(self, first, second):
        self.events = [event for event in (first, second) if event is not None]

    def is_set(self):
        return any(event.is_set() for event in self.events)


class _Feed:
    """Writes ``chunks`` (an iterable of bytes) into a started command's
    standard input from a thread of its own, then ends that input.

    When reading ``chunks`` raises, the input is left open and ``failed``
    is set: the stream stops the command (as on a cancel) before it could
    take what it received for the whole of its input, and ``pipe`` raises
    the error. A command that stops reading ends the feed quietly: its own
    exit status says why.
    """

    def __init__(self, chunks):
        self.chunks = chunks
        self.error = None
        self.failed = threading.Event()
        self.thread = None

    def start(self, write, close):
        def feed():
            try:
                for data in self.chunks:
                    try:
                        write(data)
                    except (RemoteError, OSError, EOFError, ValueError):
                        break
            except Exception as error:  # noqa: BLE001 - raised again by pipe()
                self.error = error
                self.failed.set()
                return
            with contextlib.suppress(RemoteError, OSError, EOFError, ValueError):
                close()

        self.thread = threading.Thread(target=feed, name="dm-pipe-feed", daemon=True)
        self.thread.start()

    def check(self):
        """Once the stream has ended: the error that stopped the feed."""
        if self.thread is not None:
            self.thread.join(FEED_JOIN)
        if self.error is not None:
            raise self.error


def _stop(command, timed_out=False):
    if not command.exited():
        if timed_out:
            command.result.timed_out = True
            command.result.timeout_kind = "total"
        command.kill()


def pipe(
    src,
    src_argv,
    dst,
    dst_argv,
    *,
    on_progress=None,
    chunk=1 << 20,
    src_env=None,
    dst_env=None,
    secrets=(),
    cancel_event=None,
    timeout=None,
    openssh=None,
    src_stdin=None,
):
    """Copy the stdout of ``src_argv`` (on ``src``) into the stdin of
    ``dst_argv`` (on ``dst``); ``on_progress(bytes_copied)`` is called at
    most every 0.5 s and once at the end.

    When the source fails, the destination is killed before it sees the
    end of its input, so it cannot take a truncated stream for a complete
    one. When the destination stops reading, the source is killed. A
    cancel (``cancel_event``) or ``timeout`` seconds past kill both; the
    results say so. A link that drops raises ConnectionLost (its ``pgid``
    is the command that may still run on that host).

    ``src_stdin``: an iterable of bytes written to the source command's
    standard input once it runs, which then ends (else that input is empty).
    If iterating it raises, the source is stopped before its input ends,
    so it never takes part of its input for the whole of it, the
    destination with it, and the error is raised once both have stopped.

    ``openssh``: None streams through the OpenSSH client when both sides
    allow it (see :func:`.openssh.usable`), False always through this
    process, True only through the OpenSSH client (else RemoteError).
    """
    clients = None if openssh is False else openssh_pair(src, dst)
    if clients is None and openssh:
        raise RemoteError(
            f"The OpenSSH client cannot stream from {src.label} to {dst.label}: "
            "it needs the ssh program and, on both sides, an SSH host with a "
            "pinned host key and a private key without passphrase.",
            "openssh_unavailable",
        )
    feed = None
    if src_stdin is not None:
        feed = _Feed(src_stdin)
        cancel_event = _Either(cancel_event, feed.failed)
    if clients is not None:
        result = stream_openssh(
            clients,
            src_argv,
            dst_argv,
            on_progress=on_progress,
            src_env=src_env,
            dst_env=dst_env,
            secrets=secrets,
            cancel_event=cancel_event,
            timeout=timeout,
            src_feed=feed,
        )
    else:
        result = _through_manager(
            (src, src_argv, src_env),
            (dst, dst_argv, dst_env),
            on_progress=on_progress,
            chunk=chunk,
            secrets=secrets,
            cancel_event=cancel_event,
            timeout=timeout,
            feed=feed,
        )
    if feed is not None:
        feed.check()
    return result


def _start_both(src, dst, secrets, feed):
    """Both commands started (the source's input fed), or neither left."""
    source = src[0].start(src[1], env=src[2], secrets=secrets)
    try:
        target = dst[0].start(dst[1], env=dst[2], secrets=secrets)
    except BaseException:
        source.kill()
        source.wait()
        raise
    if feed is not None:
        feed.start(source.stdin.write, source.close_stdin)
    return source, target


def _through_manager(
    src, dst, *, on_progress, chunk, secrets, cancel_event, timeout, feed=None
):
    """The stream read from one transport and written to the other by this
    process; ``src`` and ``dst`` are (transport, argv, env)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    source, target = _start_both(src, dst, secrets, feed)

    finished = threading.Event()

    # The main loop may be blocked reading a silent source: this notices a
    # destination that died or a cancellation meanwhile.
    def watch():
        while not finished.wait(0.2):
            if cancel_event is not None and cancel_event.is_set():
                _stop(source)
                _stop(target)
                return
            if deadline is not None and time.monotonic() >= deadline:
                _stop(source, timed_out=True)
                _stop(target, timed_out=True)
                return
            if target.exited():
                _stop(source)
                return

    watchdog = threading.Thread(target=watch, name="dm-pipe-watch", daemon=True)
    watchdog.start()
    copied = 0
    target_broken = False
    next_report = time.monotonic() + HEARTBEAT_INTERVAL
    try:
        while True:
            data = source.stdout_read(chunk)
            if not data:
                break
            try:
                target.stdin.write(data)
            except BrokenPipeError:
                target_broken = True
                break
            copied += len(data)
            if on_progress is not None and time.monotonic() >= next_report:
                next_report = time.monotonic() + HEARTBEAT_INTERVAL
                on_progress(copied)
        if target_broken:
            _stop(source)
        src_result = source.wait()
        finished.set()
        watchdog.join()
        if src_result.ok and not target_broken:
            target.close_stdin()
        else:
            _stop(target)
        dst_result = target.wait()
    except BaseException:
        finished.set()
        for command in (source, target):
            # The original error matters more than one from the cleanup.
            with contextlib.suppress(RemoteError, OSError, EOFError):
                _stop(command)
                command.wait()
        raise
    if on_progress is not None:
        on_progress(copied)
    return PipeResult(copied, src_result, dst_result)
