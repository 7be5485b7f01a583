"""Long commands that outlive the Odoo worker that started them.

A backup or a module upgrade can take an hour; the worker may be restarted,
or the SSH link may drop, in the meantime. Such a command runs in a session
of its own on the target host, with its output, process group and exit code
in files of a run directory, so any later worker can find out how it ended.
"""

import json
import posixpath
import time
from dataclasses import dataclass

from .capture import format_excerpt
from .errors import InvalidInput, RemoteError
from .masking import display_argv, mask
from .transport import GROUP_ALIVE_SH
from .validation import validate_argv, validate_path
from .workdir import WORK_DIR_SH, check_work_dir_result

# Runs the command and records its fate. The trap keeps this shell alive
# when the group gets SIGTERM (cancel), so it still writes the exit code;
# caught signals are reset on exec, so the command itself still dies.
# Its process group is recorded before anything else, with ln: a link is
# made whole or not at all, and never over an existing file. A launch closed
# by abandon_detached holds that name already, and the command then never
# starts; nor does one whose start could not be recorded.
# Even before that, it locks the file "lock" (flock) for as long as it
# lives: a poll waiting for the end (dm_wait_end) gets the lock the moment
# this shell exits, reaped or not. The command does not inherit the lock's
# descriptor, so what it leaves running (a service it starts) cannot keep it.
_RUNNER = """\
d=$1; shift
trap 'dm_signalled=1' HUP INT TERM
command exec 9>> "$d/lock" && flock -n 9
echo $$ > "$d/pgid.tmp" && ln -- "$d/pgid.tmp" "$d/pgid" || exit 0
rm -f -- "$d/pgid.tmp"
"$@" > "$d/stdout" 2> "$d/stderr" < /dev/null 9>&-
rc=$?
echo "$rc" > "$d/exit_code.tmp" && mv -f -- "$d/exit_code.tmp" "$d/exit_code"
"""

# setsid -f rather than "&": an asynchronous list of a non-interactive shell
# starts with SIGINT ignored, and the command would inherit that.
# The work directory is checked first (see workdir.py): the exit code and
# process group read back later are only as trustworthy as the directory.
_LAUNCHER = """\
r=$1; w=$2; d=$3; shift 3
dm_work_dir "$w" || exit 90
mkdir -m 700 -- "$d" || exit 91
cat > "$d/argv.json" || exit 92
setsid -f sh -c "$r" sh "$d" "$@" < /dev/null > /dev/null 2>&1 || exit 93
i=0
while [ ! -s "$d/pgid" ]; do
  i=$((i + 1))
  if [ "$i" -gt 1000 ]; then echo "the command did not start" >&2; exit 94; fi
  sleep 0.01
done
read -r pg < "$d/pgid"
if [ "$pg" = abandoned ]; then
  echo "this launch was closed before the command started" >&2; exit 94
fi
echo "$pg"
"""

# Poll and cancel read a process group and an exit code from the run
# directory, and cancel kills that group: a run directory that is a link,
# or that another user owns, is refused before anything is read. A missing
# one is not "unsafe": its launch never got that far (see _POLL).
_RUN_DIR_SH = """\
dm_run_dir_ok() {
  if [ -L "$1" ] || { [ -e "$1" ] && [ ! -O "$1" ]; }; then
    printf 'dm-run-dir-unsafe %s\\n' "$(stat -c '%u %U %a' -- "$1")" >&2
    return 1
  fi
}
"""

# dm_wait_end DIR SECONDS: return once the runner has ended (it wrote the
# exit code), or after SECONDS. The runner holds the lock of DIR/lock until
# it exits, so flock gets it at that moment, without polling. Got at once
# with no exit code written, the lock is not the runner's (one started by
# an earlier version, or a host without flock) or the runner was killed:
# then a plain sleep, as before.
_WAIT_END_SH = """\
dm_wait_end() {
  if flock -w "$2" "$1/lock" true 2> /dev/null; then
    [ -f "$1/exit_code" ] || sleep "$2"
  elif [ "$?" -ne 1 ]; then
    sleep "$2"
  fi
}
"""

