"""The new sources of a deployment (BRIEF J3; issue 3, operation 3).

* :func:`check_addons` reads the manifests of the addons about to be
  deployed and refuses, before anything is touched, what Odoo would refuse
  or what would break: wrong series, not installable, a dependency neither
  installed nor available, an external Python dependency the environment's
  Python cannot import, a target path Odoo does not read;
* :func:`deploy_zip` / :func:`deploy_git` put new sources in place, keeping
  the previous ones for :func:`undeploy`.

Both come in two halves. ``_prepare_*`` stages the sources where Odoo does
not load them — a zip extracted into ``<addons_path>/.incoming-<stamp>``
(the same filesystem, so putting a module in place is a rename), a git
ref fetched into the checkout's objects without touching its working tree —
and checks them. ``_apply_*`` puts them in place: the deployment run
(:mod:`.deploy`) does that only while Odoo is stopped, so no worker
recycled in between loads new code on the old schema. Sources go only to
one of the environment's own addons paths (:func:`target_addons_path`),
checked before anything is uploaded, cloned or extracted.
"""

import ast
import json
import posixpath
import zipfile

from ..remote import (
    InvalidInput,
    RemoteError,
    validate_module_name,
)
from ..remote.transport import file_sha256
from ..remote.validation import git_url_credentials, validate_git_url
from .common import checked_path, run_anyway, why
from .context import OperationFailed
from .deploy_base import (
    BIN_RE,
    COMMAND_FAILED,
    COMMIT_RE,
    EMPTY_DIR_SH,
    GIT_TIMEOUT,
    LIST_MODULES_SH,
    MANIFEST_PATH_RE,
    MISSING_BIN_SH,
    PYDEP_RE,
    PYDEPS_PY,
    REF_RE,
    SERIES,
    SERVICE_TIMEOUT,
    AddonsRefused,
    _config_addons_paths,
    _existing,
    _exists,
    _fail,
    _lines,
    _module_states,
    _modules,
    _read_config,
    _run,
    _stamp,
    _version_key,
    _work_dir,
    environment_python,
    prepare_work_dir,
    require_space,
)
from .i18n import _


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
    the addons path they are meant for: then it must be one of the
    environment's own (:func:`target_addons_path`) and one Odoo reads (in the
    configuration's addons_path), and no earlier path may hide them.
    Returns one
    dict per module: ``name``, ``version``, ``installed_version``, ``state``,
    ``depends``, ``missing_depends``, ``python_missing`` ({requirement:
    why}), ``bin_missing``, ``problems``. Raises :class:`AddonsRefused`
    listing every problem found; nothing is changed either way.
    """
    with ctx.step(_("Check the addons' manifests")):
        addons_dir = checked_path(addons_dir, "addons directory")
        if target_path:
            target_path = target_addons_path(ctx, spec, target_path)
        present = _list_dir_modules(ctx, transport, addons_dir)
        modules = _modules(ctx, modules) if modules else present
        source = _DirSource(ctx, transport, addons_dir, modules)
        return _check_addons(ctx, transport, spec, modules, source, target_path)


def target_addons_path(ctx, spec, addons_path):
    """The addons path new sources go to, if it is one of the environment's
    own (``spec.addons_paths``); checked before anything is uploaded, cloned
    or extracted.

    A path typed for one deployment could be anywhere on the host: Odoo's
    own addons, another environment's checkout on a shared host. The
    environment's addons paths are the ones a person set for it.
    """
    path = checked_path(addons_path, "addons path")
    own = list(spec.addons_paths or ())
    if not own:
        raise _fail(
            ctx,
            _(
                "%(env)s has no addons path of its own: set its custom addons "
                "paths before deploying sources; nothing was changed."
            ),
            env=spec.name,
        )
    if path not in own:
        raise _fail(
            ctx,
            _(
                "%(path)s is not one of the addons paths of %(env)s "
                "(%(paths)s); nothing was changed."
            ),
            path=path,
            env=spec.name,
            paths=", ".join(own),
        )
    return path


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
    addons_path = target_addons_path(ctx, spec, addons_path)
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
        prepare_work_dir(ctx, transport, work_dir)
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
    """https://, ssh://, login@host:path, an absolute path or file:// (see
    :func:`~..remote.validation.validate_git_url`).

    A URL holding credentials is refused first, with how to do without: it
    would be kept in the operation's parameters and its journaled command
    lines. Messages never show what stands before the host's "@".
    """
    if git_url_credentials(url):
        raise _fail(
            ctx,
            _(
                "The repository URL holds credentials (a token or a password), "
                "which would be kept with the operation and shown in its "
                "journal; nothing was done. Use an SSH URL "
                "(git@host:org/repo.git) with a deploy key in the ~/.ssh of the "
                "host's user, or a git credential helper on the host."
            ),
        )
    try:
        return validate_git_url(url)
    except InvalidInput as error:
        raise _fail(
            ctx,
            _(
                "Invalid repository URL %(url)s: use https://, ssh://, "
                "user@host:path or an absolute path."
            ),
            url=error.value,
        ) from None


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
    path = target_addons_path(ctx, spec, addons_path)
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
            # --no-checkout: nothing but .git appears in the addons path
            # until _apply_git checks the commit out.
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
