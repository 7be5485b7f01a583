"""Deployment day (BRIEF J3, J4; issue 3, operations 3, 4, 5, 7 and 8).

Plain Python, every command through the operation's context:

* :func:`check_addons` reads the manifests of the addons about to be
  deployed and refuses, before anything is touched, what Odoo would refuse
  or what would break: wrong series, not installable, a dependency neither
  installed nor available, an external Python dependency the environment's
  Python cannot import, a target path Odoo does not read;
* :func:`deploy_zip` / :func:`deploy_git` put new sources in place, keeping
  the previous ones for :func:`undeploy`;
* :func:`install_upgrade` runs ``odoo -i/-u --stop-after-init`` detached and
  judges it by exit code, by its own log and by the module states it left;
* :func:`stop_odoo`, :func:`start_odoo`, :func:`restart_postgres`,
  :func:`wait_healthy` drive the services with the environment's commands;
* :func:`rollback_point` copies the database (``CREATE DATABASE … TEMPLATE``,
  Odoo stopped: no write is lost) and the filestore; :func:`rollback` swaps
  them back in and puts the sources back;
* :func:`deployment_run` chains it all; a failure after the stop rolls back
  (or, if told not to, raises :class:`RollbackAvailable` so a person
  decides), and :func:`resume_deployment` takes a run up again from its
  saved state: after the manager restarted, or on a person's retry / ignore
  / roll back.

Names made from a stamp (``yyyymmddHHMMSS``, UTC) are deterministic, so a
step repeated after a restart finds what the first attempt did.
"""

import ast
import contextlib
import copy
import inspect
import json
import posixpath
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import replace
from datetime import datetime, timezone

from ..remote import (
    InvalidInput,
    RemoteError,
    validate_hostname,
    validate_module_name,
    validate_path,
)
from ..remote.transport import file_sha256
from .backup import checked_database, checked_path, run_anyway, size_text, why
from .context import OperationFailed
from .i18n import _
from .logcheck import LEVELS, parse_records
from .odoo_config import parse_odoo_config, split_addons_path

SERIES = "18.0"
SERVICE_TIMEOUT = 600
GIT_TIMEOUT = 1800
COPY_TIMEOUT = 12 * 3600
INSTALL_TIMEOUT = 12 * 3600
HEALTH_TIMEOUT = 120
HEALTH_POLL = 1.0
HTTP_TIMEOUT = 10
DEFAULT_WORK_DIR = "/var/tmp/deployment_manager"
# Room asked for beyond a copy's size, as for backups.
SPACE_FACTOR = 1.1
SPACE_MARGIN = 64 * 1024 * 1024
MAX_LOG_BYTES = 64 * 1024 * 1024
EXCERPT_CHARS = 8000
MAX_ERRORS = 20
SWAP_ATTEMPTS = 3
POINT_ATTEMPTS = 5

STAMP_RE = re.compile(r"[0-9]{14}")
REF_RE = re.compile(r"[A-Za-z0-9._/-]+")
COMMIT_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
SCP_URL_RE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9.-]*:[A-Za-z0-9._~+][A-Za-z0-9._~+/-]*"
)
URL_PATH_RE = re.compile(r"[A-Za-z0-9._~+%@:/-]*")
BIN_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*")
PYDEP_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._\[\],<>=!~ ;'\"-]*")
MANIFEST_PATH_RE = re.compile(r"([^/]+)/__manifest__\.py")
PENDING_STATES = ("to install", "to upgrade", "to remove")
COMMAND_FAILED = _("A command failed on the host: %(reason)s")

BEFORE_STOP = ("precheck", "backup", "deploy")
AFTER_STOP = (
    "stop",
    "rollback_point",
    "install",
    "restart_database",
    "start",
    "health",
    "log_check",
)
ROLLBACK_ON = ("install", "restart_database", "start", "health", "log_check")

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
# The copy keeps the production database's owner: it becomes production
# again on a rollback.
POINT_SQL = """\
SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = :'db' \\gset
CREATE DATABASE :"point" WITH TEMPLATE :"db" OWNER :"owner";
"""
DROP_SQL = 'DROP DATABASE IF EXISTS :"name";\n'
# One transaction: both renames or neither. RENAME waits a little for the
# terminated sessions to go; the caller tries again if one lingers.
SWAP_SQL = """\
BEGIN;
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE datname = :'db' AND pid <> pg_backend_pid();
ALTER DATABASE :"db" RENAME TO :"failed";
ALTER DATABASE :"point" RENAME TO :"db";
COMMIT;
"""
RENAME_POINT_SQL = 'ALTER DATABASE :"point" RENAME TO :"db";\n'


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
    event = getattr(ctx, "cancel_event", None)
    return event is not None and event.is_set()


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
    if not spec.config_path:
        return {}
    # The file holds passwords: its content is never journaled.
    result = _run(
        ctx,
        transport,
        ["cat", "--", spec.config_path],
        _("The configuration file cannot be read: %(reason)s"),
        keep_output=False,
    )
    return parse_odoo_config(result.stdout.text())


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
# Addons check
# ----------------------------------------------------------------------
class _DirSource:
    """Addons in a directory of the host (a zip just extracted)."""

    def __init__(self, ctx, transport, path, available):
        self.ctx, self.transport, self.path = ctx, transport, path
        self.available = set(available)

    def describe(self, name):
        return f"{self.path}/{name}"

    def manifest(self, name):
        result = self.ctx.run(
            self.transport,
            ["cat", "--", f"{self.path}/{name}/__manifest__.py"],
            keep_output=False,
            timeout=60,
        )
        return result.stdout.text() if result.ok else None


class _GitSource:
    """Addons at a commit of a git checkout, read without checking it out."""

    def __init__(self, ctx, transport, path, commit, available):
        self.ctx, self.transport = ctx, transport
        self.path, self.commit = path, commit
        self.available = set(available)

    def describe(self, name):
        return f"{self.path}/{name} @ {self.commit[:12]}"

    def manifest(self, name):
        result = self.ctx.run(
            self.transport,
            ["git", "-C", self.path, "show", f"{self.commit}:{name}/__manifest__.py"],
            keep_output=False,
            timeout=60,
        )
        return result.stdout.text() if result.ok else None


def _list_dir_modules(ctx, transport, path):
    result = _run(
        ctx,
        transport,
        ["sh", "-c", LIST_MODULES_SH, "sh", path],
        _("The addons directory cannot be listed: %(reason)s"),
    )
    return sorted(_lines(result))


def check_addons(ctx, transport, spec, addons_dir, modules=None, *, target_path=None):
    """Check the addons in ``addons_dir`` on the host before they are deployed.

    ``modules`` defaults to every module of the directory; ``target_path`` is
    the addons path they are meant for: then it must be one Odoo reads (in
    the configuration's addons_path) and no earlier path may hide them.
    Returns one
    dict per module: ``name``, ``version``, ``installed_version``, ``state``,
    ``depends``, ``missing_depends``, ``python_missing`` ({requirement:
    why}), ``bin_missing``, ``problems``. Raises :class:`AddonsRefused`
    listing every problem found; nothing is changed either way.
    """
    with ctx.step(_("Check the addons' manifests")):
        addons_dir = checked_path(addons_dir, "addons directory")
        present = _list_dir_modules(ctx, transport, addons_dir)
        modules = _modules(ctx, modules) if modules else present
        source = _DirSource(ctx, transport, addons_dir, modules)
        if target_path:
            target_path = checked_path(target_path, "addons path")
        return _check_addons(ctx, transport, spec, modules, source, target_path)


def _check_addons(ctx, transport, spec, modules, source, target_path, options=None):
    ctx.progress(5, _("Checking the addons' manifests"))
    if options is None:
        options = _read_config(ctx, transport, spec)
    states = _module_states(ctx, transport, spec)
    general = []
    if not modules:
        general.append(ctx.text(_("There is no module to deploy.")))
    checks = [_check_manifest(ctx, name, source, states) for name in modules]
    config_paths = _config_addons_paths(options)
    _check_dependencies(ctx, transport, spec, checks, source, states, config_paths)
    _check_external(ctx, transport, spec, checks)
    _check_target(ctx, transport, checks, target_path, config_paths, general)
    _strip_private(checks)
    problems = general + [problem for check in checks for problem in check["problems"]]
    if problems:
        raise AddonsRefused(
            ctx.text(
                _("The addons cannot be deployed; nothing was changed: %(problems)s"),
                problems="; ".join(problems),
            ),
            problems,
            checks,
        )
    return checks


def _check_manifest(ctx, name, source, states):
    state, installed_version = states.get(name, (None, ""))
    check = {
        "name": name,
        "version": None,
        "installed_version": installed_version or None,
        "state": state,
        "depends": [],
        "missing_depends": [],
        "python_missing": {},
        "bin_missing": [],
        "problems": [],
        "_python": [],
        "_bin": [],
    }
    own = check["problems"]
    text = source.manifest(name)
    if text is None:
        own.append(
            ctx.text(
                _("%(module)s: no __manifest__.py at %(path)s"),
                module=name,
                path=source.describe(name),
            )
        )
        return check
    try:
        manifest = ast.literal_eval(text)
        if not isinstance(manifest, dict):
            raise TypeError("not a dict")
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as error:
        own.append(
            ctx.text(
                _("%(module)s: the manifest cannot be read (%(error)s)"),
                module=name,
                error=str(error)[:200],
            )
        )
        return check
    _check_manifest_values(ctx, name, manifest, check)
    return check


