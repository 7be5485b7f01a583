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
import copy
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
MISSING_BIN_SH = (
    'for b in "$@"; do command -v -- "$b" > /dev/null 2>&1 || '
    'printf "%s\\n" "$b"; done'
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
    result = _admin(ctx, transport, spec, EXISTING_DB_SQL, a=names[0], b=names[1], c=names[2])
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
    if program.startswith("/") and not posixpath.basename(program).startswith(
        "python"
    ):
        result = ctx.run(transport, ["head", "-c", "256", "--", program], timeout=60)
        first = result.stdout.text().split("\n", 1)[0] if result.ok else ""
        if first.startswith("#!"):
            words = first[2:].split()
            if words and posixpath.basename(words[0]).startswith("python"):
                try:
                    return [validate_path(words[0], field="python")]
                except InvalidInput:
                    pass
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

    def read(self, name):
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

    def read(self, name):
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
    the addons path they are meant for (default ``addons_dir``). Returns one
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
        return _check_addons(
            ctx, transport, spec, modules, source, target_path or addons_dir
        )


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
                _(
                    "The addons cannot be deployed; nothing was changed: "
                    "%(problems)s"
                ),
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
    text = source.read(name)
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
            raise ValueError("not a dict")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as error:
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
    if not config_paths:
        return
    target = target_path.rstrip("/")
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
