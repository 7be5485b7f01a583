"""Backup bundles of an environment (BRIEF J1, J2) and their verification.

A bundle is one directory under the environment's backup directory, on the
environment's own host::

    database.dump           pg_dump, custom format
    filestore.tar           <data_dir>/filestore/<db>, as the directory <db>
    config/odoo.conf        the Odoo configuration file
    addons/<i>-<name>.tar   each custom addons path (its last component inside)
    extra/<i>-<name>.tar    each extra external path (J2)
    manifest.json           versions, modules, every part's size and sha256

While it is written the bundle holds ``.incomplete``: such a directory is
taken up again when the same operation resumes after its worker died (its
detached commands are re-attached), and is never taken for a finished
bundle. A bundle that fails to be written is removed.
"""

import json
import posixpath
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..remote import (
    ConnectionLost,
    InvalidInput,
    RemoteError,
    validate_path,
)
from .common import (
    LONG_TIMEOUT,
    SHORT_TIMEOUT,
    checked_database,
    checked_path,
    read_checksums,
    run_anyway,
    size_text,
    why,
)
from .context import OperationFailed
from .i18n import _

FORMAT = "deployment_manager.backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
INCOMPLETE = ".incomplete"
DUMP = "database.dump"
FILESTORE_TAR = "filestore.tar"
CONFIG_COPY = "config/odoo.conf"
KINDS = ("database", "filestore", "config", "addons", "extra")

# Room asked for beyond the estimate. A dump is usually smaller than the
# database, but not always (little compressible data, bloat-free tables);
# the margin keeps a nearly empty estimate from filling the disk to the brim.
SPACE_FACTOR = 1.1
SPACE_MARGIN = 16 * 1024 * 1024

# Writes stdin to the file $1 through a temporary name: a reader never sees
# half a manifest.
WRITE_FILE_SH = 'cat > "$1.tmp" && mv -f -- "$1.tmp" "$1"'
BUNDLE_STATE_SH = (
    'if [ ! -e "$1" ]; then echo new; '
    'elif [ -f "$1/.incomplete" ]; then echo resume; '
    "else echo exists; fi"
)
IS_BUNDLE_SH = '[ -f "$1/manifest.json" ] || [ -f "$1/.incomplete" ]'

SIZE_SQL = "SELECT pg_database_size(current_database())"
META_SQL = (
    "SELECT current_setting('server_version'), pg_encoding_to_char(encoding), "
    "datcollate, datctype FROM pg_database WHERE datname = current_database()"
)
MODULES_SQL = (
    "SELECT name, COALESCE(latest_version, '') FROM ir_module_module "
    "WHERE state = 'installed' ORDER BY name"
)
# Encoding and locale names as PostgreSQL spells them (UTF8, C, fr_FR.UTF-8).
LOCALE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


# ----------------------------------------------------------------------
# Backup
# ----------------------------------------------------------------------
@dataclass
class _Source:
    kind: str  # "addons" or "extra"
    index: int
    path: str

    @property
    def file(self):
        return f"{self.kind}/{self.index}-{posixpath.basename(self.path)}.tar"

    @property
    def name(self):
        return f"{self.kind}-{self.index}-{posixpath.basename(self.path)}"


@dataclass
class _Plan:
    bundle: str
    backup_dir: str
    db: str
    data_dir: str | None
    config: str | None
    sources: list = field(default_factory=list)

    def path(self, relative):
        return f"{self.bundle}/{relative}"

    @property
    def filestore_root(self):
        return f"{self.data_dir}/filestore" if self.data_dir else None

    @property
    def filestore(self):
        return f"{self.data_dir}/filestore/{self.db}" if self.data_dir else None