def _check_manifest_values(ctx, name, manifest, check):
    own = check["problems"]
    version = manifest.get("version")
    check["version"] = version if isinstance(version, str) else None
    if not manifest.get("installable", True):
        own.append(ctx.text(_("%(module)s is not installable"), module=name))
    if not isinstance(version, str) or not version.startswith(SERIES + "."):
        own.append(
            ctx.text(
                _("%(module)s: version %(version)s is not a %(series)s version"),
                module=name,
                version=version,
                series=SERIES,
            )
        )
    elif check["installed_version"] and _version_key(version) < _version_key(
        check["installed_version"]
    ):
        own.append(
            ctx.text(
                _(
                    "%(module)s: version %(version)s is older than the installed "
                    "%(installed)s"
                ),
                module=name,
                version=version,
                installed=check["installed_version"],
            )
        )
    depends = manifest.get("depends") or []
    for dep in depends if isinstance(depends, list | tuple) else [depends]:
        try:
            check["depends"].append(validate_module_name(dep, field="dependency"))
        except InvalidInput as error:
            own.append(f"{name}: {error}")
    external = manifest.get("external_dependencies") or {}
    if not isinstance(external, dict):
        external = {}
    for key, regex in (("python", PYDEP_RE), ("bin", BIN_RE)):
        for dep in external.get(key) or []:
            if isinstance(dep, str) and regex.fullmatch(dep):
                check["_" + key].append(dep)
            else:
                own.append(
                    ctx.text(
                        _("%(module)s: invalid external dependency %(dep)r"),
                        module=name,
                        dep=dep,
                    )
                )


def _where_found(ctx, transport, paths, names):
    """{module: [addons paths holding it]} among ``paths``, in their order."""
    files = {
        f"{path}/{name}/__manifest__.py": (path, name)
        for path in paths
        for name in names
    }
    found = {name: [] for name in names}
    existing = _existing(ctx, transport, list(files))
    for file, (path, name) in files.items():
        if file in existing:
            found[name].append(path)
    return found


def _check_dependencies(ctx, transport, spec, checks, source, states, config_paths):
    ready = ("installed", "to upgrade")
    wanted = sorted(
        {
            dep
            for check in checks
            for dep in check["depends"]
            if states.get(dep, ("",))[0] not in ready and dep not in source.available
        }
    )
    paths = list(dict.fromkeys(config_paths + list(spec.addons_paths)))
    found = _where_found(ctx, transport, paths, wanted) if wanted else {}
    for check in checks:
        for dep in check["depends"]:
            if dep in wanted and not found.get(dep):
                check["missing_depends"].append(dep)
        if check["missing_depends"]:
            check["problems"].append(
                ctx.text(
                    _(
                        "%(module)s depends on %(missing)s, neither installed nor "
                        "available in the addons paths"
                    ),
                    module=check["name"],
                    missing=", ".join(check["missing_depends"]),
                )
            )


def _check_external(ctx, transport, spec, checks):
    pydeps = sorted({dep for check in checks for dep in check["_python"]})
    bins = sorted({dep for check in checks for dep in check["_bin"]})
    missing_py, missing_bin = {}, set()
    if pydeps:
        missing_py = _missing_python(ctx, transport, spec, pydeps)
    if bins:
        result = ctx.run(transport, ["sh", "-c", MISSING_BIN_SH, "sh", *bins])
        missing_bin = set(_lines(result)) if result.ok else set(bins)
    for check in checks:
        check["python_missing"] = {
            dep: missing_py[dep] for dep in check["_python"] if dep in missing_py
        }
        check["bin_missing"] = sorted(missing_bin & set(check["_bin"]))
    _report_external(ctx, checks)


def _missing_python(ctx, transport, spec, pydeps):
    """{requirement: why} for those the environment's Python cannot satisfy."""
    python = environment_python(ctx, transport, spec)
    result = ctx.run(transport, [*python, "-c", PYDEPS_PY, *pydeps], timeout=300)
    try:
        missing = json.loads(_lines(result)[-1]) if result.ok else None
    except (IndexError, ValueError):
        missing = None
    if isinstance(missing, dict):
        return missing
    reason = ctx.text(
        _("%(python)s could not check it: %(reason)s"),
        python=" ".join(python),
        reason=why(ctx, result),
    )
    return {dep: reason for dep in pydeps}


def _report_external(ctx, checks):
    for check in checks:
        for dep, reason in sorted(check["python_missing"].items()):
            check["problems"].append(
                ctx.text(
                    _(
                        "%(module)s needs the Python package %(dep)s, which the "
                        "environment's Python cannot import (%(reason)s)"
                    ),
                    module=check["name"],
                    dep=dep,
                    reason=str(reason)[:300],
                )
            )
        for dep in check["bin_missing"]:
            check["problems"].append(
                ctx.text(
                    _("%(module)s needs the program %(dep)s, not found on the host"),
                    module=check["name"],
                    dep=dep,
                )
            )


def _check_target(ctx, transport, checks, target_path, config_paths, general):
    if not config_paths or not target_path:
        return
    target = target_path
    if target not in config_paths:
        general.append(
            ctx.text(
                _(
                    "Odoo does not read addons from %(path)s: it is not in the "
                    "addons_path of the configuration (%(paths)s)"
                ),
                path=target,
                paths=", ".join(config_paths),
            )
        )
        return
    earlier = config_paths[: config_paths.index(target)]
    if not earlier:
        return
    found = _where_found(ctx, transport, earlier, [c["name"] for c in checks])
    for check in checks:
        if found.get(check["name"]):
            check["problems"].append(
                ctx.text(
                    _(
                        "%(module)s would stay hidden by %(other)s, which Odoo "
                        "reads first"
                    ),
                    module=check["name"],
                    other=f"{found[check['name']][0]}/{check['name']}",
                )
            )


def _strip_private(checks):
    for check in checks:
        for key in [key for key in check if key.startswith("_")]:
            del check[key]
    return checks


# ----------------------------------------------------------------------
# Sources from a zip
# ----------------------------------------------------------------------
def _zip_layout(ctx, local_zip):
    """(prefix, modules, uncompressed size) of a zip of addons on the manager.

    Modules are the top-level directories holding a ``__manifest__.py``, or
    those one level down when everything sits in one directory (a zip of a
    repository). Absolute or ``..`` member names are refused.
    """
    try:
        with zipfile.ZipFile(local_zip) as archive:
            infos = archive.infolist()
    except (OSError, zipfile.BadZipFile) as error:
        raise _fail(
            ctx, _("The zip file cannot be read: %(error)s"), error=str(error)
        ) from None
    names = [info.filename for info in infos]
    for name in names:
        parts = name.split("/")
        if name.startswith("/") or "\\" in name or ".." in parts:
            raise _fail(
                ctx, _("The zip file holds an unsafe name: %(name)s"), name=name
            )
    manifests = [name.split("/") for name in names if name.endswith("/__manifest__.py")]
    prefix = ""
    modules = [parts[0] for parts in manifests if len(parts) == 2]
    if not modules:
        tops = {name.split("/")[0] for name in names}
        if len(tops) == 1:
            prefix = tops.pop()
            modules = [
                parts[1]
                for parts in manifests
                if len(parts) == 3 and parts[0] == prefix
            ]
    if not modules:
        raise _fail(ctx, _("The zip file holds no Odoo module (no __manifest__.py)."))
    for module in modules:
        try:
            validate_module_name(module, field="module directory")
        except InvalidInput as error:
            raise OperationFailed(str(error)) from None
    return prefix, sorted(set(modules)), sum(info.file_size for info in infos)


def _prepare_zip(ctx, transport, spec, local_zip, addons_path, modules, stamp, options):
    """Upload, extract next to the addons and check them; nothing is moved yet."""
    addons_path = checked_path(addons_path, "addons path")
    prefix, in_zip, size = _zip_layout(ctx, local_zip)
    modules = _modules(ctx, modules) if modules else in_zip
    absent = [module for module in modules if module not in in_zip]
    if absent:
        raise _fail(
            ctx,
            _("The zip file does not hold %(modules)s."),
            modules=", ".join(absent),
        )
    if not _exists(ctx, transport, addons_path):
        raise _fail(
            ctx, _("The addons path %(path)s does not exist."), path=addons_path
        )
    require_space(ctx, transport, [(addons_path, size)])
    work_dir = _work_dir(ctx, spec)
    remote_zip = f"{work_dir}/deploy-{stamp}.zip"
    incoming = f"{addons_path}/.incoming-{stamp}"
    source_dir = checked_path(
        f"{incoming}/{prefix}" if prefix else incoming, "zip's top directory"
    )
    plan = {
        "kind": "zip",
        "addons_path": addons_path,
        "modules": modules,
        "previous": {},
        "stamp": stamp,
        "incoming": incoming,
        "source_dir": source_dir,
        "upload": remote_zip,
        "applied": False,
    }
    try:
        ctx.progress(10, _("Uploading the zip file"))
        _run(ctx, transport, ["mkdir", "-p", "--", work_dir], COMMAND_FAILED)
        local_digest = file_sha256(local_zip)
        try:
            digest = transport.put_file(local_zip, remote_zip)
        except RemoteError as error:
            raise OperationFailed(str(error)) from error
        if digest != local_digest:
            raise _fail(ctx, _("The uploaded zip file does not match its checksum."))
        plan["sha256"] = digest
        _run(ctx, transport, ["rm", "-rf", "--", incoming], COMMAND_FAILED)
        _run(ctx, transport, ["mkdir", "--", incoming], COMMAND_FAILED)
        ctx.progress(20, _("Extracting the zip file next to the addons"))
        python = environment_python(ctx, transport, spec)
        _run(
            ctx,
            transport,
            [*python, "-m", "zipfile", "-e", remote_zip, incoming],
            _("The zip file cannot be extracted on the host: %(reason)s"),
        )
        source = _DirSource(ctx, transport, plan["source_dir"], modules)
        plan["checks"] = _check_addons(
            ctx, transport, spec, modules, source, addons_path, options
        )
        previous = _existing(
            ctx, transport, [f"{addons_path}/{module}" for module in modules]
        )
        plan["previous"] = {
            module: (
                _previous_path(addons_path, module, stamp)
                if f"{addons_path}/{module}" in previous
                else None
            )
            for module in modules
        }
    except BaseException:
        _discard_incoming(ctx, transport, plan)
        raise
    return plan


