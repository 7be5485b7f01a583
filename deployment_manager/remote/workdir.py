"""The work directory on a host: where detached commands keep their run
directories and operations their dumps, logs and uploads.

Root writes there, and reads back exit codes and process groups it then
acts upon. A directory that another user made first (``mkdir -p`` happily
reuses it), or one that others may write in, would let that user forge a
result, swap an uploaded file between its checksum and its use, or plant a
symbolic link where root writes. So the directory is created private (mode
0700), and before every use it, and each directory above it, are checked:
only root or the user commands run as may be able to change them.
"""

from .errors import RemoteError
from .validation import validate_path

# dm_work_dir DIR: check DIR and every directory above it, create DIR if
# missing (mode 700; missing parents with the usual modes), check again.
# Nothing is created under a directory that fails the check. A refusal
# writes one line on stderr, read by parse_refusal():
#   dm-work-dir-unsafe PROBLEM UID USER MY_UID MODE PATH
# Paths are validated (absolute, normalised), so ${p%/*} is the parent.
WORK_DIR_SH = """\
dm_refuse() {
  printf 'dm-work-dir-unsafe %s %s %s %s %04o %s\\n' \\
    "$1" "$2" "$3" "$dm_me" "$(($4 & 07777))" "$5" >&2
  return 1
}
dm_check_up() {
  dm_p=$dm_w
  while :; do
    if [ -e "$dm_p" ] || [ -L "$dm_p" ]; then
      dm_check_one || return
    fi
    [ "$dm_p" = / ] && return 0
    dm_p=${dm_p%/*}
    dm_p=${dm_p:-/}
  done
}
dm_check_one() {
  # uid, mode (hex, with the file type) and owner of the entry itself
  dm_s=$(stat -c '%u %f %U' -- "$dm_p") || return 1
  set -- $dm_s
  dm_mode=$((0x$2))
  dm_type=$((dm_mode & 0170000))
  if [ "$dm_p" = "$dm_w" ]; then
    if [ "$dm_type" -eq $((0120000)) ]; then
      dm_refuse symlink "$1" "$3" "$dm_mode" "$dm_p"
    elif [ "$dm_type" -ne $((0040000)) ]; then
      dm_refuse not_directory "$1" "$3" "$dm_mode" "$dm_p"
    elif [ "$1" != "$dm_me" ]; then
      dm_refuse owner "$1" "$3" "$dm_mode" "$dm_p"
    elif [ $((dm_mode & 022)) -ne 0 ]; then
      dm_refuse writable "$1" "$3" "$dm_mode" "$dm_p"
    fi
    return
  fi
  # A parent: whoever may rename entries in it may swap the work
  # directory. A link is checked, then the directory it leads to.
  if [ "$1" != 0 ] && [ "$1" != "$dm_me" ]; then
    dm_refuse parent "$1" "$3" "$dm_mode" "$dm_p"; return
  fi
  if [ "$dm_type" -eq $((0120000)) ]; then
    dm_s=$(stat -L -c '%u %f %U' -- "$dm_p") || return 1
    set -- $dm_s
    dm_mode=$((0x$2))
    if [ "$1" != 0 ] && [ "$1" != "$dm_me" ]; then
      dm_refuse parent "$1" "$3" "$dm_mode" "$dm_p"; return
    fi
  fi
  # Others may add entries to a sticky directory (/tmp), not rename ours.
  if [ $((dm_mode & 022)) -ne 0 ] && [ $((dm_mode & 01000)) -eq 0 ]; then
    dm_refuse parent "$1" "$3" "$dm_mode" "$dm_p"
  fi
}
dm_work_dir() {
  dm_w=$1
  dm_me=$(id -u) || return 1
  dm_check_up || return
  if [ -e "$dm_w" ] || [ -L "$dm_w" ]; then return 0; fi
  mkdir -p -- "${dm_w%/*}/" && mkdir -m 700 -- "$dm_w" || [ -d "$dm_w" ] ||
    return 1
  # Made now, by us or (in a race) by someone else: check again.
  dm_check_up
}
"""

_MARK = "dm-work-dir-unsafe "
_FIX = "Remove it or choose another work directory."


class UnsafeWorkDir(RemoteError):
    """The work directory, or a directory above it, could be changed by a
    user other than root or the one commands run as."""

    def __init__(self, host, work_dir, problem, path, uid, user, my_uid, mode):
        self.host = host
        self.work_dir = work_dir
        self.problem = problem  # symlink, not_directory, owner, writable, parent
        self.path = path  # the work directory, or the parent at fault
        self.uid = uid
        self.user = user
        self.my_uid = my_uid
        self.mode = mode
        super().__init__(self._describe(), "work_dir_unsafe")

    def _describe(self):
        where = f"The work directory {self.work_dir} on {self.host}"
        owner = f"{self.user} (uid {self.uid})"
        if self.problem == "symlink":
            return (
                f"{where} is a symbolic link owned by {owner}, not a real "
                f"directory: whoever controls the link chooses where commands "
                f"write. {_FIX}"
            )
        if self.problem == "not_directory":
            return (
                f"{where} is not a directory (owner {owner}, mode {self.mode}). {_FIX}"
            )
        if self.problem == "owner":
            return (
                f"{where} is owned by {owner} with mode {self.mode}, not by the "
                f"user commands run as (uid {self.my_uid}): its owner could forge "
                f"the results of commands or swap the files kept there. {_FIX}"
            )
        if self.problem == "writable":
            return (
                f"{where} has mode {self.mode} (owner {owner}): other users can "
                "write in it and could forge the results of commands or plant "
                f"links where root writes. {_FIX} (A missing one is created with "
                "mode 0700; a mount point can be made private with chmod 700 "
                "once nothing in it belongs to someone else.)"
            )
        return (
            f"{where} lies under {self.path}, owned by {owner} with mode "
            f"{self.mode}: a user other than root or uid {self.my_uid} could "
            "replace the work directory. Choose a work directory whose parent "
            "directories only root or that user can change."
        )


def work_dir_argv(work_dir):
    """The command that creates (if needed) and checks ``work_dir``."""
    validate_path(work_dir, "work directory")
    return ["sh", "-c", WORK_DIR_SH + 'dm_work_dir "$1"', "sh", work_dir]


def parse_refusal(result, work_dir, host):
    """The UnsafeWorkDir that the check's stderr reports, else None."""
    for line in result.stderr.excerpt().splitlines():
        if not line.startswith(_MARK):
            continue
        words = line[len(_MARK) :].split(" ", 5)
        if len(words) == 6:
            problem, uid, user, my_uid, mode, path = words
            return UnsafeWorkDir(host, work_dir, problem, path, uid, user, my_uid, mode)
    return None


def check_work_dir_result(result, work_dir, host):
    """Raise if the command of work_dir_argv() did not accept the directory."""
    if result.ok:
        return
    refusal = parse_refusal(result, work_dir, host)
    if refusal is not None:
        raise refusal
    raise RemoteError(
        f"The work directory {work_dir} cannot be created on {host}: "
        f"{result.stderr_tail(3) or f'exit code {result.exit_code}'}",
        "work_dir_failed",
    )


def ensure_work_dir(transport, work_dir):
    """Create ``work_dir`` on the transport's host if it is missing (mode
    0700), and refuse it (UnsafeWorkDir) if another user could change it.
    One round trip; call it before every use, not once."""
    result = transport.run(work_dir_argv(work_dir), timeout=60)
    check_work_dir_result(result, work_dir, transport.label)
    return work_dir