def _contains(outer, inner):
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def _plan(ctx, spec, bundle_dir, extra_paths):
    if not spec.backup_dir:
        raise OperationFailed(ctx.text(_("No backup directory is set.")))
    backup_dir = checked_path(spec.backup_dir, "backup directory")
    bundle = checked_path(bundle_dir, "bundle directory")
    if not _contains(backup_dir, bundle) or bundle == backup_dir:
        raise OperationFailed(
            ctx.text(
                _("%(path)s is not inside the backup directory %(root)s."),
                path=bundle,
                root=backup_dir,
            )
        )
    plan = _Plan(
        bundle=bundle,
        backup_dir=backup_dir,
        db=checked_database(ctx, spec.db_name),
        data_dir=checked_path(spec.data_dir, "data directory")
        if spec.data_dir
        else None,
        config=checked_path(spec.config_path, "configuration file")
        if spec.config_path
        else None,
    )
    for kind, paths in (("addons", spec.addons_paths), ("extra", extra_paths)):
        for index, path in enumerate(paths or (), start=1):
            source = _Source(kind, index, checked_path(path, f"{kind} path"))
            plan.sources.append(source)
    # A source holding the backup directory would archive the bundle being
    # written into itself.
    for path in [plan.filestore] + [s.path for s in plan.sources]:
        if path and (path == "/" or _contains(path, backup_dir)):
            raise OperationFailed(
                ctx.text(
                    _(
                        "The backup directory %(root)s is inside %(path)s, "
                        "which is backed up: choose a backup directory elsewhere."
                    ),
                    root=backup_dir,
                    path=path,
                )
            )
    return plan


def backup_bundle(ctx, transport, spec, bundle_dir, *, extra_paths=(), meta=None):
    """Write a verified backup bundle of the environment into ``bundle_dir``.

    ``bundle_dir`` must not exist yet and lies under ``spec.backup_dir``.
    Returns the manifest (a dict), with a ``verification`` entry added
    (``{"ok", "problems", "checked"}``): a bundle that fails its verification
    is returned, not raised, so its record can show why; one that cannot be
    written raises OperationFailed and is removed.
    """
    plan = _plan(ctx, spec, bundle_dir, extra_paths)
    notes = []
    with ctx.step(_("Check the free space")):
        ctx.progress(2, _("Estimating the size of the backup"))
        state = _bundle_state(ctx, transport, plan)
        estimate = None
        if state == "new":
            estimate = _check_space(ctx, transport, spec, plan)
        else:
            notes.append(
                ctx.text(
                    _("Resumed an interrupted backup into %(path)s."), path=plan.bundle
                )
            )
    with ctx.step(_("Read the versions and the installed modules")):
        ctx.progress(8, _("Reading the Odoo and PostgreSQL versions"))
        versions = _read_versions(ctx, transport, spec, notes)
    with ctx.step(_("Create the bundle directory")):
        ctx.run(transport, ["mkdir", "-p", "-m", "700", "--", plan.bundle]).check()
        ctx.run(transport, ["touch", "--", plan.path(INCOMPLETE)]).check()
    started = datetime.now(timezone.utc)
    try:
        parts = _write_parts(ctx, transport, spec, plan, notes)
        with ctx.step(_("Compute the checksums")):
            ctx.progress(82, _("Computing the checksums of the parts"))
            _measure_parts(ctx, transport, plan, parts)
        with ctx.step(_("Write the manifest")):
            ctx.progress(88, _("Writing the manifest"))
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "environment": spec.name,
                "database": plan.db,
                **versions,
                "parts": parts,
                "size": sum(part["size"] for part in parts),
                "estimated_size": estimate,
                "created_at": started.isoformat(timespec="seconds"),
                "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "notes": notes,
            }
            for key, value in (meta or {}).items():
                manifest.setdefault(key, value)
            data = json.dumps(manifest, indent=2, sort_keys=True).encode()
            _write_file(ctx, transport, plan.path(MANIFEST), data)
            ctx.run(transport, ["rm", "-f", "--", plan.path(INCOMPLETE)]).check()
    except ConnectionLost:
        raise  # the host is out of reach: the operation may resume
    except (OperationFailed, RemoteError):
        run_anyway(
            ctx, transport, ["rm", "-rf", "--", plan.bundle], timeout=SHORT_TIMEOUT
        )
        raise
    manifest["verification"], _manifest = verify_with_manifest(
        ctx, transport, plan.bundle, "verify", (92, 100)
    )
    return manifest


def _bundle_state(ctx, transport, plan):
    result = ctx.run(transport, ["sh", "-c", BUNDLE_STATE_SH, "sh", plan.bundle])
    state = result.stdout.excerpt().strip()
    if not result.ok or state not in ("new", "resume", "exists"):
        raise OperationFailed(
            ctx.text(
                _("The backup directory cannot be examined: %(reason)s"),
                reason=why(ctx, result),
            )
        )
    if state == "exists":
        raise OperationFailed(
            ctx.text(
                _("%(path)s already exists: a bundle needs a new directory."),
                path=plan.bundle,
            )
        )
    return state