def _previous_path(addons_path, module, stamp):
    return f"{addons_path}/.previous/{module}-{stamp}"


def _discard_incoming(ctx, transport, plan):
    """Remove what a prepared deployment left beside the addons."""
    if plan.get("kind") == "zip":
        run_anyway(
            ctx,
            transport,
            ["rm", "-rf", "--", plan["incoming"], plan["upload"]],
            timeout=SERVICE_TIMEOUT,
        )
    elif plan.get("kind") == "git" and plan.get("created") and not plan.get("applied"):
        argv = _remove_clone_argv(plan)
        run_anyway(ctx, transport, argv, timeout=SERVICE_TIMEOUT)


def _remove_clone_argv(plan):
    """Remove a checkout the deployment cloned; an empty directory that was
    there stays, empty (Odoo refuses to start on a missing addons path)."""
    path = plan["addons_path"]
    if plan.get("was_empty"):
        return ["find", path, "-mindepth", "1", "-delete"]
    return ["rm", "-rf", "--", path]


def _apply_zip(ctx, transport, plan):
    """Move the previous modules aside and the new ones in; undone on failure.

    Taken up again, it skips the modules already moved in.
    """
    addons_path = plan["addons_path"]
    plan["applied"] = True
    try:
        _run(
            ctx,
            transport,
            ["mkdir", "-p", "--", f"{addons_path}/.previous"],
            COMMAND_FAILED,
        )
        for module in plan["modules"]:
            current = f"{addons_path}/{module}"
            new = f"{plan['source_dir']}/{module}"
            if not _exists(ctx, transport, new):
                continue  # moved in by an earlier attempt
            previous = plan["previous"].get(module)
            if previous and not _exists(ctx, transport, previous):
                _run(
                    ctx,
                    transport,
                    ["mv", "-T", "--", current, previous],
                    _("The previous module cannot be moved aside: %(reason)s"),
                )
            _run(
                ctx,
                transport,
                ["mv", "-T", "--", new, current],
                _("The new module cannot be moved in place: %(reason)s"),
            )
    except OperationFailed:
        _undeploy(ctx, transport, plan)
        raise
    run_anyway(ctx, transport, ["rm", "-rf", "--", plan["incoming"], plan["upload"]])


def deploy_zip(
    ctx, transport, spec, local_zip, addons_path, *, modules=None, stamp=None
):
    """Deploy the modules of a zip file (on the manager) into an addons path.

    The zip is uploaded to the host's work directory (its sha256 verified),
    extracted into ``<addons_path>/.incoming-<stamp>``, checked
    (:func:`check_addons`), then each module's current directory is moved to
    ``<addons_path>/.previous/<module>-<stamp>`` and the new one moved in.
    Returns ``{"kind": "zip", "modules", "previous": {module: path or None},
    "addons_path", "stamp", "sha256", "checks", …}``, what :func:`undeploy`
    takes. Odoo is not restarted: see :func:`install_upgrade`.
    """
    stamp = _stamp(ctx, stamp)
    with ctx.step(_("Upload and check the addons")):
        plan = _prepare_zip(
            ctx, transport, spec, local_zip, addons_path, modules, stamp, None
        )
    with ctx.step(_("Put the new addons in place")):
        ctx.progress(80, _("Putting the new addons in place"))
        _apply_zip(ctx, transport, plan)
    return plan


# ----------------------------------------------------------------------
# Sources from git
# ----------------------------------------------------------------------
def validate_repo_url(ctx, url):
    """https://, ssh://, user@host:path, an absolute path or file://."""
    if not isinstance(url, str) or not url or url.startswith("-"):
        raise _fail(ctx, _("Invalid repository URL %(url)r."), url=url)
    if any(ord(char) < 33 or char == "\x7f" for char in url):
        raise _fail(ctx, _("Invalid repository URL %(url)r."), url=url)
    if url.startswith("/"):
        return checked_path(url, "repository path")
    if url.startswith("file://"):
        checked_path(url[len("file://") :], "repository path")
        return url
    if SCP_URL_RE.fullmatch(url):
        return url
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme in ("https", "ssh") and parsed.hostname:
        if parsed.password:
            raise _fail(
                ctx,
                _(
                    "The repository URL holds a password: give the host a "
                    "credential helper or a deploy key instead."
                ),
            )
        try:
            validate_hostname(parsed.hostname, field="repository host")
        except InvalidInput as error:
            raise OperationFailed(str(error)) from None
        if (
            URL_PATH_RE.fullmatch(parsed.path)
            and not parsed.query
            and not parsed.fragment
        ):
            return url
    raise _fail(
        ctx,
        _(
            "Invalid repository URL %(url)s: use https://, ssh://, "
            "user@host:path or an absolute path."
        ),
        url=url,
    )


def validate_ref(ctx, ref):
    if (
        not isinstance(ref, str)
        or not REF_RE.fullmatch(ref)
        or ref.startswith("-")
        or ".." in ref
    ):
        raise _fail(ctx, _("Invalid git reference %(ref)r."), ref=ref)
    return ref


def _git(path, *args):
    return ["git", "-C", path, *args]


GIT_ENV = {"GIT_TERMINAL_PROMPT": "0"}


def _git_state(ctx, transport, path):
    """(previous commit or None, branch or None) of an existing checkout."""
    top = _run(ctx, transport, _git(path, "rev-parse", "--show-toplevel"))
    real = _run(ctx, transport, ["realpath", "--", path])
    if not top.ok or top.stdout.text().strip() != real.stdout.text().strip():
        raise _fail(
            ctx,
            _(
                "%(path)s exists and is not a git checkout of its own: it cannot "
                "be deployed from git (%(reason)s)."
            ),
            path=path,
            reason=why(ctx, top) if not top.ok else top.stdout.text().strip(),
        )
    dirty = _run(
        ctx,
        transport,
        _git(path, "status", "--porcelain", "--untracked-files=no"),
        _("The checkout's state cannot be read: %(reason)s"),
    )
    changed = _lines(dirty)
    if changed:
        raise _fail(
            ctx,
            _(
                "%(path)s has local changes (%(files)s): commit or discard them "
                "first, nothing was changed."
            ),
            path=path,
            files=", ".join(line[3:] for line in changed[:5]),
        )
    head = _run(ctx, transport, _git(path, "rev-parse", "--verify", "-q", "HEAD"))
    commit = head.stdout.text().strip() if head.ok else None
    branch = _run(ctx, transport, _git(path, "symbolic-ref", "-q", "--short", "HEAD"))
    name = branch.stdout.text().strip() if branch.ok else None
    return commit, (name if name and REF_RE.fullmatch(name) else None)


def _git_modules(ctx, transport, path, commit):
    """The modules (directories with a manifest) at a commit."""
    result = _run(
        ctx,
        transport,
        _git(path, "ls-tree", "-r", "--name-only", commit),
        _("The fetched commit cannot be listed: %(reason)s"),
        keep_output=False,
    )
    found = []
    for line in _lines(result):
        match = MANIFEST_PATH_RE.fullmatch(line)
        if match:
            found.append(match.group(1))
    return sorted(found)


def _git_changed_modules(ctx, transport, path, previous, commit, available):
    """Modules whose files changed between the commits, and modules removed."""
    result = _run(
        ctx,
        transport,
        _git(path, "diff", "--name-only", previous, commit),
        _("The commits cannot be compared: %(reason)s"),
        keep_output=False,
    )
    tops = {line.split("/", 1)[0] for line in _lines(result) if "/" in line}
    before = set(_git_modules(ctx, transport, path, previous))
    changed = sorted(tops & set(available))
    removed = sorted((tops & before) - set(available))
    return changed, removed


def _prepare_git(ctx, transport, spec, url, ref, addons_path, modules, stamp, options):
    """Fetch the ref into the checkout and check it; the tree is not changed."""
    url = validate_repo_url(ctx, url)
    ref = validate_ref(ctx, ref)
    path = checked_path(addons_path, "addons path")
    plan = {
        "kind": "git",
        "addons_path": path,
        "url": url,
        "ref": ref,
        "stamp": stamp,
        "created": False,
        "applied": False,
        "previous_commit": None,
        "previous_branch": None,
    }
    git_kwargs = {"env": GIT_ENV, "timeout": GIT_TIMEOUT}
    try:
        exists = _exists(ctx, transport, path)
        empty = (
            exists and _run(ctx, transport, ["sh", "-c", EMPTY_DIR_SH, "sh", path]).ok
        )
        if exists and not empty:
            previous, branch = _git_state(ctx, transport, path)
            plan["previous_commit"], plan["previous_branch"] = previous, branch
        else:
            ctx.progress(10, _("Cloning the repository"))
            parent = posixpath.dirname(path)
            _run(ctx, transport, ["mkdir", "-p", "--", parent], COMMAND_FAILED)
            plan["created"], plan["was_empty"] = True, empty
            _run(
                ctx,
                transport,
                ["git", "clone", "--quiet", "--no-checkout", "--", url, path],
                _("The repository cannot be cloned: %(reason)s"),
                **git_kwargs,
            )
        ctx.progress(20, ctx.text(_("Fetching %(ref)s"), ref=ref))
        _run(
            ctx,
            transport,
            _git(path, "fetch", "--quiet", "--no-tags", "--", url, ref),
            _("The reference cannot be fetched: %(reason)s"),
            **git_kwargs,
        )
        result = _run(
            ctx,
            transport,
            _git(path, "rev-parse", "--verify", "-q", "FETCH_HEAD^{commit}"),
            _("The fetched reference is not a commit: %(reason)s"),
        )
        commit = result.stdout.text().strip()
        if not COMMIT_RE.fullmatch(commit):
            raise _fail(ctx, _("Unexpected commit id %(commit)r."), commit=commit)
        plan["commit"] = commit
        available = _git_modules(ctx, transport, path, commit)
        removed = []
        if modules:
            modules = _modules(ctx, modules)
        elif plan["previous_commit"]:
            modules, removed = _git_changed_modules(
                ctx, transport, path, plan["previous_commit"], commit, available
            )
        else:
            modules = available
        plan["modules"] = modules
        source = _GitSource(ctx, transport, path, commit, available)
        try:
            plan["checks"] = _check_addons(
                ctx, transport, spec, modules, source, path, options
            )
        except AddonsRefused as refused:
            _refuse_removed(ctx, transport, spec, removed, refused)
            raise
        _refuse_removed(ctx, transport, spec, removed, None)
    except BaseException:
        _discard_incoming(ctx, transport, plan)
        raise
    return plan


