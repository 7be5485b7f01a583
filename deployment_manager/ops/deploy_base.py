"""What the deployment-day operations share (BRIEF J3, J4; issue 3): their
constants, exceptions and small helpers — commands run through the
operation's context, paths and names checked, the configuration read, room
on disk checked before anything is written.

The operations themselves are in :mod:`.sources` (addons checked and put in
place), :mod:`.odoo_control` (services, health, install / upgrade),
:mod:`.rollback` (rollback point and rollback) and :mod:`.deploy` (the run
that chains them).
"""

import inspect
import posixpath
import re
import time
from dataclasses import replace
from datetime import datetime, timezone

from ..remote import (
    InvalidInput,
    RemoteError,
    validate_module_name,
    validate_path,
)
from ..remote.workdir import check_work_dir_result, work_dir_argv
from .common import checked_database, checked_path, size_text, why
from .config_sync import read_config
from .context import OperationFailed
from .i18n import _
from .odoo_config import split_addons_path

SERIES = "18.0"
SERVICE_TIMEOUT = 600
GIT_TIMEOUT = 1800
COPY_TIMEOUT = 12 * 3600
INSTALL_TIMEOUT = 12 * 3600
HEALTH_TIMEOUT = 120
HEALTH_POLL = 1.0
HTTP_TIMEOUT = 10
# Not under /tmp or /var/tmp: anyone could create it there first.
DEFAULT_WORK_DIR = "/var/lib/deployment_manager"
# Room asked for beyond a copy's size, as for backups.
SPACE_FACTOR = 1.1
SPACE_MARGIN = 64 * 1024 * 1024
MAX_LOG_BYTES = 64 * 1024 * 1024
EXCERPT_CHARS = 8000
MAX_ERRORS = 20
POINT_ATTEMPTS = 5

STAMP_RE = re.compile(r"[0-9]{14}")
REF_RE = re.compile(r"[A-Za-z0-9._/-]+")
COMMIT_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
BIN_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*")
PYDEP_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._\[\],<>=!~ ;'\"-]*")
MANIFEST_PATH_RE = re.compile(r"([^/]+)/__manifest__\.py")
PENDING_STATES = ("to install", "to upgrade", "to remove")
COMMAND_FAILED = _("A command failed on the host: %(reason)s")

# Constant shell text; every value reaches it as a positional argument.
EXISTING_SH = 'for f in "$@"; do if [ -e "$f" ]; then printf "%s\\n" "$f"; fi; done'
LIST_MODULES_SH = (
    'for d in "$1"/*/; do '
    'if [ -f "$d/__manifest__.py" ]; then basename -- "$d"; fi; done'
)
EMPTY_DIR_SH = '[ -d "$1" ] && [ -z "$(ls -A -- "$1")" ]'
MISSING_BIN_SH = (
    'for b in "$@"; do command -v -- "$b" > /dev/null 2>&1 || printf "%s\\n" "$b"; done'
)
WAIT_PG_SH = (
    'n=$1; shift; i=0; until pg_isready -q "$@"; do i=$((i + 1)); '
    'if [ "$i" -ge "$n" ]; then pg_isready "$@"; exit 1; fi; sleep 1; done'
)
# As Odoo checks external dependencies (odoo/modules/module.py): the
# distribution first, with its version specifier, then the import name.
PYDEPS_PY = """\
import importlib, importlib.metadata, json, sys
try:
    from packaging.requirements import Requirement
except ImportError:
    Requirement = None
missing = {}
for dep in sys.argv[1:]:
    name, specifier = dep, None
    if Requirement is not None:
        try:
            requirement = Requirement(dep)
        except Exception as exc:
            missing[dep] = "invalid specification: %s" % exc
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name, specifier = requirement.name, requirement.specifier
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        try:
            importlib.import_module(dep)
        except Exception as exc:
            missing[dep] = "%s: %s" % (type(exc).__name__, exc)
        continue
    if specifier and not specifier.contains(version):
        missing[dep] = "installed version %s does not match" % version
print(json.dumps(missing))
"""