def _check_space(ctx, transport, spec, plan):
    """Refuse before writing anything when the bundle would not fit."""
    result = ctx.run(
        transport,
        spec.psql_argv(SIZE_SQL),
        env=spec.db_env(),
        secrets=spec.db_secrets(),
        timeout=120,
    )
    text = result.stdout.excerpt().strip()
    if not result.ok or not text.isdigit():
        raise OperationFailed(
            ctx.text(
                _("The database %(db)s cannot be read: %(reason)s"),
                db=plan.db,
                reason=why(ctx, result),
            )
        )
    estimate = int(text)
    paths = [s.path for s in plan.sources]
    if plan.filestore:
        paths.append(plan.filestore)
    sizes, result = _disk_usage(ctx, transport, paths)
    for source in plan.sources:
        if source.path not in sizes:
            raise OperationFailed(
                ctx.text(
                    _("%(path)s cannot be read: %(reason)s"),
                    path=source.path,
                    reason=why(ctx, result),
                )
            )
    estimate += sum(sizes.values())
    ctx.run(transport, ["mkdir", "-p", "--", plan.backup_dir]).check()
    result = ctx.run(transport, ["df", "-B1", "--output=avail", "--", plan.backup_dir])
    words = result.stdout.excerpt().split()
    if not result.ok or not words or not words[-1].isdigit():
        raise OperationFailed(
            ctx.text(
                _("The free space in %(path)s cannot be read: %(reason)s"),
                path=plan.backup_dir,
                reason=why(ctx, result),
            )
        )
    free = int(words[-1])
    needed = int(estimate * SPACE_FACTOR) + SPACE_MARGIN
    if free < needed:
        raise OperationFailed(
            ctx.text(
                _(
                    "Not enough space for the backup: it needs about %(needed)s, "
                    "only %(free)s free in %(path)s."
                ),
                needed=size_text(needed),
                free=size_text(free),
                path=plan.backup_dir,
            )
        )
    return estimate


def _disk_usage(ctx, transport, paths):
    """{path: bytes} for the paths du could measure (the others are missing)."""
    if not paths:
        return {}, None
    result = ctx.run(transport, ["du", "-s", "-B1", "--", *paths], timeout=3600)
    sizes = {}
    for line in result.stdout.excerpt().splitlines():
        size, _tab, path = line.partition("\t")
        if size.isdigit() and path in paths:
            sizes[path] = int(size)
    return sizes, result


def _read_versions(ctx, transport, spec, notes):
    info = {
        "odoo_version": None,
        "postgres_version": None,
        "database_encoding": None,
        "database_collate": None,
        "database_ctype": None,
        "modules": [],
    }
    result = ctx.run(transport, [*spec.odoo_argv, "--version"], timeout=120)
    output = result.stdout.excerpt().strip()
    if result.ok and output:
        info["odoo_version"] = (
            output.splitlines()[-1].replace("Odoo Server", "").strip()
        )
    else:
        notes.append(
            ctx.text(_("Odoo version unknown: %(reason)s"), reason=why(ctx, result))
        )
    db_kwargs = {"env": spec.db_env(), "secrets": spec.db_secrets(), "timeout": 120}
    result = ctx.run(transport, spec.psql_argv(META_SQL), **db_kwargs)
    fields = result.stdout.excerpt().strip().split("|")
    if not result.ok or len(fields) != 4:
        raise OperationFailed(
            ctx.text(
                _("The database %(db)s cannot be read: %(reason)s"),
                db=spec.db_name,
                reason=why(ctx, result),
            )
        )
    keys = ("postgres_version", "database_encoding", "database_collate")
    for key, value in zip(keys + ("database_ctype",), fields, strict=True):
        info[key] = value.strip()
    result = ctx.run(transport, spec.psql_argv(MODULES_SQL), **db_kwargs)
    if result.ok:
        for line in result.stdout.text().splitlines():
            if line.count("|") == 1:
                name, version = line.split("|")
                info["modules"].append({"name": name, "version": version})
    else:
        notes.append(
            ctx.text(
                _("The installed modules cannot be read: %(reason)s"),
                reason=why(ctx, result),
            )
        )
    return info