# One round trip reports the state and both output excerpts. Sizes come
# first and at most head+tail bytes follow each, so the reader can split
# the stream even while the files keep growing. Without a process group
# (the runner's first record) the command never ran: "not_started", which
# a missing output file or run directory no longer turns into a failure.
# With a wait ($5, seconds, not 0) it first waits, on the host, for a
# running command to end, at most that long: its end is reported at once,
# not at the next poll.
_POLL = """\
d=$1; lim=$2; h=$3; t=$4; w=$5
dm_run_dir_ok "$d" || exit 95
if [ "$w" != 0 ] && [ ! -f "$d/exit_code" ] && [ -s "$d/pgid" ] &&
  [ "$(cat -- "$d/pgid")" != abandoned ]; then
  dm_wait_end "$d" "$w"
fi
pg=-
if [ -f "$d/exit_code" ]; then
  state=done
elif [ ! -e "$d/pgid" ]; then
  state=not_started
else
  pg=$(cat -- "$d/pgid")
  case $pg in
    abandoned) state=not_started ;;
    ''|*[!0-9]*) state=lost; pg=- ;;
    *)
      if dm_alive "$pg"; then
        state=running
      elif [ -f "$d/exit_code" ]; then
        state=done
      else
        state=lost
      fi
      ;;
  esac
fi
code=-
if [ "$state" = done ]; then code=$(cat -- "$d/exit_code"); fi
if [ -f "$d/cancelled" ]; then c=1; else c=0; fi
printf '%s %s %s %s\\n' "$state" "$c" "$code" "$pg"
for f in stdout stderr; do
  n=0
  if [ -f "$d/$f" ]; then n=$(wc -c < "$d/$f"); fi
  printf '%s\\n' "$n"
  if [ "$n" -eq 0 ]; then
    :
  elif [ "$n" -le "$lim" ]; then
    head -c "$n" -- "$d/$f"
  else
    head -c "$h" -- "$d/$f"
    tail -c "$t" -- "$d/$f"
  fi
done
"""

_CANCEL = """\
d=$1
dm_run_dir_ok "$d" || exit 95
if [ -f "$d/exit_code" ]; then exit 0; fi
pg=$(cat -- "$d/pgid" 2>/dev/null)
case $pg in ''|*[!0-9]*) echo "no process group recorded in $d" >&2; exit 3 ;; esac
: > "$d/cancelled"
kill -TERM -"$pg" 2>/dev/null || exit 0
i=0
while dm_alive "$pg"; do
  i=$((i + 1))
  if [ "$i" -ge 30 ]; then kill -KILL -"$pg" 2>/dev/null; sleep 0.2; break; fi
  sleep 0.1
done
if [ ! -f "$d/exit_code" ]; then
  echo 137 > "$d/exit_code.tmp" && mv -f -- "$d/exit_code.tmp" "$d/exit_code"
fi
"""

# Closes a launch that never completed. A missing run directory is made,
# so a launch still under way fails to make it (exit 91) and stops. In an
# existing one, "pgid" is taken with ln as the runner takes it: exactly one
# of the two gets it, and a runner that does not never runs the command.
_ABANDON = """\
w=$1; d=$2
dm_work_dir "$w" || exit 90
if mkdir -m 700 -- "$d" 2> /dev/null; then found=never_made; else found=not_started; fi
dm_run_dir_ok "$d" || exit 95
echo abandoned > "$d/abandoned" || exit 96
if ln -- "$d/abandoned" "$d/pgid"; then echo "$found"; exit 0; fi
pg=$(cat -- "$d/pgid") || exit 97
if [ "$pg" = abandoned ]; then echo "$found"; else echo started; fi
"""


@dataclass
class DetachedHandle:
    run_dir: str
    pgid: int


@dataclass
class DetachedStatus:
    """What poll_detached found. ``state`` is one of:

    - "running": its process group is alive;
    - "done": it ended, with ``exit_code``;
    - "lost": it started (``pgid``, when known) but its processes are gone
      and it left no exit code: how it ended is unknown;
    - "not_started": its launch never completed, so the command never ran:
      no run directory, or one without a process group (the runner records
      it before anything else), or a launch closed by abandon_detached.
    """

    state: str
    exit_code: int | None
    stdout_excerpt: str
    stderr_excerpt: str
    stdout_bytes: int
    stderr_bytes: int
    cancelled: bool = False
    pgid: int | None = None

    @property
    def ok(self):
        return self.state == "done" and self.exit_code == 0 and not self.cancelled