MODULES_SQL = (
    "SELECT name, state, COALESCE(latest_version, '') FROM ir_module_module "
    "ORDER BY name"
)
SIZE_SQL = "SELECT pg_database_size(current_database())"
DATA_DIRECTORY_SQL = "SHOW data_directory"
EXISTING_DB_SQL = (
    "SELECT datname FROM pg_database WHERE datname IN (:'a', :'b', :'c') ORDER BY 1;\n"
)
# The rollback point in one round trip, Odoo being stopped: kept when the
# copy is there already (the step taken up again), made otherwise, with the
# production database's owner (it becomes production again on a rollback).
# Says which: "kept", "creating" then "created", or "missing" when the
# database itself is not there; nothing when the databases cannot be listed.
POINT_SQL = """\
SELECT count(*) FILTER (WHERE datname = :'point') > 0 AS dm_kept,
       count(*) FILTER (WHERE datname = :'db') > 0 AS dm_found,
       coalesce(max(pg_get_userbyid(datdba)::text) FILTER (WHERE datname = :'db'),
                '') AS owner
  FROM pg_database WHERE datname IN (:'db', :'point') \\gset
\\if :dm_kept
\\echo kept
\\elif :dm_found
\\echo creating
CREATE DATABASE :"point" WITH TEMPLATE :"db" OWNER :"owner";
\\echo created
\\else
\\echo missing
\\endif
"""
# The rollback point's two copies at once, both only reading production: the
# filestore's ($1 to $2, cp in the background, when $1 is there) while psql
# ("$@", reading POINT_SQL, $4, from stdin) copies the database. After
# psql's lines it says "dm-filestore <cp's exit status>", or "dm-filestore
# none" when there was nothing to copy; it exits with psql's status. With
# $3, the gate of an install started ahead (INSTALL_GATE_SH), it opens that
# gate once both copies are surely made (psql said "created" or "kept", cp
# ended well or had nothing to copy), and says "dm-gate open": the install
# then goes on without waiting for the manager to read this answer.
POINT_SH = (
    "src=$1; dst=$2; go=$3; sql=$4; shift 4; cp_pid=; "
    'if [ -n "$src" ] && [ -e "$src" ]; then '
    'cp -a --reflink=auto -T -- "$src" "$dst" & cp_pid=$!; fi; '
    'said=$(printf "%s" "$sql" | "$@"); rc=$?; printf "%s\\n" "$said"; '
    'copied=none; if [ -n "$cp_pid" ]; then wait "$cp_pid"; copied=$?; fi; '
    'echo "dm-filestore $copied"; last=$(printf "%s\\n" "$said" | tail -n 1); '
    'if [ -n "$go" ] && [ "$rc" -eq 0 ] '
    '&& { [ "$last" = created ] || [ "$last" = kept ]; } '
    '&& { [ "$copied" = none ] || [ "$copied" -eq 0 ]; } && : > "$go"; '
    'then echo "dm-gate open"; fi; exit "$rc"'
)
FILESTORE_MARK = "dm-filestore "
GATE_OPEN = "dm-gate open"
GATE_CLOSED = "dm-gate closed"
# An install started before its rollback point exists, so that Odoo's
# imports (half a second and more, before it reads its configuration) run
# while Odoo stops and the point is taken, not after. Odoo ("$@", given the
# named pipe $1 as its configuration file) waits on that pipe: it cannot
# reach a database before it reads its configuration. Once $3 exists (made
# by POINT_SH, or by the manager, once the point is made) the real
# configuration $2 is written into the pipe and Odoo goes on. When $4
# exists instead (the deployment failed before its point), when Odoo ended
# early, or after $5 polls, Odoo is stopped unread. When Odoo ended without
# its configuration wholly written to it ("$1.fed" is made once it is) and
# without its log file $6 (Odoo opens it right after reading its
# configuration), it never reached a database: this says "dm-gate closed"
# and exits 97. Otherwise it exits with Odoo's status. Polls every 20 ms
# for 5 s, then every half second. Odoo must end on SIGTERM, as a cancel
# expects of every command.
INSTALL_GATE_SH = (
    "gate=$1; conf=$2; go=$3; stop=$4; polls=$5; log=$6; shift 6; "
    'rm -f -- "$gate" "$log"; mkfifo -m 600 -- "$gate" || exit 96; '
    '"$@" & odoo=$!; i=0; pause=0.02; opened=; '
    "while :; do "
    'if [ -e "$go" ]; then opened=1; break; fi; '
    'if [ -e "$stop" ] || [ "$i" -ge "$polls" ] || ! kill -0 "$odoo" 2>/dev/null; '
    'then kill "$odoo" 2>/dev/null; break; fi; '
    'sleep "$pause"; i=$((i + 1)); if [ "$i" -eq 250 ]; then pause=0.5; fi; done; '
    'fed=$gate.fed; rm -f -- "$fed"; feeder=; if [ -n "$opened" ]; then '
    '{ cat -- "$conf" > "$gate" && : > "$fed"; } & feeder=$!; fi; '
    'wait "$odoo"; rc=$?; '
    'if [ -n "$feeder" ]; then kill "$feeder" 2>/dev/null; wait "$feeder"; fi; '
    'if [ ! -e "$log" ] && [ ! -e "$fed" ]; then closed=1; else closed=; fi; '
    'rm -f -- "$gate" "$fed" "$go" "$stop"; '
    'if [ -n "$closed" ]; then echo "dm-gate closed"; exit 97; fi; exit "$rc"'
)
GATE_POLLS_FAST = 250  # 5 s of 20 ms polls, then every 0.5 s
DROP_SQL = 'DROP DATABASE IF EXISTS :"name";\n'