def _part(name, kind, file, source, git_commit=None, git_dirty=None):
    return {
        "name": name,
        "kind": kind,
        "file": file,
        "source": source,
        "git_commit": git_commit,
        "git_dirty": git_dirty,
        "size": None,
        "sha256": None,
    }


def _write_parts(ctx, transport, spec, plan, notes):
    parts = []
    with ctx.step(_("Dump the database")):
        ctx.progress(15, _("Dumping the database"))
        parts.append(_dump_database(ctx, transport, spec, plan))
    with ctx.step(_("Archive the filestore")):
        ctx.progress(50, _("Archiving the filestore"))
        part = _archive_filestore(ctx, transport, plan, notes)
        if part:
            parts.append(part)
    with ctx.step(_("Copy the configuration file")):
        ctx.progress(65, _("Copying the configuration file"))
        if plan.config:
            ctx.run(transport, ["mkdir", "-p", "--", plan.path("config")]).check()
            result = ctx.run(
                transport, ["cp", "--", plan.config, plan.path(CONFIG_COPY)]
            )
            if not result.ok:
                raise OperationFailed(
                    ctx.text(
                        _(
                            "The configuration file %(path)s cannot be copied: "
                            "%(reason)s"
                        ),
                        path=plan.config,
                        reason=why(ctx, result),
                    )
                )
            parts.append(_part("config", "config", CONFIG_COPY, plan.config))
        else:
            notes.append(ctx.text(_("No configuration file is set: none was saved.")))
    with ctx.step(_("Archive the custom addons and the extra paths")):
        ctx.progress(70, _("Archiving the sources"))
        for kind in sorted({source.kind for source in plan.sources}):
            ctx.run(transport, ["mkdir", "-p", "--", plan.path(kind)]).check()
        for source in plan.sources:
            parts.append(_archive_source(ctx, transport, plan, source, notes))
    return parts


def _dump_database(ctx, transport, spec, plan):
    argv = [
        "pg_dump",
        "-Fc",
        *spec.pg_connection_args(),
        "-f",
        plan.path(DUMP),
        "-d",
        plan.db,
    ]
    status = ctx.run_detached(
        transport,
        argv,
        "backup-database",
        timeout=LONG_TIMEOUT,
        env=spec.db_env(),
        secrets=spec.db_secrets(),
    )
    if not status.ok:
        raise OperationFailed(
            ctx.text(
                _("The dump of the database %(db)s failed: %(reason)s"),
                db=plan.db,
                reason=why(ctx, status),
            )
        )
    return _part("database", "database", DUMP, plan.db)


def _tar_done(ctx, status, path, notes):
    """tar's exit code 1 means a file changed while it was read: noted, kept.

    ``status`` is a DetachedStatus or a CommandResult.
    """
    if status.ok:
        return
    ended = getattr(status, "state", "done") == "done" and not getattr(
        status, "timed_out", False
    )
    if ended and status.exit_code == 1 and not status.cancelled:
        notes.append(
            ctx.text(
                _("%(path)s changed while it was archived: %(reason)s"),
                path=path,
                reason=why(ctx, status),
            )
        )
        return
    raise OperationFailed(
        ctx.text(
            _("%(path)s could not be archived: %(reason)s"),
            path=path,
            reason=why(ctx, status),
        )
    )


def _archive_filestore(ctx, transport, plan, notes):
    if not plan.filestore:
        notes.append(
            ctx.text(_("The data directory is unknown: no filestore was saved."))
        )
        return None
    if not ctx.run(transport, ["test", "-d", plan.filestore]).ok:
        notes.append(
            ctx.text(
                _("There is no filestore at %(path)s: none was saved."),
                path=plan.filestore,
            )
        )
        return None
    argv = [
        "tar",
        "-C",
        plan.filestore_root,
        "-cf",
        plan.path(FILESTORE_TAR),
        "--",
        plan.db,
    ]
    status = ctx.run_detached(transport, argv, "backup-filestore", timeout=LONG_TIMEOUT)
    _tar_done(ctx, status, plan.filestore, notes)
    return _part("filestore", "filestore", FILESTORE_TAR, plan.filestore)