def _check_run_dir(run_dir):
    validate_path(run_dir, "run_dir")
    if run_dir == "/":
        raise InvalidInput("run_dir", run_dir, "a dedicated directory is required")
    return run_dir


def start_detached(transport, argv, run_dir, *, env=None, secrets=()):
    """Start argv in its own session on the transport's host.

    run_dir must not exist yet: one directory per run, so an old exit code
    can never be mistaken for the new command's. Its parent is the work
    directory: created private if missing, refused (UnsafeWorkDir) if a user
    other than root or the one commands run as could change it. ``env``
    reaches the command without appearing on any command line; ``secrets``
    are masked in the recorded argv.json.
    """
    _check_run_dir(run_dir)
    work_dir = posixpath.dirname(run_dir)
    argv = validate_argv(argv)
    record = {
        "argv": [mask(arg, secrets) for arg in argv],
        "display": display_argv(argv, secrets),
        "host": transport.label,
        "started_at": time.time(),
    }
    result = transport.run(
        ["sh", "-c", WORK_DIR_SH + _LAUNCHER, "sh", _RUNNER, work_dir, run_dir, *argv],
        stdin_data=json.dumps(record).encode(),
        env=env,
        secrets=secrets,
        timeout=60,
    )
    if result.exit_code == 90:
        check_work_dir_result(result, work_dir, transport.label)
    if result.exit_code == 91:
        raise RemoteError(
            f"The run directory {run_dir} already exists on {transport.label}; "
            "each detached command needs a new one.",
            "run_dir_exists",
        )
    pgid_text = result.stdout.text().strip()
    if not result.ok or not pgid_text.isdigit():
        raise RemoteError(
            f"Could not start `{record['display']}` detached on "
            f"{transport.label}: "
            f"{result.stderr_tail(5) or f'exit code {result.exit_code}'}",
            "detached_start_failed",
        )
    return DetachedHandle(run_dir, int(pgid_text))


def _check_run_dir_result(result, run_dir, host):
    """Raise if poll or cancel refused the run directory (exit 95)."""
    if result.exit_code != 95:
        return
    owner = ""
    for line in result.stderr.excerpt().splitlines():
        words = line.split()
        if len(words) == 4 and words[0] == "dm-run-dir-unsafe":
            uid, user, mode = words[1:]
            owner = f" (owner {user}, uid {uid}, mode {mode.zfill(4)})"
    raise RemoteError(
        f"The run directory {run_dir} on {host} is a symbolic link or is not "
        f"owned by the user commands run as{owner}: the exit code and process "
        "group recorded in it cannot be trusted, so nothing was read from it "
        "or signalled.",
        "run_dir_unsafe",
    )


def _take_line(data, pos):
    end = data.index(b"\n", pos)
    return data[pos:end].decode("ascii", errors="replace"), end + 1


def poll_detached(transport, run_dir, *, head_limit=32768, tail_limit=32768, wait=0):
    """The state of a detached command and excerpts of its output.

    With ``wait`` (seconds), a command still running is first waited for
    on its host, that long at most: the status comes back as soon as it
    ends.
    """
    _check_run_dir(run_dir)
    limit = head_limit + tail_limit
    wait = round(max(0.0, min(wait, MAX_POLL_WAIT)), 3)
    result = transport.run(
        [
            "sh",
            "-c",
            GROUP_ALIVE_SH + _RUN_DIR_SH + _WAIT_END_SH + _POLL,
            "sh",
            run_dir,
            str(limit),
            str(head_limit),
            str(tail_limit),
            f"{wait:g}" if wait else "0",
        ],
        timeout=60 + wait,
    )
    _check_run_dir_result(result, run_dir, transport.label)
    data = result.stdout.full_bytes()
    try:
        if not result.ok or data is None:
            raise ValueError("poll failed")
        header, pos = _take_line(data, 0)
        state, cancelled, code, pgid = header.split(" ")
        streams = []
        for _ in range(2):
            size_text, pos = _take_line(data, pos)
            size = int(size_text.strip())
            if size <= limit:
                head, tail = data[pos : pos + size], b""
                pos += size
            else:
                head = data[pos : pos + head_limit]
                tail = data[pos + head_limit : pos + limit]
                pos += limit
            streams.append(
                (format_excerpt(head, tail, size - len(head) - len(tail)), size)
            )
    except ValueError:
        raise RemoteError(
            f"Could not read the state of the detached command in {run_dir} on "
            f"{transport.label}: "
            f"{result.stderr_tail(5) or f'exit code {result.exit_code}'}",
            "poll_failed",
        ) from None
    exit_code = int(code) if code.isdigit() else None
    return DetachedStatus(
        state=state,
        exit_code=exit_code,
        stdout_excerpt=streams[0][0],
        stderr_excerpt=streams[1][0],
        stdout_bytes=streams[0][1],
        stderr_bytes=streams[1][1],
        cancelled=cancelled == "1",
        pgid=int(pgid) if pgid.isdigit() else None,
    )


