"""Align a target's modules with production's (BRIEF D3, S3; issue 4, operation 4).

Plain Python, every command through the operation's context:

* :func:`module_inventory` reads what an environment runs: its installed
  modules with their versions (from the database) and, for each custom
  addons path, the git commit of its checkout or, where it is not one (or
  has uncommitted changes), a hash of its content;
* :func:`module_difference` compares two inventories (pure);
* :func:`align_modules` brings the target's sources to production's (each
  differing addons path copied over, the target's previous one kept as
  ``<path>.previous-<stamp>``), installs and upgrades with Odoo until the
  difference is empty, and says so.

Modules installed on the target only are reported as ``extra`` and left
alone: uninstalling one is a person's decision, so they do not make the
difference non-empty.
"""

import re

from ..remote import InvalidInput, RemoteError, pipe, validate_module_name
from .common import checked_path, run_anyway, size_text, why
from .context import OperationFailed
from .deploy_base import STAMP_RE, _module_states, new_stamp
from .i18n import _
from .odoo_control import install_upgrade, start_odoo, stop_odoo, wait_healthy

SHORT_TIMEOUT = 300
HASH_TIMEOUT = 3600
COPY_TIMEOUT = 6 * 3600
HEX64_RE = re.compile(r"[0-9a-f]{64}")
COMMIT_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0"}
# Derived files Odoo's Python writes beside the sources: never compared.
DERIVED = ("__pycache__", "*.pyc")

# Constant shell text; every value reaches it as a positional argument.
# A deterministic tar of the directory (names sorted, times, owners and
# group/other permissions normalised, .git and bytecode left out) into
# sha256sum; the exit status is tar's, which a plain pipe would lose.
HASH_SH = (
    '{ s=$( { { tar -C "$1" --sort=name --mtime=@0 --owner=0 --group=0 '
    "--numeric-owner --mode=u=rwX,go=rX --format=gnu --exclude=.git "
    "--exclude=__pycache__ --exclude='*.pyc' -cf - . ; echo $? >&3; } "
    '| sha256sum >&4; } 3>&1 ); } 4>&1; [ "$s" = 0 ]'
)
# The destination side of a copy: a fresh directory, filled from stdin.
EXTRACT_SH = 'mkdir -p -- "$1" && exec tar -C "$1" -xf -'
DIR_STATE_SH = 'for f in "$@"; do if [ -e "$f" ]; then echo yes; else echo no; fi; done'


class AlignmentFailed(OperationFailed):
    """The difference is not empty after the alignment; ``report`` says
    what was done and what remains (as :func:`align_modules` returns it)."""

    def __init__(self, message, report):
        super().__init__(message)
        self.report = report


# ----------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------
def _stamp(ctx, stamp):
    stamp = stamp or new_stamp()
    if not isinstance(stamp, str) or not STAMP_RE.fullmatch(stamp):
        raise OperationFailed(ctx.text(_("Invalid stamp %(stamp)s."), stamp=stamp))
    return stamp


def _run(ctx, transport, argv, message=None, timeout=SHORT_TIMEOUT, **kwargs):
    try:
        result = ctx.run(transport, argv, timeout=timeout, **kwargs)
    except RemoteError as error:
        raise OperationFailed(str(error)) from error
    if message and not result.ok:
        raise OperationFailed(ctx.text(message, reason=why(ctx, result)))
    return result


def _addons_path(ctx, path):
    path = checked_path(path, "addons path")
    if path == "/" or path.count("/") < 2:
        raise OperationFailed(
            ctx.text(
                _("The addons path %(path)s is too close to the root to replace."),
                path=path,
            )
        )
    return path


def _exists(ctx, transport, paths):
    result = _run(
        ctx,
        transport,
        ["sh", "-c", DIR_STATE_SH, "sh", *paths],
        _("The host's files cannot be looked at: %(reason)s"),
    )
    answers = result.stdout.text().split()
    if len(answers) != len(paths):
        raise OperationFailed(ctx.text(_("The host's files cannot be looked at.")))
    return {path: answer == "yes" for path, answer in zip(paths, answers, strict=True)}