def _archive_source(ctx, transport, plan, source, notes):
    argv = [
        "tar",
        "-C",
        posixpath.dirname(source.path),
        "-cf",
        plan.path(source.file),
        "--",
        posixpath.basename(source.path),
    ]
    # Extra paths can be large (attached documents): detached. Addons
    # sources are small.
    if source.kind == "extra":
        status = ctx.run_detached(
            transport, argv, f"backup-extra-{source.index}", timeout=LONG_TIMEOUT
        )
    else:
        status = ctx.run(transport, argv, timeout=3600)
    _tar_done(ctx, status, source.path, notes)
    commit, dirty = _git_state(ctx, transport, source.path, notes)
    return _part(source.name, source.kind, source.file, source.path, commit, dirty)


def _git_state(ctx, transport, path, notes):
    """(commit, dirty) when the path is in a git checkout, else (None, None).

    Ownership checks are left on: running git as another user in a
    checkout someone else can write to would run that person's hooks.
    """
    git = ["git", "-c", "core.fsmonitor=false", "-C", path]
    result = ctx.run(transport, [*git, "rev-parse", "HEAD"], timeout=120)
    commit = result.stdout.excerpt().strip()
    if not result.ok or not re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", commit):
        if "safe.directory" in result.stderr_text:
            notes.append(
                ctx.text(
                    _("Git refuses to read %(path)s (owned by another user)."),
                    path=path,
                )
            )
        return None, None
    result = ctx.run(transport, [*git, "status", "--porcelain", "--", "."], timeout=600)
    if not result.ok:
        notes.append(
            ctx.text(
                _("Git status of %(path)s unknown: %(reason)s"),
                path=path,
                reason=why(ctx, result),
            )
        )
        return commit, None
    return commit, bool(result.stdout.excerpt().strip())


def _measure_parts(ctx, transport, plan, parts):
    paths = [plan.path(part["file"]) for part in parts]
    sums, status = read_checksums(ctx, transport, paths, "backup-checksums")
    result = ctx.run(transport, ["stat", "-c", "%s", "--", *paths])
    sizes = result.stdout.excerpt().split()
    if (
        not status.ok
        or len(sums) != len(paths)
        or not result.ok
        or len(sizes) != len(paths)
    ):
        raise OperationFailed(
            ctx.text(
                _("The parts of the bundle cannot be measured: %(reason)s"),
                reason=why(ctx, status if not status.ok else result),
            )
        )
    for part, path, size in zip(parts, paths, sizes, strict=True):
        part["sha256"] = sums[path]
        part["size"] = int(size)


def _write_file(ctx, transport, path, data):
    result = ctx.run(
        transport, ["sh", "-c", WRITE_FILE_SH, "sh", path], stdin_data=data
    )
    if not result.ok:
        raise OperationFailed(
            ctx.text(
                _("%(path)s cannot be written: %(reason)s"),
                path=path,
                reason=why(ctx, result),
            )
        )


# ----------------------------------------------------------------------
# Verification
# ----------------------------------------------------------------------
def verify_bundle(ctx, transport, bundle_dir, *, key_prefix="verify"):
    """Check a bundle against its manifest; never raises for a bad bundle.

    Every part's sha256 is recomputed and the database dump is read back in
    full by ``pg_restore`` (its data too, not only its table of contents).
    Returns ``{"ok": bool, "problems": [str], "checked": number of parts}``.
    ``key_prefix`` names the detached commands: an operation verifying two
    bundles gives each its own.
    """
    bundle = checked_path(bundle_dir, "bundle directory")
    return verify_with_manifest(ctx, transport, bundle, key_prefix, (0, 100))[0]


def verify_with_manifest(ctx, transport, bundle, key_prefix, span):
    """The verification report and the manifest (None if unreadable)."""
    low, high = span
    problems = []
    parts = []
    with ctx.step(_("Verify the bundle")):
        ctx.progress(low, _("Reading the manifest"))
        manifest = _read_manifest(ctx, transport, bundle, problems)
        if manifest is not None:
            parts = _manifest_parts(ctx, bundle, manifest, problems)
        if parts:
            ctx.progress(
                low + (high - low) // 4, _("Recomputing the checksums of the parts")
            )
            _compare_checksums(ctx, transport, parts, key_prefix, problems)
        dump = next((p for p, path in parts if p.get("kind") == "database"), None)
        if manifest is not None and dump is None:
            problems.append(ctx.text(_("The bundle has no database part.")))
        if dump is not None:
            ctx.progress(
                low + (high - low) // 2, _("Reading the database dump back in full")
            )
            status = ctx.run_detached(
                transport,
                ["pg_restore", "-f", "/dev/null", "--", f"{bundle}/{dump['file']}"],
                f"{key_prefix}-database",
                timeout=LONG_TIMEOUT,
            )
            if not status.ok:
                problems.append(
                    ctx.text(
                        _(
                            "Part %(name)s (%(file)s): pg_restore cannot read it "
                            "back: %(reason)s"
                        ),
                        name=dump.get("name"),
                        file=dump.get("file"),
                        reason=why(ctx, status),
                    )
                )
        ctx.progress(high, _("Verification done"))
    report = {"ok": not problems, "problems": problems, "checked": len(parts)}
    return report, manifest