def _refuse_removed(ctx, transport, spec, removed, refused):
    """A commit that deletes an installed module is refused too."""
    if not removed:
        return
    states = _module_states(ctx, transport, spec)
    installed = [m for m in removed if states.get(m, ("",))[0] == "installed"]
    if not installed:
        return
    problem = ctx.text(
        _("%(modules)s would disappear from the sources while installed"),
        modules=", ".join(installed),
    )
    problems = (refused.problems if refused else []) + [problem]
    raise AddonsRefused(
        ctx.text(
            _("The addons cannot be deployed; nothing was changed: %(problems)s"),
            problems="; ".join(problems),
        ),
        problems,
        refused.checks if refused else [],
    )


def _apply_git(ctx, transport, plan):
    path, commit = plan["addons_path"], plan["commit"]
    plan["applied"] = True
    try:
        _run(
            ctx,
            transport,
            _git(path, "checkout", "--quiet", "--detach", commit),
            _("The fetched commit cannot be checked out: %(reason)s"),
            timeout=GIT_TIMEOUT,
        )
    except OperationFailed:
        _undeploy(ctx, transport, plan)
        raise


def deploy_git(
    ctx, transport, spec, repo_url, ref, addons_path, *, modules=None, stamp=None
):
    """Check out ``ref`` of ``repo_url`` in the addons path, a git checkout.

    The checkout is cloned if the path does not exist; an existing path that
    is not a checkout of its own, or has local changes, is refused. The ref
    is fetched and checked before the working tree changes; ``modules``
    defaults to those whose files changed (all of them on a first clone).
    Returns ``{"kind": "git", "modules", "previous_commit", "commit",
    "addons_path", "checks", …}``, what :func:`undeploy` takes.
    """
    stamp = _stamp(ctx, stamp)
    with ctx.step(_("Fetch and check the addons")):
        plan = _prepare_git(
            ctx, transport, spec, repo_url, ref, addons_path, modules, stamp, None
        )
    with ctx.step(_("Check out the new commit")):
        ctx.progress(80, _("Checking out the new commit"))
        _apply_git(ctx, transport, plan)
    return plan


# ----------------------------------------------------------------------
# Undeploy
# ----------------------------------------------------------------------
def undeploy(ctx, transport, spec, deployed):
    """Put the sources back as they were before :func:`deploy_zip` /
    :func:`deploy_git` (also after a partial deployment). Returns a list of
    sentences saying what was done."""
    with ctx.step(_("Put the previous sources back")):
        ctx.progress(50, _("Putting the previous sources back"))
        return _undeploy(ctx, transport, deployed)


def _undeploy(ctx, transport, deployed):
    if not deployed:
        return []
    if deployed.get("kind") == "zip":
        done = _undeploy_zip(ctx, transport, deployed)
    elif deployed.get("kind") == "git":
        done = _undeploy_git(ctx, transport, deployed)
    else:
        raise _fail(
            ctx, _("Unknown deployment kind %(kind)r."), kind=deployed.get("kind")
        )
    deployed["undeployed"] = True
    return done


def _undeploy_zip(ctx, transport, deployed):
    addons_path = checked_path(deployed["addons_path"], "addons path")
    stamp = _stamp(ctx, deployed["stamp"])
    done = []
    for module in _modules(ctx, deployed.get("modules")):
        current = f"{addons_path}/{module}"
        expected = _previous_path(addons_path, module, stamp)
        previous = (deployed.get("previous") or {}).get(module)
        if previous and previous != expected:
            raise _fail(ctx, _("Unexpected previous path %(path)s."), path=previous)
        if previous:
            if not _exists(ctx, transport, previous):
                continue  # never moved aside, or already put back
            _run(
                ctx,
                transport,
                ["rm", "-rf", "--", current],
                _("The new module cannot be removed: %(reason)s"),
            )
            _run(
                ctx,
                transport,
                ["mv", "-T", "--", previous, current],
                _("The previous module cannot be put back: %(reason)s"),
            )
            done.append(
                ctx.text(_("%(module)s: previous version put back"), module=module)
            )
        elif deployed.get("applied"):
            _run(
                ctx,
                transport,
                ["rm", "-rf", "--", current],
                _("The new module cannot be removed: %(reason)s"),
            )
            done.append(ctx.text(_("%(module)s: removed (it was new)"), module=module))
    incoming = f"{addons_path}/.incoming-{stamp}"
    run_anyway(ctx, transport, ["rm", "-rf", "--", incoming])
    return done


def _undeploy_git(ctx, transport, deployed):
    path = checked_path(deployed["addons_path"], "addons path")
    if deployed.get("created"):
        _run(
            ctx,
            transport,
            _remove_clone_argv({**deployed, "addons_path": path}),
            _("The new checkout cannot be removed: %(reason)s"),
        )
        return [ctx.text(_("%(path)s: the clone was removed"), path=path)]
    previous = deployed.get("previous_commit")
    if not deployed.get("applied") or not previous:
        return []
    if not COMMIT_RE.fullmatch(previous):
        raise _fail(ctx, _("Unexpected commit id %(commit)r."), commit=previous)
    # --force: a rollback must not be stopped by files changed since.
    _run(
        ctx,
        transport,
        _git(path, "checkout", "--quiet", "--force", "--detach", previous),
        _("The previous commit cannot be checked out: %(reason)s"),
        timeout=GIT_TIMEOUT,
    )
    branch = deployed.get("previous_branch")
    if branch and REF_RE.fullmatch(branch) and not branch.startswith("-"):
        tip = _run(
            ctx,
            transport,
            _git(path, "rev-parse", "--verify", "-q", branch + "^{commit}"),
        )
        if tip.ok and tip.stdout.text().strip() == previous:
            _run(ctx, transport, _git(path, "checkout", "--quiet", branch))
    return [
        ctx.text(
            _("%(path)s: back at commit %(commit)s"), path=path, commit=previous[:12]
        )
    ]


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


def require_space(ctx, transport, needs):
    """Refuse early when a filesystem lacks room: ``needs`` is [(path, bytes)]."""
    problems = []
    for path, size in needs:
        free = _disk_free(ctx, transport, path)
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
    a copy of the environment's database takes, for :func:`require_space`.
    When the data directory cannot be read (a remote or locked-down
    PostgreSQL) the list is empty and ``notes`` says so."""
    needs = []
    result = _run(
        ctx,
        transport,
        spec.psql_argv(SIZE_SQL),
        _("The database cannot be read: %(reason)s"),
        env=spec.db_env(),
        secrets=spec.db_secrets(),
    )
    db_size = int(result.stdout.text().strip() or 0)
    local_db = spec.db_host in (None, "localhost", "127.0.0.1", "::1")
    data_directory = None
    if local_db:
        result = ctx.run(
            transport,
            spec.psql_argv(DATA_DIRECTORY_SQL),
            env=spec.db_env(),
            secrets=spec.db_secrets(),
            timeout=60,
        )
        text = result.stdout.text().strip() if result.ok else ""
        data_directory = text if text.startswith("/") else None
    if data_directory:
        needs.append((data_directory, db_size))
    else:
        notes.append(
            ctx.text(
                _(
                    "The room for the database copy (%(size)s) could not be "
                    "checked: PostgreSQL's data directory is not readable from here."
                ),
                size=size_text(db_size),
            )
        )
    return needs, db_size


# ----------------------------------------------------------------------
# Services and health
# ----------------------------------------------------------------------
def _service(ctx, transport, argv, key, missing, failed, timeout=SERVICE_TIMEOUT):
    if not argv:
        raise OperationFailed(ctx.text(missing))
    try:
        status = ctx.run_detached(transport, argv, key, timeout=timeout)
    except RemoteError as error:
        raise OperationFailed(str(error)) from error
    if not status.ok:
        raise _fail(ctx, failed, status)
    return status


def _stop_odoo(ctx, transport, spec, key="odoo-stop"):
    return _service(
        ctx,
        transport,
        spec.odoo_stop_argv,
        key,
        _("No command to stop Odoo is set."),
        _("Odoo could not be stopped: %(reason)s"),
    )


def _start_odoo(ctx, transport, spec, key="odoo-start"):
    return _service(
        ctx,
        transport,
        spec.odoo_start_argv,
        key,
        _("No command to start Odoo is set."),
        _("Odoo could not be started: %(reason)s"),
    )


def _restart_postgres(ctx, transport, spec, key="postgresql-restart"):
    failed = _("PostgreSQL could not be restarted: %(reason)s")
    missing = _("No command to restart PostgreSQL is set.")
    if spec.pg_restart_argv or not (spec.pg_stop_argv and spec.pg_start_argv):
        return _service(ctx, transport, spec.pg_restart_argv, key, missing, failed)
    _service(ctx, transport, spec.pg_stop_argv, key + "-stop", missing, failed)
    return _service(ctx, transport, spec.pg_start_argv, key + "-start", missing, failed)


def stop_odoo(ctx, transport, spec, *, key="odoo-stop"):
    """Stop Odoo with the environment's command (detached, key ``key``)."""
    with ctx.step(_("Stop Odoo")):
        ctx.progress(10, _("Stopping Odoo"))
        _stop_odoo(ctx, transport, spec, key)