def _installed(ctx, transport, spec):
    """{name: version} of the installed modules whose names are valid."""
    modules = {}
    for name, (state, version) in _module_states(ctx, transport, spec).items():
        if state != "installed":
            continue
        try:
            modules[validate_module_name(name.strip())] = version.strip()
        except InvalidInput:
            continue
    return modules


def _derived(entry):
    """A ``git status --porcelain`` entry for bytecode only."""
    path = entry[3:].strip().strip('"')
    return path.endswith((".pyc", "__pycache__/")) or "/__pycache__/" in path


def _git_commit(ctx, transport, path):
    """(commit, clean) when ``path`` is the top of a git checkout, else None."""
    git = ["git", "-c", "core.fsmonitor=false", "-C", path]
    try:
        result = ctx.run(
            transport,
            [*git, "rev-parse", "--show-prefix", "HEAD"],
            timeout=SHORT_TIMEOUT,
            env=GIT_ENV,
        )
    except RemoteError as error:
        raise OperationFailed(str(error)) from error
    lines = result.stdout.text().split("\n")
    # At the top of the checkout the prefix is an empty line; a directory
    # inside a checkout is not one of its own (its copy would not be one).
    if not result.ok or len(lines) < 2 or lines[0].strip():
        return None
    commit = lines[1].strip()
    if not COMMIT_RE.fullmatch(commit):
        return None
    status = _run(
        ctx,
        transport,
        [*git, "status", "--porcelain", "--untracked-files=all"],
        env=GIT_ENV,
    )
    if not status.ok:
        return commit, False
    changes = [line for line in status.stdout.text().splitlines() if not _derived(line)]
    return commit, not changes


def _content_hash(ctx, transport, path):
    result = _run(
        ctx,
        transport,
        ["sh", "-c", HASH_SH, "sh", path],
        _("The content of an addons path cannot be hashed: %(reason)s"),
        timeout=HASH_TIMEOUT,
    )
    words = result.stdout.text().split()
    if not words or not HEX64_RE.fullmatch(words[0]):
        raise OperationFailed(
            ctx.text(
                _("The content hash of %(path)s cannot be read."),
                path=path,
            )
        )
    return words[0]


def _path_state(ctx, transport, path, exists):
    state = {"path": path, "exists": exists, "git_commit": None, "content_hash": None}
    if not exists:
        return state
    git = _git_commit(ctx, transport, path)
    if git:
        state["git_commit"] = git[0]
        if git[1]:
            return state
    # Not a checkout, or one with changes of its own: the content decides.
    state["content_hash"] = _content_hash(ctx, transport, path)
    return state


# ----------------------------------------------------------------------
# Inventory and difference
# ----------------------------------------------------------------------
def module_inventory(ctx, transport, spec):
    """What the environment runs: ``{"modules": {name: version}, "paths":
    [{"path", "exists", "git_commit", "content_hash"}, ...]}``, one entry per
    custom addons path of the spec, in order.

    ``git_commit`` is set for the top of a git checkout; ``content_hash``
    (sha256 of a deterministic tar, .git and bytecode left out) when it is
    not one or has uncommitted changes; both are None for a missing path.
    """
    with ctx.step(_("Read the modules and the sources")):
        modules = _installed(ctx, transport, spec)
        paths = [_addons_path(ctx, path) for path in spec.addons_paths]
        exists = _exists(ctx, transport, paths) if paths else {}
        states = [
            _path_state(ctx, transport, path, exists.get(path, False)) for path in paths
        ]
    return {"modules": modules, "paths": states}


def _same_sources(source, target):
    if source is None or target is None:
        return False
    if not source.get("exists") or not target.get("exists"):
        return False
    if source.get("content_hash") or target.get("content_hash"):
        return source.get("content_hash") == target.get("content_hash")
    return bool(source.get("git_commit")) and (
        source.get("git_commit") == target.get("git_commit")
    )