def _read_manifest(ctx, transport, bundle, problems):
    result = ctx.run(transport, ["cat", "--", f"{bundle}/{MANIFEST}"])
    data = result.stdout.full_bytes() if result.ok else None
    if data is None:
        problems.append(
            ctx.text(
                _("The manifest of %(path)s cannot be read: %(reason)s"),
                path=bundle,
                reason=why(ctx, result),
            )
        )
        return None
    try:
        manifest = json.loads(data)
    except ValueError as error:
        manifest = error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("parts"), list):
        problems.append(
            ctx.text(
                _("The manifest of %(path)s is not a bundle manifest."), path=bundle
            )
        )
        return None
    return manifest


def _manifest_parts(ctx, bundle, manifest, problems):
    """[(part, absolute path)] of the parts whose file names are safe."""
    parts = []
    for part in manifest["parts"]:
        file = part.get("file") if isinstance(part, dict) else None
        path = f"{bundle}/{file}" if isinstance(file, str) else None
        try:
            valid = path and validate_path(path) and _contains(bundle, path)
        except InvalidInput:
            valid = False
        if not valid or path == bundle:
            problems.append(
                ctx.text(_("A part has an invalid file name: %(file)s"), file=file)
            )
            continue
        parts.append((part, path))
    return parts


def _compare_checksums(ctx, transport, parts, key_prefix, problems):
    sums, _status = read_checksums(
        ctx, transport, [path for _part, path in parts], f"{key_prefix}-checksums"
    )
    for part, path in parts:
        params = {"name": part.get("name"), "file": part.get("file")}
        if path not in sums:
            problems.append(
                ctx.text(
                    _("Part %(name)s (%(file)s) is missing or unreadable."), **params
                )
            )
        elif sums[path] != part.get("sha256"):
            problems.append(
                ctx.text(
                    _(
                        "Part %(name)s (%(file)s) is damaged: its sha256 differs "
                        "from the manifest's."
                    ),
                    **params,
                )
            )


# ----------------------------------------------------------------------
# Removal
# ----------------------------------------------------------------------
def remove_bundle(ctx, transport, spec, bundle_dir):
    """Delete a bundle: only a bundle, and only under the backup directory.

    The directory must hold ``manifest.json`` (or ``.incomplete``, what a
    failed backup can leave); symbolic links are resolved first, so a link
    cannot lead the removal outside the backup directory.
    """
    if not spec.backup_dir:
        raise OperationFailed(ctx.text(_("No backup directory is set.")))
    root = checked_path(spec.backup_dir, "backup directory")
    bundle = checked_path(bundle_dir, "bundle directory")
    with ctx.step(_("Remove the backup bundle")):
        result = ctx.run(transport, ["realpath", "-e", "--", root, bundle])
        lines = result.stdout.excerpt().split("\n")
        real = [line for line in lines if line]
        try:
            real_root, real_bundle = (validate_path(path) for path in real)
        except (InvalidInput, ValueError):
            real_root = real_bundle = None
        if not result.ok or not real_root or not _contains(real_root, real_bundle):
            raise OperationFailed(
                ctx.text(
                    _(
                        "%(path)s is not a directory inside the backup "
                        "directory %(root)s."
                    ),
                    path=bundle,
                    root=root,
                )
            )
        if (
            real_bundle == real_root
            or not ctx.run(transport, ["sh", "-c", IS_BUNDLE_SH, "sh", real_bundle]).ok
        ):
            raise OperationFailed(
                ctx.text(
                    _("%(path)s is not a backup bundle: nothing removed."), path=bundle
                )
            )
        ctx.run(transport, ["rm", "-rf", "--", real_bundle], timeout=3600).check()
    return {"removed": real_bundle}