def start_odoo(ctx, transport, spec, *, key="odoo-start"):
    """Start Odoo with the environment's command; see :func:`wait_healthy`."""
    with ctx.step(_("Start Odoo")):
        ctx.progress(10, _("Starting Odoo"))
        _start_odoo(ctx, transport, spec, key)


def restart_postgres(ctx, transport, spec, *, key="postgresql-restart"):
    """Restart PostgreSQL with the environment's restart command (or its stop
    then start commands). It cuts every connection to that cluster: the
    manager's own too when they share it."""
    with ctx.step(_("Restart PostgreSQL")):
        ctx.progress(10, _("Restarting PostgreSQL"))
        _restart_postgres(ctx, transport, spec, key)


def check_health_url(ctx, url):
    parsed = urllib.parse.urlsplit(url or "")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise _fail(ctx, _("Invalid health URL %(url)r."), url=url)
    return url


def _http_status(url):
    """(ok, what was seen) for one GET of the URL from the manager.

    A proxy of the manager's environment is used, except for a loopback
    address (a single-server setup): no proxy would reach that one.
    """
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost" or host == "::1" or host.startswith("127."):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    else:
        opener = urllib.request.build_opener()
    try:
        with opener.open(url, timeout=HTTP_TIMEOUT) as response:
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        return False, str(getattr(error, "reason", error))


def _wait_healthy(ctx, transport, spec, timeout=HEALTH_TIMEOUT):
    deadline = time.monotonic() + timeout
    argv = [
        "sh",
        "-c",
        WAIT_PG_SH,
        "sh",
        str(max(1, int(timeout))),
        *spec.pg_connection_args(),
    ]
    result = _run(ctx, transport, argv, timeout=timeout + 60, env=spec.db_env())
    if not result.ok:
        raise _fail(
            ctx,
            _("PostgreSQL did not accept connections within %(seconds)s s: %(reason)s"),
            result,
            seconds=int(timeout),
        )
    if not spec.health_url:
        raise OperationFailed(ctx.text(_("No health URL is set.")))
    url = check_health_url(ctx, spec.health_url)
    attempts = 0
    while True:
        attempts += 1
        ok, seen = _http_status(url)
        if ok:
            return {"url": url, "attempts": attempts, "status": seen}
        if time.monotonic() >= deadline:
            raise _fail(
                ctx,
                _(
                    "Odoo did not answer %(url)s with HTTP 200 within %(seconds)s s "
                    "(last: %(last)s)."
                ),
                url=url,
                seconds=int(timeout),
                last=seen,
            )
        _sleep(ctx, HEALTH_POLL)


def wait_healthy(ctx, transport, spec, timeout=HEALTH_TIMEOUT):
    """Wait for ``pg_isready`` (with the spec's host and port), then for the
    health URL to answer HTTP 200, fetched from the manager; both within
    ``timeout`` seconds. Returns {"url", "attempts", "status"}."""
    with ctx.step(_("Wait for health")):
        ctx.progress(10, _("Waiting for PostgreSQL and Odoo's health URL"))
        return _wait_healthy(ctx, transport, spec, timeout)


# ----------------------------------------------------------------------
# Install / upgrade
# ----------------------------------------------------------------------
def install_upgrade(
    ctx,
    transport,
    spec,
    install=(),
    upgrade=(),
    *,
    expected_versions=None,
    key="install-upgrade",
    stamp=None,
    timeout=INSTALL_TIMEOUT,
):
    """``odoo -c … -d … -i … -u … --stop-after-init --no-http``, Odoo's
    service being stopped by the caller.

    It runs detached (``key``), logging to a file of its own in the work
    directory. It failed when its exit code is not 0, when that log holds
    ERROR or CRITICAL records or tracebacks, when a module is left "to
    install", "to upgrade" or "to remove", when a requested module is not
    installed afterwards, or when one's version differs from
    ``expected_versions``. Returns ``{"ok", "versions": {module: version
    read from the database}, "errors", "log_excerpt", "log_file",
    "exit_code", "pending"}``; raises :class:`InstallFailed` (carrying that
    result) on failure.
    """
    with ctx.step(_("Install and upgrade the modules")):
        ctx.progress(10, _("Running Odoo to install and upgrade the modules"))
        return _install_upgrade(
            ctx,
            transport,
            spec,
            install,
            upgrade,
            expected_versions=expected_versions,
            key=key,
            stamp=_stamp(ctx, stamp),
            timeout=timeout,
        )


def _install_upgrade(
    ctx, transport, spec, install, upgrade, *, expected_versions, key, stamp, timeout
):
    install, upgrade = _modules(ctx, install), _modules(ctx, upgrade)
    db = checked_database(ctx, spec.db_name)
    if not spec.config_path:
        raise OperationFailed(ctx.text(_("No configuration file is set.")))
    config = checked_path(spec.config_path, "configuration file")
    work_dir = _work_dir(ctx, spec)
    log_file = f"{work_dir}/{key}-{db}-{stamp}.log"
    result = {
        "ok": True,
        "install": install,
        "upgrade": upgrade,
        "versions": {},
        "errors": [],
        "pending": {},
        "log_file": log_file,
        "log_excerpt": "",
        "exit_code": None,
    }
    if not install and not upgrade:
        return result
    _run(ctx, transport, ["mkdir", "-p", "--", work_dir], COMMAND_FAILED)
    argv = [*spec.odoo_argv, "-c", config, "-d", db]
    if install:
        argv += ["-i", ",".join(install)]
    if upgrade:
        argv += ["-u", ",".join(upgrade)]
    argv += [
        "--stop-after-init",
        "--no-http",
        "--max-cron-threads=0",
        "--logfile",
        log_file,
    ]
    try:
        status = ctx.run_detached(
            transport,
            argv,
            key,
            timeout=timeout,
            env=spec.db_env(),
            secrets=spec.db_secrets(),
        )
    except RemoteError as error:
        raise OperationFailed(str(error)) from error
    result["exit_code"] = status.exit_code
    reasons = []
    if not status.ok:
        reasons.append(why(ctx, status))
    _judge_install_log(ctx, transport, log_file, status, result, reasons)
    _judge_module_states(
        ctx, transport, spec, install + upgrade, expected_versions, result, reasons
    )
    if reasons:
        result["ok"] = False
        raise InstallFailed(
            ctx.text(
                _("Installing / upgrading %(modules)s failed: %(reasons)s"),
                modules=", ".join(install + upgrade),
                reasons="; ".join(reasons),
            ),
            result,
        )
    return result


def _judge_install_log(ctx, transport, log_file, status, result, reasons):
    read = ctx.run(
        transport,
        ["cat", "--", log_file],
        keep_output=False,
        timeout=600,
        capture_limits={
            "head_limit": 65536,
            "tail_limit": 65536,
            "spool_limit": MAX_LOG_BYTES,
        },
    )
    if not read.ok:
        reasons.append(ctx.text(_("its log %(path)s cannot be read"), path=log_file))
        result["log_excerpt"] = (status.stderr_excerpt or "")[-EXCERPT_CHARS:]
        return
    text = read.stdout.text()
    bad = [
        record
        for record in parse_records(text)
        if LEVELS.get(record.level, 0) >= LEVELS["ERROR"] or record.traceback
    ]
    for record in bad[:MAX_ERRORS]:
        first = record.message.split("\n", 1)[0][:300]
        cause = exception_summary(record.traceback) if record.traceback else ""
        result["errors"].append(
            f"{record.level} {record.logger}: {first}"
            + (f" ({cause})" if cause else "")
        )
    if bad:
        # The records with a traceback say why; the others that it failed.
        telling = [
            error
            for record, error in zip(bad, result["errors"], strict=False)
            if record.traceback
        ] or result["errors"]
        reasons.append(
            ctx.text(
                _(
                    "%(count)s ERROR / CRITICAL records or tracebacks in its log: "
                    "%(first)s"
                ),
                count=len(bad),
                first=" / ".join(telling[:2]),
            )
        )
        excerpt = "\n".join(
            record.message + ("\n" + record.traceback if record.traceback else "")
            for record in bad[:5]
        )
    else:
        excerpt = text
    stderr = status.stderr_excerpt or ""
    if not status.ok and stderr.strip():
        excerpt += "\n" + stderr
    result["log_excerpt"] = excerpt[-EXCERPT_CHARS:]


_CHAIN_SEPARATORS = (
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
)


def exception_summary(traceback, limit=400):
    """The exception line of a Python traceback, with the exception it was
    raised from (``raise … from``) when there is one: Odoo wraps the real
    cause of a data file's failure in a ParseError."""
    sections = [[None, None]]  # [separator before it, its exception line]
    after_frame = False
    for line in traceback.splitlines():
        stripped = line.strip()
        if stripped in _CHAIN_SEPARATORS:
            sections.append([stripped, None])
            after_frame = False
            continue
        if line[:1] in (" ", "\t"):
            after_frame = True
            continue
        if after_frame and stripped and sections[-1][1] is None:
            sections[-1][1] = stripped
        after_frame = False
    lines = [line for _separator, line in sections]
    if not lines[-1]:
        return ""
    summary = lines[-1]
    if len(sections) > 1 and sections[-1][0] == _CHAIN_SEPARATORS[0] and lines[-2]:
        summary = f"{lines[-2]}; raised as {summary}"
    return summary[:limit]


