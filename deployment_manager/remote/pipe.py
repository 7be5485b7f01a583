"""Streaming one command's output into another's input, across hosts.

Used to copy a database dump or a filestore archive from production to
staging without a temporary file: the data flows through the manager in
chunks and is never held whole in memory.
"""

import contextlib
import threading
import time
from dataclasses import dataclass

from .errors import CommandFailed, RemoteError
from .result import CommandResult
from .transport import HEARTBEAT_INTERVAL


@dataclass
class PipeResult:
    bytes_copied: int
    src: CommandResult
    dst: CommandResult

    @property
    def ok(self):
        return self.src.ok and self.dst.ok

    def check(self):
        """Return self if both sides succeeded, else raise CommandFailed for
        the side that failed first (the source, when both did)."""
        for result in (self.src, self.dst):
            if not result.ok:
                raise CommandFailed(result)
        return self


def _stop(command):
    if not command.exited():
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
):
    """Copy the stdout of ``src_argv`` (on ``src``) into the stdin of
    ``dst_argv`` (on ``dst``); ``on_progress(bytes_copied)`` is called at
    most every 0.5 s and once at the end.

    When the source fails, the destination is killed before it sees the
    end of its input, so it cannot take a truncated stream for a complete
    one. When the destination stops reading, the source is killed.
    """
    source = src.start(src_argv, env=src_env, secrets=secrets)
    try:
        target = dst.start(dst_argv, env=dst_env, secrets=secrets)
    except BaseException:
        source.kill()
        source.wait()
        raise

    finished = threading.Event()

    # The main loop may be blocked reading a silent source: this notices a
    # destination that died or a cancellation meanwhile.
    def watch():
        while not finished.wait(0.2):
            if cancel_event is not None and cancel_event.is_set():
                _stop(source)
                _stop(target)
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