def _describe(state):
    if state is None:
        return None
    return {key: state.get(key) for key in ("exists", "git_commit", "content_hash")}


def module_difference(source_inventory, target_inventory):
    """What the target lacks compared with the source (pure).

    ``{"to_install", "to_upgrade", "extra", "sources", "empty"}``: modules
    installed in the source only, installed in both at different versions,
    installed in the target only; addons paths (paired by position) whose
    code differs, or that the target lacks. ``empty`` when there is nothing
    to install, upgrade or copy (``extra`` modules are left alone).
    """
    source_modules = source_inventory.get("modules", {})
    target_modules = target_inventory.get("modules", {})
    to_install = sorted(set(source_modules) - set(target_modules))
    to_upgrade = sorted(
        name
        for name in set(source_modules) & set(target_modules)
        if source_modules[name] != target_modules[name]
    )
    extra = sorted(set(target_modules) - set(source_modules))
    target_paths = target_inventory.get("paths", [])
    sources = []
    for index, source in enumerate(source_inventory.get("paths", [])):
        target = target_paths[index] if index < len(target_paths) else None
        if _same_sources(source, target):
            continue
        sources.append(
            {
                "index": index,
                "source_path": source["path"],
                "target_path": target["path"] if target else None,
                "source": _describe(source),
                "target": _describe(target),
            }
        )
    return {
        "to_install": to_install,
        "to_upgrade": to_upgrade,
        "extra": extra,
        "sources": sources,
        "empty": not (to_install or to_upgrade or sources),
    }


def describe_difference(ctx, difference):
    """The difference in a few words, for a person."""
    parts = []
    if difference["to_install"]:
        parts.append(
            ctx.text(
                _("to install: %(modules)s"),
                modules=", ".join(difference["to_install"]),
            )
        )
    if difference["to_upgrade"]:
        parts.append(
            ctx.text(
                _("to upgrade: %(modules)s"),
                modules=", ".join(difference["to_upgrade"]),
            )
        )
    for entry in difference["sources"]:
        parts.append(
            ctx.text(
                _("sources differ: %(source)s -> %(target)s"),
                source=entry["source_path"],
                target=entry["target_path"] or "?",
            )
        )
    return "; ".join(parts) or ctx.text(_("no difference"))


# ----------------------------------------------------------------------
# Alignment
# ----------------------------------------------------------------------
def _copy_sources(ctx, source_transport, target_transport, entry, stamp):
    """Stream the source path into ``<target>.incoming-<stamp>``, then swap it
    in, the target's current directory kept as ``<target>.previous-<stamp>``.
    Returns the previous directory's path, or None when there was none."""
    src = _addons_path(ctx, entry["source_path"])
    dst = _addons_path(ctx, entry["target_path"])
    incoming = f"{dst}.incoming-{stamp}"
    previous = f"{dst}.previous-{stamp}"
    state = _exists(ctx, target_transport, [dst, previous])
    if state[dst] and state[previous]:
        raise OperationFailed(
            ctx.text(
                _("%(path)s already exists: the target's sources cannot be kept."),
                path=previous,
            )
        )
    _run(
        ctx,
        target_transport,
        ["rm", "-rf", "--", incoming],
        _("A command failed on the host: %(reason)s"),
    )
    message = _("Copying the sources")

    def on_progress(copied):
        ctx.progress(40, "%s: %s" % (ctx.text(message), size_text(copied)))

    try:
        result = pipe(
            source_transport,
            [
                "tar",
                "-C",
                src,
                "--exclude=__pycache__",
                "--exclude=*.pyc",
                "-cf",
                "-",
                ".",
            ],
            target_transport,
            ["sh", "-c", EXTRACT_SH, "sh", incoming],
            on_progress=on_progress,
            cancel_event=getattr(ctx, "cancel_event", None),
        )
        for side in (result.src, result.dst):
            if not side.ok:
                raise OperationFailed(
                    ctx.text(
                        _("Copying %(source)s to %(target)s failed: %(reason)s"),
                        source=src,
                        target=dst,
                        reason=why(ctx, side),
                    )
                )
    except BaseException:
        run_anyway(
            ctx, target_transport, ["rm", "-rf", "--", incoming], timeout=SHORT_TIMEOUT
        )
        raise
    if state[dst]:
        _run(
            ctx,
            target_transport,
            ["mv", "-T", "--", dst, previous],
            _("The target's sources cannot be set aside: %(reason)s"),
        )
    _run(
        ctx,
        target_transport,
        ["mv", "-T", "--", incoming, dst],
        _("The new sources cannot be put in place: %(reason)s"),
    )
    return previous if (state[dst] or state[previous]) else None