# A poll never blocks longer than this, whatever the caller's interval.
MAX_POLL_WAIT = 30


def wait_detached(
    transport,
    run_dir,
    *,
    poll_interval=1.0,
    timeout=None,
    on_poll=None,
    cancel_event=None,
):
    """Poll until the command is no longer running (or never started).

    Each poll first waits on the host, up to ``poll_interval`` seconds, for
    the command to end, and comes back as soon as it does: a service stop
    or start, an install of a few modules end within seconds, and each
    tenth of a second lost seeing their end is downtime on a deployment day.
    ``poll_interval`` is how often ``on_poll`` is called and
    ``cancel_event`` looked at.
    Past ``timeout`` seconds the last status (still "running") is returned
    and the command keeps running; with ``cancel_event`` set it is cancelled.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        wait = poll_interval
        if deadline is not None:
            wait = max(0, min(wait, deadline - time.monotonic()))
        status = poll_detached(transport, run_dir, wait=wait)
        if on_poll is not None:
            on_poll(status)
        if status.state != "running":
            return status
        if cancel_event is not None and cancel_event.is_set():
            return cancel_detached(transport, run_dir)
        if deadline is not None and time.monotonic() >= deadline:
            return status


def cancel_detached(transport, run_dir):
    """TERM the command's process group, KILL it after 3 s; return the
    resulting status (done, cancelled)."""
    _check_run_dir(run_dir)
    result = transport.run(
        ["sh", "-c", GROUP_ALIVE_SH + _RUN_DIR_SH + _CANCEL, "sh", run_dir],
        timeout=60,
    )
    _check_run_dir_result(result, run_dir, transport.label)
    if not result.ok:
        raise RemoteError(
            f"Could not cancel the detached command in {run_dir} on "
            f"{transport.label}: "
            f"{result.stderr_tail(5) or f'exit code {result.exit_code}'}",
            "cancel_failed",
        )
    return poll_detached(transport, run_dir)


# What abandon_detached found. Either way but STARTED, the command never ran
# and now never will from that run directory.
NEVER_MADE = "never_made"  # the run directory did not exist
NOT_STARTED = "not_started"  # it existed, without a process group
STARTED = "started"  # the launch won the race: the command runs after all


def abandon_detached(transport, run_dir):
    """Give up, for good, a launch that poll_detached reports "not_started".

    The worker that launched it may have died, or its link dropped, while
    the launch still goes on on the host: afterwards the command can never
    start from ``run_dir``, so it may be launched again in a new one. The
    run directory stays as the proof (the host's cleanup of old leftovers
    removes it): removed, a launch still under way could make it again.

    Returns NEVER_MADE or NOT_STARTED, what it found; or STARTED when the
    launch recorded its process group first and the command runs after
    all: wait for it then, never launch it again.
    """
    _check_run_dir(run_dir)
    work_dir = posixpath.dirname(run_dir)
    result = transport.run(
        ["sh", "-c", WORK_DIR_SH + _RUN_DIR_SH + _ABANDON, "sh", work_dir, run_dir],
        timeout=60,
    )
    if result.exit_code == 90:
        check_work_dir_result(result, work_dir, transport.label)
    _check_run_dir_result(result, run_dir, transport.label)
    found = result.stdout.text().strip()
    if not result.ok or found not in (NEVER_MADE, NOT_STARTED, STARTED):
        raise RemoteError(
            f"Could not close the unfinished launch in {run_dir} on "
            f"{transport.label}: "
            f"{result.stderr_tail(5) or f'exit code {result.exit_code}'}",
            "abandon_failed",
        )
    return found