def _judge_module_states(ctx, transport, spec, requested, expected, result, reasons):
    try:
        states = _module_states(ctx, transport, spec)
    except OperationFailed as error:
        reasons.append(str(error))
        return
    pending = {
        name: state for name, (state, _v) in states.items() if state in PENDING_STATES
    }
    result["pending"] = pending
    if pending:
        reasons.append(
            ctx.text(
                _("modules left half-done: %(modules)s"),
                modules=", ".join(
                    f"{name} ({state})" for name, state in sorted(pending.items())
                ),
            )
        )
    missing = [name for name in requested if states.get(name, ("",))[0] != "installed"]
    if missing:
        reasons.append(
            ctx.text(
                _("not installed afterwards: %(modules)s"),
                modules=", ".join(
                    f"{name} ({states.get(name, (_('unknown'),))[0]})"
                    for name in missing
                ),
            )
        )
    for name in requested:
        if name in states:
            result["versions"][name] = states[name][1]
    for name, version in (expected or {}).items():
        got = result["versions"].get(name)
        if name in requested and version and got and got != version:
            reasons.append(
                ctx.text(
                    _("%(module)s is at version %(got)s, not %(expected)s"),
                    module=name,
                    got=got,
                    expected=version,
                )
            )


# ----------------------------------------------------------------------
# Rollback point and rollback
# ----------------------------------------------------------------------
def _point_names(ctx, spec, stamp):
    db = checked_database(ctx, spec.db_name)
    point = checked_database(ctx, f"{db}_rb_{stamp}", "rollback point name")
    failed = checked_database(ctx, f"{db}_failed_{stamp}", "failed database name")
    return db, point, failed


def _filestore_root(spec):
    if not spec.data_dir:
        return None
    return f"{checked_path(spec.data_dir, 'data directory')}/filestore"


def rollback_point(ctx, transport, spec, *, stamp=None, key="rollback-point"):
    """Copy the database and its filestore, Odoo being stopped.

    ``CREATE DATABASE "<db>_rb_<stamp>" TEMPLATE "<db>"`` refuses while
    anything is connected to the database: it is never taken of a live one.
    The filestore is copied with ``cp -a --reflink=auto`` to
    ``<data_dir>/filestore/<db>_rb_<stamp>``. Taken up again with the same
    stamp, an existing copy is kept. Returns {"database", "filestore",
    "created_at", "stamp", "notes"}.
    """
    with ctx.step(_("Take the rollback point")):
        ctx.progress(10, _("Copying the database and the filestore"))
        return _rollback_point(ctx, transport, spec, _stamp(ctx, stamp), key)


def _rollback_point(ctx, transport, spec, stamp, key):
    db, point, _failed = _point_names(ctx, spec, stamp)
    root = _filestore_root(spec)
    notes = []
    names = _existing_databases(ctx, transport, spec, [db, point])
    if db not in names:
        raise _fail(ctx, _("The database %(db)s does not exist."), db=db)
    created = False
    if point in names:
        notes.append(
            ctx.text(_("The copy %(name)s was already there: kept."), name=point)
        )
    else:
        for attempt in range(1, POINT_ATTEMPTS + 1):
            result = _admin(
                ctx,
                transport,
                spec,
                POINT_SQL,
                timeout=COPY_TIMEOUT,
                db=db,
                point=point,
            )
            if result.ok:
                created = True
                break
            if attempt == POINT_ATTEMPTS:
                raise _fail(
                    ctx,
                    _(
                        "The database could not be copied (is Odoo really stopped? "
                        "nothing may be connected to %(db)s): %(reason)s"
                    ),
                    result,
                    db=db,
                )
            _sleep(ctx, attempt * 2)
    source = f"{root}/{db}" if root else None
    target = f"{root}/{point}" if root else None
    if source is None:
        notes.append(ctx.text(_("The data directory is unknown: no filestore copy.")))
    elif not _exists(ctx, transport, source):
        notes.append(ctx.text(_("There is no filestore at %(path)s."), path=source))
        target = None
    else:
        failure = None
        try:
            status = ctx.run_detached(
                transport,
                ["cp", "-a", "--reflink=auto", "-T", "--", source, target],
                f"{key}-filestore",
                timeout=COPY_TIMEOUT,
            )
            if not status.ok:
                failure = why(ctx, status)
        except RemoteError as error:
            failure = str(error)
        if failure:
            run_anyway(ctx, transport, ["rm", "-rf", "--", target])
            if created:
                _admin(ctx, transport, spec, DROP_SQL, name=point)
            raise _fail(
                ctx,
                _("The filestore could not be copied: %(reason)s"),
                reason=failure,
            )
    return {
        "database": point,
        "filestore": target,
        "source_database": db,
        "source_filestore": source if target else None,
        "created_at": _now_iso(),
        "stamp": stamp,
        "notes": notes,
    }


def drop_rollback_point(ctx, transport, spec, point):
    """Drop a rollback point (or a failed copy: same keys) once it is no
    longer wanted; the environment's own database is never dropped."""
    with ctx.step(_("Drop the rollback point")):
        db = checked_database(ctx, spec.db_name)
        name = checked_database(ctx, point.get("database"))
        if name == db:
            raise _fail(ctx, _("%(db)s is the environment's database."), db=db)
        result = _admin(ctx, transport, spec, DROP_SQL, name=name)
        if not result.ok:
            raise _fail(
                ctx, _("%(name)s could not be dropped: %(reason)s"), result, name=name
            )
        filestore = point.get("filestore")
        root = _filestore_root(spec)
        if filestore:
            filestore = checked_path(filestore, "filestore copy")
            if (
                root is None
                or posixpath.dirname(filestore) != root
                or filestore == (f"{root}/{db}")
            ):
                raise _fail(
                    ctx, _("Unexpected filestore path %(path)s."), path=filestore
                )
            _run(ctx, transport, ["rm", "-rf", "--", filestore], COMMAND_FAILED)
        return {"dropped": name, "filestore_removed": filestore}


def rollback(
    ctx,
    transport,
    spec,
    point,
    deployed=None,
    *,
    key_prefix="rollback",
    health_timeout=HEALTH_TIMEOUT,
):
    """Put production back to ``point`` (from :func:`rollback_point`).

    Stops Odoo; renames the current database to ``<db>_failed_<stamp>``
    (its sessions terminated) and the copy to ``<db>``, in one transaction;
    moves the filestores likewise; puts the sources back (``deployed``, see
    :func:`undeploy`); starts Odoo and waits for health. Each part checks
    what is already done, so it can be repeated after an interruption.
    Returns {"database", "failed_database", "failed_filestore",
    "restored_from", "point_created_at", "sources", "health", "done"}.
    """
    return _Rollback(ctx, transport, spec, point, deployed, key_prefix).run(
        health_timeout
    )


class _Rollback:
    def __init__(self, ctx, transport, spec, point, deployed, key_prefix):
        self.ctx, self.transport, self.spec = ctx, transport, spec
        self.point, self.deployed, self.prefix = point, deployed, key_prefix
        stamp = _stamp(ctx, point.get("stamp"))
        self.db, self.copy, self.failed = _point_names(ctx, spec, stamp)
        if point.get("database") != self.copy:
            raise _fail(
                ctx,
                _("Unexpected rollback point %(name)s."),
                name=point.get("database"),
            )
        self.root = _filestore_root(spec)
        self.result = {
            "database": self.db,
            "restored_from": self.copy,
            "point_created_at": point.get("created_at"),
            "failed_database": None,
            "failed_filestore": None,
            "sources": [],
            "health": None,
            "done": [],
        }

    def run(self, health_timeout):
        ctx = self.ctx
        parts = (
            (_("Roll back: stop Odoo"), 10, self._stop),
            (_("Roll back: restore the database and filestore"), 30, self._swap),
            (_("Roll back: put the previous sources back"), 60, self._sources),
            (_("Roll back: start Odoo"), 75, self._start),
            (_("Roll back: wait for health"), 85, lambda: self._health(health_timeout)),
        )
        for label, percent, action in parts:
            try:
                with ctx.step(label):
                    ctx.progress(percent, label)
                    action()
            except OperationFailed as error:
                raise DeploymentFailed(
                    ctx.text(
                        _(
                            "The rollback stopped at “%(step)s”: %(error)s. "
                            "Done so far: %(done)s."
                        ),
                        step=ctx.text(label),
                        error=error,
                        done="; ".join(self.result["done"]) or "-",
                    ),
                    self.result,
                ) from error
        return self.result

    def _stop(self):
        _stop_odoo(self.ctx, self.transport, self.spec, f"{self.prefix}-odoo-stop")
        self.result["done"].append(self.ctx.text(_("Odoo stopped")))

    def _swap(self):
        ctx = self.ctx
        names = _existing_databases(
            ctx, self.transport, self.spec, [self.db, self.copy, self.failed]
        )
        if self.copy in names and self.failed in names:
            raise _fail(
                ctx,
                _("%(name)s already exists: the rollback cannot go on."),
                name=self.failed,
            )
        if self.copy in names:
            sql = SWAP_SQL if self.db in names else RENAME_POINT_SQL
            for attempt in range(1, SWAP_ATTEMPTS + 1):
                result = _admin(
                    ctx,
                    self.transport,
                    self.spec,
                    sql,
                    db=self.db,
                    point=self.copy,
                    failed=self.failed,
                )
                if result.ok:
                    break
                if attempt == SWAP_ATTEMPTS:
                    raise _fail(
                        ctx, _("The databases could not be swapped: %(reason)s"), result
                    )
                _sleep(ctx, attempt)
            if self.db in names:
                self.result["failed_database"] = self.failed
        elif self.failed in names and self.db in names:
            self.result["failed_database"] = self.failed  # done by an earlier attempt
        else:
            raise _fail(
                ctx, _("The rollback copy %(name)s is missing."), name=self.copy
            )
        self.result["done"].append(
            ctx.text(
                _(
                    "database %(db)s restored from %(copy)s (the failed one kept as "
                    "%(failed)s)"
                ),
                db=self.db,
                copy=self.copy,
                failed=self.result["failed_database"] or "-",
            )
        )
        self._swap_filestore()

    def _swap_filestore(self):
        ctx = self.ctx
        saved = self.point.get("filestore")
        if not saved:
            return
        if self.root is None or saved != f"{self.root}/{self.copy}":
            raise _fail(ctx, _("Unexpected filestore path %(path)s."), path=saved)
        current = f"{self.root}/{self.db}"
        failed = f"{self.root}/{self.failed}"
        existing = _existing(ctx, self.transport, [saved, current, failed])
        if saved not in existing:
            if current in existing:
                return  # moved back by an earlier attempt
            raise _fail(ctx, _("The filestore copy %(path)s is missing."), path=saved)
        if current in existing:
            if failed in existing:
                raise _fail(ctx, _("%(path)s already exists."), path=failed)
            _run(
                ctx,
                self.transport,
                ["mv", "-T", "--", current, failed],
                _("The failed filestore cannot be moved aside: %(reason)s"),
            )
            self.result["failed_filestore"] = failed
        _run(
            ctx,
            self.transport,
            ["mv", "-T", "--", saved, current],
            _("The filestore copy cannot be moved into place: %(reason)s"),
        )
        self.result["done"].append(ctx.text(_("filestore restored")))

    def _sources(self):
        if self.deployed:
            self.result["sources"] = _undeploy(self.ctx, self.transport, self.deployed)
            self.result["done"].append(self.ctx.text(_("previous sources put back")))

    def _start(self):
        _start_odoo(self.ctx, self.transport, self.spec, f"{self.prefix}-odoo-start")
        self.result["done"].append(self.ctx.text(_("Odoo started")))

    def _health(self, timeout):
        self.result["health"] = _wait_healthy(
            self.ctx, self.transport, self.spec, timeout
        )
        self.result["done"].append(self.ctx.text(_("Odoo healthy")))