class AddonsRefused(OperationFailed):
    """The manifests were checked and the addons cannot be deployed."""

    def __init__(self, message, problems, checks):
        super().__init__(message)
        self.problems = problems
        self.checks = checks


class InstallFailed(OperationFailed):
    """``odoo -i/-u`` failed; ``result`` is what :func:`install_upgrade` returns."""

    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


class DeploymentFailed(OperationFailed):
    """A deployment run failed; ``result`` is its state, ``rolled_back`` says
    whether production was put back to its rollback point."""

    def __init__(self, message, result, rolled_back=False):
        super().__init__(message)
        self.result = result
        self.rolled_back = rolled_back


class RollbackAvailable(DeploymentFailed):
    """A step after the stop failed and the run was told not to roll back by
    itself: a person chooses, through :func:`resume_deployment`, to retry the
    step, ignore its failure or roll back. ``step`` is the failed step;
    ``point`` and ``deployed`` are what :func:`rollback` needs."""

    def __init__(self, message, result, step):
        super().__init__(message, result, rolled_back=False)
        self.step = step

    @property
    def point(self):
        return self.result.get("rollback_point")

    @property
    def deployed(self):
        return self.result.get("deployed")

    def rollback_data(self):
        """What to keep (JSON) for a person's decision: :func:`rollback` takes
        ``point`` and ``deployed``; :func:`resume_deployment` takes ``state``."""
        return {
            "step": self.step,
            "point": self.point,
            "deployed": self.deployed,
            "state": self.result,
        }


# ----------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------
def new_stamp():
    return datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")


def _stamp(ctx, stamp):
    stamp = stamp or new_stamp()
    if not isinstance(stamp, str) or not STAMP_RE.fullmatch(stamp):
        raise OperationFailed(ctx.text(_("Invalid stamp %(stamp)s."), stamp=stamp))
    return stamp


def _call(hook, ctx, transport, spec):
    """A caller's hook: ``hook(ctx, transport, spec)``, or ``hook()`` when it
    takes no argument (a closure of the caller's own)."""
    try:
        parameters = inspect.signature(hook).parameters
    except (TypeError, ValueError):
        parameters = None
    if parameters is not None and not parameters:
        return hook()
    return hook(ctx, transport, spec)


def _now_iso():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _modules(ctx, names, field="module name"):
    """Validated, de-duplicated module names, in order."""
    if isinstance(names, str):
        names = [name for name in names.split(",") if name.strip()]
    out = []
    for name in names or ():
        try:
            name = validate_module_name(name.strip(), field=field)
        except (InvalidInput, AttributeError) as error:
            raise OperationFailed(str(error)) from None
        if name not in out:
            out.append(name)
    return out


def _work_dir(ctx, spec):
    work_dir = spec.work_dir or getattr(ctx, "work_dir", None) or DEFAULT_WORK_DIR
    return checked_path(work_dir, "work directory")


def prepare_work_dir(ctx, transport, work_dir):
    """Create the work directory if it is missing (mode 0700) and refuse it
    if a user other than root or the one commands run as could change it or
    a directory above it (remote/workdir.py). Dumps, logs and uploads are
    kept there and read back as root: call this before every use."""
    result = _run(ctx, transport, work_dir_argv(work_dir), timeout=120)
    try:
        check_work_dir_result(result, work_dir, transport.label)
    except RemoteError as error:
        raise OperationFailed(str(error)) from error
    return work_dir


def _fail(ctx, message, result=None, **params):
    """OperationFailed with the message filled in; ``%(reason)s`` from result."""
    if result is not None:
        params["reason"] = why(ctx, result)
    return OperationFailed(ctx.text(message, **params))


def _run(ctx, transport, argv, message=None, timeout=SERVICE_TIMEOUT, **kwargs):
    """Run a command; with ``message``, a failure raises OperationFailed."""
    try:
        result = ctx.run(transport, argv, timeout=timeout, **kwargs)
    except RemoteError as error:
        raise OperationFailed(str(error)) from error
    if message and not result.ok:
        raise _fail(ctx, message, result)
    return result