def _inventories(ctx, source_transport, source_spec, target_transport, target_spec):
    source = module_inventory(ctx, source_transport, source_spec)
    target = module_inventory(ctx, target_transport, target_spec)
    return source, target, module_difference(source, target)


def align_modules(
    ctx,
    source_transport,
    source_spec,
    target_transport,
    target_spec,
    *,
    stamp=None,
    health_timeout=120,
):
    """Bring the target's modules to the source's (production's).

    Compares them; copies each differing addons path from the source to the
    target (the target's previous directory kept as
    ``<path>.previous-<stamp>``); stops the target's Odoo (when a stop
    command is set), installs and upgrades the modules with Odoo, starts it
    again (when a start command is set; then waits for its health URL, when
    one is set); compares again. Returns ``{"before", "after",
    "moved_paths", "install"}``; raises :class:`AlignmentFailed` when the
    difference is not empty afterwards, saying what remains.
    """
    stamp = _stamp(ctx, stamp)
    ctx.progress(5, _("Comparing the modules"))
    before = _inventories(
        ctx, source_transport, source_spec, target_transport, target_spec
    )[2]
    report = {"before": before, "after": before, "moved_paths": [], "install": None}
    if before["empty"]:
        ctx.progress(100, _("The modules are already aligned"))
        return report
    unplaced = [entry for entry in before["sources"] if not entry["target_path"]]
    if unplaced:
        raise OperationFailed(
            ctx.text(
                _("The target has no addons path matching %(paths)s."),
                paths=", ".join(entry["source_path"] for entry in unplaced),
            )
        )
    with ctx.step(_("Copy the sources")):
        for entry in before["sources"]:
            previous = _copy_sources(
                ctx, source_transport, target_transport, entry, stamp
            )
            if previous:
                report["moved_paths"].append(previous)
    if target_spec.odoo_stop_argv:
        stop_odoo(ctx, target_transport, target_spec, key="align-odoo-stop")
    try:
        report["install"] = install_upgrade(
            ctx,
            target_transport,
            target_spec,
            install=before["to_install"],
            upgrade=before["to_upgrade"],
            key="align-install-upgrade",
            stamp=stamp,
        )
    except OperationFailed as error:
        # Leave the target as it was found: running, with the new sources.
        if target_spec.odoo_start_argv:
            try:
                start_odoo(ctx, target_transport, target_spec, key="align-odoo-start")
            except OperationFailed as start_error:
                raise OperationFailed(
                    ctx.text(
                        _("%(error)s Odoo could not be started again: %(reason)s"),
                        error=error,
                        reason=start_error,
                    )
                ) from error
        raise
    if target_spec.odoo_start_argv:
        start_odoo(ctx, target_transport, target_spec, key="align-odoo-start")
        if target_spec.health_url:
            wait_healthy(ctx, target_transport, target_spec, timeout=health_timeout)
    ctx.progress(90, _("Comparing the modules again"))
    after = _inventories(
        ctx, source_transport, source_spec, target_transport, target_spec
    )[2]
    report["after"] = after
    if not after["empty"]:
        raise AlignmentFailed(
            ctx.text(
                _("The modules are still not aligned: %(remains)s"),
                remains=describe_difference(ctx, after),
            ),
            report,
        )
    ctx.progress(100, _("The modules are aligned"))
    return report