# ----------------------------------------------------------------------
# The deployment run
# ----------------------------------------------------------------------
LABELS = {
    "precheck": _("Precheck: addons, commands and free space"),
    "backup": _("Back up before deploying"),
    "deploy": _("Deploy the sources"),
    "stop": _("Stop Odoo"),
    "rollback_point": _("Take the rollback point"),
    "install": _("Install and upgrade the modules"),
    "restart_database": _("Restart PostgreSQL"),
    "start": _("Start Odoo"),
    "health": _("Wait for health"),
    "log_check": _("Check the log"),
}
PERCENT = {
    "precheck": 2,
    "backup": 10,
    "deploy": 35,
    "stop": 40,
    "rollback_point": 45,
    "install": 50,
    "restart_database": 75,
    "start": 80,
    "health": 85,
    "log_check": 92,
}
ACTIONS = ("continue", "retry", "ignore", "rollback")


def deployment_run(
    ctx,
    transport,
    spec,
    *,
    source,
    install=(),
    upgrade=(),
    backup=None,
    log_check=None,
    auto_rollback=True,
    restart_database=True,
    health_timeout=HEALTH_TIMEOUT,
    stamp=None,
    on_state=None,
):
    """The deployment day as one operation (issue 3, operation 7).

    precheck (sources fetched or uploaded beside the addons and checked,
    commands set, room for the rollback point) → ``backup`` (the caller's,
    e.g. a verified bundle; it raises OperationFailed to stop the run)
    → deploy the sources → stop Odoo → rollback point → install / upgrade →
    restart PostgreSQL (unless ``restart_database`` is False: said in the
    notes) → start Odoo → health → ``log_check`` (the caller's; returns a
    dict with "verdict" "pass" / "warn" / "fail" and "reasons", or the
    verdict alone) → done. Both hooks are called as ``hook(ctx, transport,
    spec)``, or ``hook()`` when they take no argument.

    ``source`` is {"kind": "zip", "path": <zip on the manager>,
    "addons_path"} or {"kind": "git", "url", "ref", "addons_path"}, with
    optional "modules". With ``install`` and ``upgrade`` both empty, the
    deployed modules already installed are upgraded and the others installed.

    A failure before the stop puts the sources back and leaves Odoo running.
    A failure of the install, restart, start, health or log check rolls back
    when ``auto_rollback`` (then :class:`DeploymentFailed` says what failed
    and that it rolled back), else raises :class:`RollbackAvailable` for a
    person to choose (:func:`resume_deployment`). ``on_state(state)`` is
    called with a JSON-able copy of the run's state whenever it changes: keep
    it, it is what :func:`resume_deployment` needs after a restart.

    Returns the state: "deployed", "rollback_point", "install_result"
    (versions read back), "downtime" (seconds from the stop to healthy),
    "log_check", "backup", "notes", …
    """
    state = {
        "stamp": _stamp(ctx, stamp),
        "phase": None,
        "done": [],
        "failed_step": None,
        "failure": None,
        "source": dict(source or {}),
        "install": _modules(ctx, install),
        "upgrade": _modules(ctx, upgrade),
        "expected_versions": {},
        "auto_rollback": bool(auto_rollback),
        "restart_database": bool(restart_database),
        "deployed": None,
        "checks": [],
        "backup": None,
        "rollback_point": None,
        "install_result": None,
        "versions": {},
        "health": None,
        "log_check": None,
        "rollback": None,
        "stopped_at": None,
        "healthy_at": None,
        "downtime": None,
        "attempts": {},
        "ignored": [],
        "notes": [],
    }
    run = _Deployment(
        ctx, transport, spec, state, backup, log_check, on_state, health_timeout
    )
    return run.start()


def resume_deployment(
    ctx,
    transport,
    spec,
    state,
    action="continue",
    *,
    reason=None,
    log_check=None,
    on_state=None,
    health_timeout=HEALTH_TIMEOUT,
):
    """Take up a deployment run from its saved ``state``.

    ``action``: "continue" after the manager restarted (the step under way
    is taken up again: its detached commands are re-attached when the
    context journals them, an interrupted rollback is finished, a run
    interrupted before the stop is undone); "retry" the failed step (new
    commands); "ignore" its failure (``reason`` is kept in the notes) and go
    on; "rollback" to the rollback point (or, before the stop, put the
    sources back). Returns or raises as :func:`deployment_run`.
    """
    if action not in ACTIONS:
        raise _fail(ctx, _("Unknown action %(action)r."), action=action)
    run = _Deployment(
        ctx,
        transport,
        spec,
        copy.deepcopy(state),
        None,
        log_check,
        on_state,
        health_timeout,
    )
    return run.resume(action, reason)