def _detached(ctx, transport, argv, key, timeout, spec=None):
    """``ctx.run_detached``; with ``spec``, the command gets its database's
    environment and secrets. A transport's failure is OperationFailed."""
    kwargs = {"env": spec.db_env(), "secrets": spec.db_secrets()} if spec else {}
    try:
        return ctx.run_detached(transport, argv, key, timeout=timeout, **kwargs)
    except RemoteError as error:
        raise OperationFailed(str(error)) from error


def _lines(result):
    return [line for line in result.stdout.text().splitlines() if line.strip()]


def _existing(ctx, transport, paths):
    """The paths among ``paths`` that exist on the host."""
    if not paths:
        return set()
    result = _run(
        ctx,
        transport,
        ["sh", "-c", EXISTING_SH, "sh", *paths],
        _("The host's files cannot be looked at: %(reason)s"),
    )
    return set(_lines(result))


def _exists(ctx, transport, path):
    return path in _existing(ctx, transport, [path])


def _cancelled(ctx):
    """A cancel was asked, and may still be honoured (``ctx.cancellable``)."""
    event = getattr(ctx, "cancel_event", None)
    return ctx.cancellable and event is not None and event.is_set()


def _sleep(ctx, seconds):
    event = getattr(ctx, "cancel_event", None)
    if event is not None:
        event.wait(seconds)
    else:
        time.sleep(seconds)
    if _cancelled(ctx):
        raise OperationFailed(ctx.text(_("Cancelled on request.")))


def _read_config(ctx, transport, spec):
    """The Odoo configuration's ``[options]``; {} when there is none to read."""
    return read_config(ctx, transport, spec) if spec.config_path else {}


def _config_addons_paths(options):
    paths = []
    for path in split_addons_path(options.get("addons_path")):
        try:
            paths.append(validate_path(path.rstrip("/") or "/", field="addons path"))
        except InvalidInput:
            continue
    return paths


def effective_spec(ctx, transport, spec, options=None):
    """The spec completed with the configuration file where it is silent
    (data directory, log file); returns (spec, options)."""
    if options is None:
        options = _read_config(ctx, transport, spec)
    changes = {}
    for attribute, key in (("data_dir", "data_dir"), ("log_file", "logfile")):
        value = options.get(key)
        if getattr(spec, attribute) or not value or value in ("False", "false"):
            continue
        try:
            changes[attribute] = validate_path(value, field=key)
        except InvalidInput:
            continue
    return (replace(spec, **changes) if changes else spec), options


def _module_states(ctx, transport, spec):
    """{name: (state, latest_version)} read from the database."""
    checked_database(ctx, spec.db_name)
    result = _run(
        ctx,
        transport,
        spec.psql_argv(MODULES_SQL),
        _("The modules of the database cannot be read: %(reason)s"),
        keep_output=False,
        env=spec.db_env(),
        secrets=spec.db_secrets(),
        timeout=300,
    )
    states = {}
    for line in _lines(result):
        parts = line.split("|")
        if len(parts) == 3:
            states[parts[0]] = (parts[1], parts[2])
    return states


def _admin(ctx, transport, spec, sql, timeout=300, **variables):
    return _run(
        ctx,
        transport,
        spec.admin_psql_argv(variables.items()),
        stdin_data=sql.encode(),
        timeout=timeout,
        env=spec.db_env(),
        secrets=spec.db_secrets(),
    )


def _existing_databases(ctx, transport, spec, names):
    names = list(names) + [names[-1]] * (3 - len(names))
    result = _admin(
        ctx, transport, spec, EXISTING_DB_SQL, a=names[0], b=names[1], c=names[2]
    )
    if not result.ok:
        raise _fail(ctx, _("PostgreSQL cannot be reached: %(reason)s"), result)
    return set(_lines(result))


def _version_key(version):
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in str(version).split(".")
    )


# ----------------------------------------------------------------------
# Environment's Python
# ----------------------------------------------------------------------
def environment_python(ctx, transport, spec):
    """The Python running Odoo: spec.python_argv, else the interpreter on the
    odoo program's ``#!`` line, else :meth:`EnvironmentSpec.python_command`."""
    if spec.python_argv:
        return list(spec.python_argv)
    program = spec.odoo_argv[0] if spec.odoo_argv else ""
    if program.startswith("/") and not posixpath.basename(program).startswith("python"):
        result = ctx.run(transport, ["head", "-c", "256", "--", program], timeout=60)
        first = result.stdout.text().split("\n", 1)[0] if result.ok else ""
        if first.startswith("#!"):
            words = first[2:].split()
            interpreter = words[0] if words else ""
            if posixpath.basename(interpreter).startswith("python"):
                try:
                    return [validate_path(interpreter, field="python")]
                except InvalidInput:
                    return spec.python_command()
    return spec.python_command()


# ----------------------------------------------------------------------
# Free space
# ----------------------------------------------------------------------
def _disk_free(ctx, transport, path):
    result = ctx.run(transport, ["df", "-B1", "--output=avail", "--", path], timeout=60)
    words = result.stdout.text().split()
    return int(words[-1]) if result.ok and words and words[-1].isdigit() else None


def _disk_used(ctx, transport, path):
    result = ctx.run(transport, ["du", "-s", "-B1", "--", path], timeout=3600)
    words = result.stdout.text().split()
    return int(words[0]) if result.ok and words and words[0].isdigit() else None


def _disks_free(ctx, transport, paths):
    """{path: bytes free, or None}: one ``df`` for all the paths, each on
    its own when that one fails (a path missing)."""
    result = ctx.run(
        transport, ["df", "-B1", "--output=avail", "--", *paths], timeout=60
    )
    # A header line, then one line per path.
    words = result.stdout.text().split()[1:]
    if result.ok and len(words) == len(paths) and all(w.isdigit() for w in words):
        return dict(zip(paths, map(int, words), strict=True))
    if len(paths) == 1:
        return {paths[0]: None}
    return {path: _disk_free(ctx, transport, path) for path in paths}


def require_space(ctx, transport, needs):
    """Refuse early when a filesystem lacks room: ``needs`` is [(path, bytes)]."""
    problems = []
    free_space = (
        _disks_free(ctx, transport, [path for path, _size in needs]) if needs else {}
    )
    for path, size in needs:
        free = free_space[path]
        wanted = int(size * SPACE_FACTOR) + SPACE_MARGIN
        if free is not None and free < wanted:
            problems.append(
                ctx.text(
                    _("%(path)s: %(needed)s needed, %(free)s free"),
                    path=path,
                    needed=size_text(wanted),
                    free=size_text(free),
                )
            )
    if problems:
        raise _fail(
            ctx,
            _("Not enough disk space; nothing was changed: %(problems)s"),
            problems="; ".join(problems),
        )


def _rollback_point_space(ctx, transport, spec, notes):
    """Room for the database copy and the filestore copy, where measurable."""
    needs, _db_size = database_copy_needs(ctx, transport, spec, notes)
    filestore = spec.filestore_path()
    if filestore and _exists(ctx, transport, filestore):
        used = _disk_used(ctx, transport, filestore)
        if used:
            needs.append((filestore, used))
    require_space(ctx, transport, needs)


def database_copy_needs(ctx, transport, spec, notes):
    """([(PostgreSQL's data directory, the database's size)], size): the room
    a copy of the environment's database takes, for :func:`require_space`."""
    db_size = database_size(ctx, transport, spec)
    return data_directory_needs(ctx, transport, spec, db_size, notes), db_size


def database_size(ctx, transport, spec):
    result = _run(
        ctx,
        transport,
        spec.psql_argv(SIZE_SQL),
        _("The database cannot be read: %(reason)s"),
        env=spec.db_env(),
        secrets=spec.db_secrets(),
    )
    return int(result.stdout.text().strip() or 0)


def data_directory_needs(ctx, transport, spec, size, notes):
    """[(PostgreSQL's data directory, size)] on the environment's cluster.

    When the data directory cannot be read (a remote or locked-down
    PostgreSQL) the list is empty and ``notes`` says so."""
    data_directory = None
    if spec.db_host in (None, "localhost", "127.0.0.1", "::1"):
        # The maintenance database: the environment's own may not exist yet.
        result = ctx.run(
            transport,
            spec.admin_psql_argv(),
            stdin_data=f"{DATA_DIRECTORY_SQL};\n".encode(),
            env=spec.db_env(),
            secrets=spec.db_secrets(),
            timeout=60,
        )
        text = result.stdout.text().strip() if result.ok else ""
        data_directory = text if text.startswith("/") else None
    if data_directory:
        return [(data_directory, size)]
    notes.append(
        ctx.text(
            _(
                "The room for the database copy (%(size)s) could not be "
                "checked: PostgreSQL's data directory is not readable from here."
            ),
            size=size_text(size),
        )
    )
    return []


def _filestore_root(spec):
    if not spec.data_dir:
        return None
    return f"{checked_path(spec.data_dir, 'data directory')}/filestore"