class _Deployment:
    def __init__(
        self, ctx, transport, spec, state, backup, log_check, on_state, health_timeout
    ):
        self.ctx, self.transport, self.spec = ctx, transport, spec
        self.state = state
        self.backup, self.log_check = backup, log_check
        self.on_state = on_state
        self.health_timeout = health_timeout

    # -- bookkeeping --------------------------------------------------------
    def _save(self):
        if self.on_state is not None:
            self.on_state(copy.deepcopy(self.state))

    def _note(self, message, **params):
        self.state["notes"].append(self.ctx.text(message, **params))

    def _key(self, base, phase=None):
        attempt = self.state["attempts"].get(phase or base, 1)
        return base if attempt <= 1 else f"{base}-{attempt}"

    def _label(self, name):
        return self.ctx.text(LABELS[name])

    def _phase(self, name):
        self.state["phase"] = name
        self._save()
        with self.ctx.step(LABELS[name]):
            self.ctx.progress(PERCENT[name], LABELS[name])
            try:
                getattr(self, "_do_" + name)()
            except RemoteError as error:
                raise OperationFailed(str(error)) from error
        if name not in self.state["done"]:
            self.state["done"].append(name)
        self._save()

    def _effective(self):
        self.spec, _options = effective_spec(self.ctx, self.transport, self.spec)
        return _options

    # -- the sequence -------------------------------------------------------
    def start(self):
        try:
            self._options = self._effective()
            for name in BEFORE_STOP:
                self._phase(name)
        except OperationFailed as error:
            self._abort_before_stop(self.state["phase"] or "precheck", error)
        return self._after_stop(0)

    def _after_stop(self, index):
        for name in AFTER_STOP[index:]:
            try:
                self._phase(name)
            except OperationFailed as error:
                self._failed_after_stop(name, error)
            except Exception as error:  # noqa: BLE001 - production is down
                self._failed_after_stop(
                    name, OperationFailed(f"{type(error).__name__}: {error}")
                )
        return self._finish()

    def _finish(self):
        ctx = self.ctx
        with ctx.step(_("Done")):
            self.state["phase"] = "done"
            ctx.progress(100, _("Deployed"))
            self._save()
        return self.state

    def resume(self, action, reason):
        self._options = self._effective()
        phase = self.state.get("phase")
        if action == "rollback":
            return self._rollback_on_request()
        if action == "continue":
            return self._continue(phase)
        failed = self.state.get("failed_step")
        if failed not in AFTER_STOP:
            raise _fail(
                self.ctx, _("There is no failed step to %(action)s."), action=action
            )
        index = AFTER_STOP.index(failed)
        if action == "retry":
            self.state["attempts"][failed] = self.state["attempts"].get(failed, 1) + 1
        else:
            self.state["ignored"].append({"step": failed, "reason": reason or ""})
            self._note(
                _("The failure of “%(step)s” was ignored: %(reason)s"),
                step=self._label(failed),
                reason=reason or "-",
            )
            index += 1
        self.state["failed_step"] = None
        return self._after_stop(index)

    def _continue(self, phase):
        """Take the run up where the manager stopped following it."""
        state = self.state
        if phase in ("done", "rolled_back", "aborted"):
            return state
        if phase in ("rolling_back", "rollback_failed"):
            self._rollback_after(
                state.get("failed_step"), OperationFailed(state.get("failure") or "?")
            )
        if phase is None or phase in BEFORE_STOP:
            self._abort_before_stop(
                phase or "precheck",
                OperationFailed(
                    self.ctx.text(_("The run was interrupted before the stop."))
                ),
            )
        if phase in AFTER_STOP and not state.get("failed_step"):
            return self._after_stop(AFTER_STOP.index(phase))
        raise _fail(
            self.ctx,
            _(
                "This run waits for a decision about “%(step)s”: retry, ignore "
                "or roll back."
            ),
            step=self._label(state["failed_step"])
            if state.get("failed_step") in LABELS
            else phase,
        )

    # -- phases ---------------------------------------------------------------
    def _do_precheck(self):
        ctx, spec, state = self.ctx, self.spec, self.state
        missing = [
            label
            for label, value in (
                (_("database name"), spec.db_name),
                (_("configuration file"), spec.config_path),
                (_("command to stop Odoo"), spec.odoo_stop_argv),
                (_("command to start Odoo"), spec.odoo_start_argv),
                (_("health URL"), spec.health_url),
                (_("data directory"), spec.data_dir),
            )
            if not value
        ]
        if missing:
            raise _fail(
                ctx,
                _("The environment lacks what a deployment needs: %(missing)s."),
                missing=", ".join(ctx.text(label) for label in missing),
            )
        check_health_url(ctx, spec.health_url)
        _rollback_point_space(ctx, self.transport, spec, state["notes"])
        source = state["source"]
        kind = source.get("kind")
        if kind == "zip":
            plan = _prepare_zip(
                ctx,
                self.transport,
                spec,
                source.get("path"),
                source.get("addons_path"),
                source.get("modules"),
                state["stamp"],
                self._options,
            )
        elif kind == "git":
            plan = _prepare_git(
                ctx,
                self.transport,
                spec,
                source.get("url"),
                source.get("ref"),
                source.get("addons_path"),
                source.get("modules"),
                state["stamp"],
                self._options,
            )
        else:
            raise _fail(ctx, _("Unknown source kind %(kind)r."), kind=kind)
        state["deployed"] = plan
        state["checks"] = plan.get("checks", [])
        self._plan_modules(plan)

    def _plan_modules(self, plan):
        state = self.state
        checks = {check["name"]: check for check in plan.get("checks", [])}
        if not state["install"] and not state["upgrade"]:
            for name in plan["modules"]:
                if (checks.get(name) or {}).get("state") in ("installed", "to upgrade"):
                    state["upgrade"].append(name)
                else:
                    state["install"].append(name)
        state["expected_versions"] = {
            name: check["version"] for name, check in checks.items() if check["version"]
        }

    def _do_backup(self):
        if self.backup is None:
            self._note(_("No backup was taken: none was asked for."))
            return
        self.state["backup"] = _call(self.backup, self.ctx, self.transport, self.spec)

    def _do_deploy(self):
        plan = self.state["deployed"]
        if plan["kind"] == "zip":
            _apply_zip(self.ctx, self.transport, plan)
        else:
            _apply_git(self.ctx, self.transport, plan)

    def _do_stop(self):
        if not self.state["stopped_at"]:
            self.state["stopped_at"] = time.time()
            self._save()
        _stop_odoo(self.ctx, self.transport, self.spec, self._key("odoo-stop", "stop"))

    def _do_rollback_point(self):
        self.state["rollback_point"] = _rollback_point(
            self.ctx,
            self.transport,
            self.spec,
            self.state["stamp"],
            self._key("rollback-point", "rollback_point"),
        )

    def _do_install(self):
        state = self.state
        try:
            state["install_result"] = _install_upgrade(
                self.ctx,
                self.transport,
                self.spec,
                state["install"],
                state["upgrade"],
                expected_versions=state["expected_versions"],
                key=self._key("install-upgrade", "install"),
                stamp=state["stamp"],
                timeout=INSTALL_TIMEOUT,
            )
        except InstallFailed as error:
            state["install_result"] = error.result
            raise
        state["versions"] = state["install_result"]["versions"]

    def _do_restart_database(self):
        spec = self.spec
        if not self.state["restart_database"]:
            self._note(_("PostgreSQL was not restarted: the run was told not to."))
            return
        if not (spec.pg_restart_argv or (spec.pg_stop_argv and spec.pg_start_argv)):
            self._note(_("PostgreSQL was not restarted: no restart command is set."))
            return
        _restart_postgres(
            self.ctx,
            self.transport,
            spec,
            self._key("postgresql-restart", "restart_database"),
        )

    def _do_start(self):
        _start_odoo(
            self.ctx, self.transport, self.spec, self._key("odoo-start", "start")
        )

    def _do_health(self):
        state = self.state
        state["health"] = _wait_healthy(
            self.ctx, self.transport, self.spec, self.health_timeout
        )
        state["healthy_at"] = time.time()
        state["downtime"] = round(state["healthy_at"] - state["stopped_at"], 3)

    def _do_log_check(self):
        if self.log_check is None:
            self._note(_("No log check was asked for."))
            return
        verdict = _call(self.log_check, self.ctx, self.transport, self.spec)
        if isinstance(verdict, str):
            verdict = {"verdict": verdict, "reasons": []}
        self.state["log_check"] = verdict
        if (verdict or {}).get("verdict") == "fail":
            raise _fail(
                self.ctx,
                _("The log check failed: %(reasons)s"),
                reasons="; ".join(verdict.get("reasons") or []) or "-",
            )

    # -- failures -----------------------------------------------------------
    def _abort_before_stop(self, name, error):
        ctx, state = self.ctx, self.state
        state["failed_step"], state["failure"] = name, str(error)
        plan = state.get("deployed")
        extra = ""
        try:
            if plan:
                if plan.get("applied"):
                    _undeploy(ctx, self.transport, plan)
                _discard_incoming(ctx, self.transport, plan)
        except (OperationFailed, RemoteError) as second:
            extra = " " + ctx.text(
                _("Putting the sources back failed: %(error)s"), error=second
            )
        state["phase"] = "aborted"
        self._save()
        raise DeploymentFailed(
            ctx.text(
                _(
                    "“%(step)s” failed: %(error)s. Odoo was not stopped and the "
                    "sources are as they were."
                ),
                step=self._label(name),
                error=error,
            )
            + extra,
            state,
        ) from error

    def _failed_after_stop(self, name, error):
        ctx, state = self.ctx, self.state
        state["failed_step"], state["failure"] = name, str(error)
        self._save()
        if name in ("stop", "rollback_point"):
            self._recover_before_point(name, error)
        if not state["auto_rollback"]:
            raise RollbackAvailable(
                ctx.text(
                    _(
                        "“%(step)s” failed: %(error)s. A rollback point is ready "
                        "(%(point)s): retry the step, ignore the failure or roll back."
                    ),
                    step=self._label(name),
                    error=error,
                    point=state["rollback_point"]["database"],
                ),
                state,
                name,
            ) from error
        self._rollback_after(name, error)

    def _recover_before_point(self, name, error):
        """Stop or rollback point failed: the database is untouched; put the
        sources back and Odoo running again, then say so."""
        ctx, state = self.ctx, self.state
        try:
            self._put_back_and_start()
        except (OperationFailed, RemoteError) as second:
            state["phase"] = "failed"
            self._save()
            raise DeploymentFailed(
                ctx.text(
                    _(
                        "“%(step)s” failed: %(error)s. The database was not changed, "
                        "but putting the sources back and starting Odoo failed too: "
                        "%(second)s"
                    ),
                    step=self._label(name),
                    error=error,
                    second=second,
                ),
                state,
            ) from error
        raise DeploymentFailed(
            ctx.text(
                _(
                    "“%(step)s” failed: %(error)s. The database was not changed; "
                    "the previous sources are back and Odoo is running."
                ),
                step=self._label(name),
                error=error,
            ),
            state,
        ) from error

    def _put_back_and_start(self):
        ctx, state = self.ctx, self.state
        _undeploy(ctx, self.transport, state.get("deployed"))
        with ctx.step(_("Start Odoo again")):
            _start_odoo(ctx, self.transport, self.spec, self._key("recover-odoo-start"))
            state["health"] = _wait_healthy(
                ctx, self.transport, self.spec, self.health_timeout
            )
        state["phase"] = "aborted"
        self._save()

    def _rollback(self):
        state = self.state
        state["phase"] = "rolling_back"
        self._save()
        result = rollback(
            self.ctx,
            self.transport,
            self.spec,
            state["rollback_point"],
            state.get("deployed"),
            key_prefix=self._key("rollback"),
            health_timeout=self.health_timeout,
        )
        state["rollback"] = result
        state["phase"] = "rolled_back"
        if state["stopped_at"]:
            state["downtime"] = round(time.time() - state["stopped_at"], 3)
        self._save()
        return result

    def _rollback_after(self, name, error):
        ctx, state = self.ctx, self.state
        try:
            result = self._rollback()
        except DeploymentFailed as failed:
            state["rollback"] = failed.result
            state["phase"] = "rollback_failed"
            self._save()
            raise DeploymentFailed(
                ctx.text(
                    _(
                        "“%(step)s” failed: %(error)s. Rolling back failed too: "
                        "%(rollback)s"
                    ),
                    step=self._label(name) if name in LABELS else name,
                    error=error,
                    rollback=failed,
                ),
                state,
            ) from error
        raise DeploymentFailed(
            ctx.text(
                _(
                    "“%(step)s” failed: %(error)s. Rolled back: the database and "
                    "filestore are back to the rollback point of %(at)s (the failed "
                    "database is kept as %(failed)s), the previous sources are back, "
                    "and Odoo is running and healthy."
                ),
                step=self._label(name) if name in LABELS else name,
                error=error,
                at=state["rollback_point"]["created_at"],
                failed=result["failed_database"] or "-",
            ),
            state,
            rolled_back=True,
        ) from error

    def _rollback_on_request(self):
        state = self.state
        phase = state.get("phase")
        if not state.get("rollback_point"):
            if phase in ("stop", "rollback_point"):
                self._put_back_and_start()
            elif phase in AFTER_STOP:
                raise _fail(self.ctx, _("There is no rollback point to go back to."))
            else:
                with contextlib.suppress(DeploymentFailed):
                    self._abort_before_stop(phase or "precheck", OperationFailed("-"))
        else:
            state["attempts"]["rollback"] = state["attempts"].get("rollback", 1) + 1
            self._rollback()
        self._note(_("Rolled back on request."))
        self._save()
        return state
