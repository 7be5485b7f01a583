"""Restore a backup bundle into an environment (issue 3, operation 2).

The bundle is restored into a *new* database and a new filestore directory
first; only once both are complete is Odoo stopped and the new ones swapped
in under the environment's names, in one transaction for the databases. A
failure before the swap drops what was created and leaves the environment as
it was; the previous database and filestore are kept under
``<db>_before_<stamp>`` names until an administrator drops them.

Then, before Odoo starts again, each custom addons path of the environment
found in the bundle is extracted next to it and swapped in; the current
sources are kept as ``<path>.before-<stamp>``. A failed source restore puts
back what it moved and is reported in the result, the database and filestore
staying restored.
"""

import posixpath
import re
import time
from datetime import datetime, timezone

from ..remote import InvalidInput, validate_path
from .backup import (
    DUMP,
    LOCALE_RE,
    LONG_TIMEOUT,
    RENAME_IN_SQL,
    SHORT_TIMEOUT,
    SWAP_ATTEMPTS,
    SWAP_IN_SQL,
    checked_database,
    checked_path,
    pg_restore_argv,
    run_anyway,
    verify_with_manifest,
    why,
)
from .context import OperationFailed
from .i18n import _

EXISTING_SQL = (
    "SELECT datname FROM pg_database "
    "WHERE datname IN (:'db', :'new', :'old') ORDER BY 1;\n"
)
DROP_NEW_SQL = 'DROP DATABASE IF EXISTS :"new";\n'
STAMP_RE = re.compile(r"[0-9]{14}")


class _Inconsistent(OperationFailed):
    """The swap went half-way and could not be undone: said as it is."""


def restore_bundle(
    ctx,
    transport,
    spec,
    bundle_dir,
    *,
    stop_odoo=True,
    stamp=None,
    restore_sources=True,
):
    """Restore the bundle's database and filestore into the environment.

    ``stamp`` (``yyyymmddHHMMSS``, UTC) names the new and the previous
    database; a caller that may resume the operation after its worker died
    passes the same stamp again, so the detached restore is re-attached
    rather than confused with another one. With ``stop_odoo`` the
    environment's stop and start commands frame the swap; without, the
    caller has stopped Odoo itself. With ``restore_sources`` the bundle's
    archives of the environment's addons paths replace them (before Odoo is
    started again); the replaced ones are kept as ``<path>.before-<stamp>``.

    Returns ``{"database", "previous_database", "previous_filestore",
    "restored_from", "bundle_database", "bundle_created_at", "odoo_stopped",
    "odoo_started", "sources_restored", "previous_sources": {path: kept
    path}, "verification", "notes"}``; when the sources could not be
    restored, ``sources_restored`` is False and ``sources_error`` says why.
    """
    return _Restore(ctx, transport, spec, bundle_dir, stamp).run(
        stop_odoo, restore_sources
    )


class _Restore:
    # Names the detached commands of the operation (``<prefix>-start-odoo-…``).
    KEY_PREFIX = "restore"

    def __init__(self, ctx, transport, spec, bundle_dir, stamp):
        self.ctx = ctx
        self.transport = transport
        self.spec = spec
        self.bundle = checked_path(bundle_dir, "bundle directory")
        self.stamp = stamp or datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
        if not STAMP_RE.fullmatch(self.stamp):
            raise OperationFailed(
                ctx.text(_("Invalid restore stamp %(stamp)s."), stamp=self.stamp)
            )
        self.db = checked_database(ctx, spec.db_name)
        self.new = checked_database(ctx, f"{self.db}_restore_{self.stamp}")
        self.old = checked_database(ctx, f"{self.db}_before_{self.stamp}")
        data_dir = (
            checked_path(spec.data_dir, "data directory") if spec.data_dir else None
        )
        self.fs_root = f"{data_dir}/filestore" if data_dir else None
        self.db_kwargs = {"env": spec.db_env(), "secrets": spec.db_secrets()}
        self.notes = []
        self.new_created = False
        self.fs_new_created = False
        self.stop_attempted = False
        self.old_exists = False
        self.resumed = False
        self.result = {
            "database": self.db,
            "previous_database": None,
            "previous_filestore": None,
            "restored_from": self.bundle,
            "odoo_stopped": False,
            "odoo_started": False,
            "sources_restored": False,
            "previous_sources": {},
            "notes": self.notes,
        }

    # -- the sequence ------------------------------------------------------
    def run(self, stop_odoo, restore_sources=True):
        ctx = self.ctx
        report, manifest = verify_with_manifest(
            ctx, self.transport, self.bundle, "restore-verify", (0, 30)
        )
        self.result["verification"] = report
        if not report["ok"]:
            raise OperationFailed(
                ctx.text(
                    _(
                        "The bundle %(path)s failed its verification; nothing was "
                        "restored and the environment was not touched: %(problems)s"
                    ),
                    path=self.bundle,
                    problems="; ".join(report["problems"]),
                )
            )
        self.result["bundle_database"] = manifest.get("database")
        self.result["bundle_created_at"] = manifest.get("created_at")
        filestore = next(
            (p for p in manifest["parts"] if p.get("kind") == "filestore"), None
        )
        with ctx.step(_("Check the names of the new databases")):
            self._check_names(filestore)
        try:
            with ctx.step(_("Restore the database into a new database")):
                self._restore_database(manifest)
            with ctx.step(_("Restore the filestore into a new directory")):
                self._restore_filestore(filestore)
            self._stop_then_swap(
                _("Swap in the restored database and filestore"), stop_odoo
            )
        except _Inconsistent:
            raise
        except OperationFailed as error:
            raise self._undone(
                error,
                _("The environment's database %(db)s was not touched."),
                db=self.db,
            ) from error
        if restore_sources:
            with ctx.step(_("Restore the custom addons sources")):
                self._restore_sources(manifest)
        else:
            self.notes.append(ctx.text(_("The sources were not restored, as asked.")))
        if self.result["odoo_stopped"]:
            with ctx.step(_("Start Odoo")):
                self._start_odoo()
        ctx.progress(100, _("Restored"))
        return self.result

    # -- steps -------------------------------------------------------------
    def _stop_then_swap(self, swap_step, stop_odoo=True):
        """Stop Odoo (or say the swap happens under it), then swap the new
        database and filestore in."""
        ctx = self.ctx
        if stop_odoo and self.spec.odoo_stop_argv:
            with ctx.step(_("Stop Odoo")):
                self._stop_odoo()
        elif stop_odoo:
            self.notes.append(
                ctx.text(
                    _(
                        "No stop command is set: the database was swapped "
                        "under a running Odoo; restart it."
                    )
                )
            )
        with ctx.step(swap_step):
            self._swap()

    def _undone(self, error, message, **params):
        """Undo what was made; the failure to raise, saying what stayed."""
        self._undo()
        return OperationFailed("%s %s" % (error, self.ctx.text(message, **params)))

    def _admin(self, sql, timeout=120, **variables):
        return self.ctx.run(
            self.transport,
            self.spec.admin_psql_argv(variables.items()),
            stdin_data=sql.encode(),
            timeout=timeout,
            **self.db_kwargs,
        )

    def _check_names(self, filestore):
        ctx = self.ctx
        if filestore and not self.fs_root:
            raise OperationFailed(
                ctx.text(
                    _(
                        "The bundle holds a filestore but the environment's data "
                        "directory is unknown: set it first."
                    )
                )
            )
        result = self._admin(EXISTING_SQL, db=self.db, new=self.new, old=self.old)
        if not result.ok:
            raise OperationFailed(
                ctx.text(
                    _("PostgreSQL cannot be reached: %(reason)s"),
                    reason=why(ctx, result),
                )
            )
        names = set(result.stdout.excerpt().split())
        if self.old in names:
            raise OperationFailed(
                ctx.text(
                    _("A database named %(name)s already exists: try again later."),
                    name=self.old,
                )
            )
        self.old_exists = self.db in names
        # Only a resumed run of this very operation (same stamp) finds it.
        self.resumed = self.new in names

    def _restore_database(self, manifest):
        self.ctx.progress(35, _("Restoring the database into a new database"))
        self._restore_into_new(f"{self.bundle}/{DUMP}", manifest)

    def _restore_into_new(self, dump, locale, options=()):
        """Create the new database with ``locale`` (unless a resumed run of
        this operation made it) and restore the dump into it in parallel,
        detached: a worker taking the operation up again re-attaches."""
        if not self.resumed:
            self._create_new(locale)
        self._restore_file(dump, options)

    def _create_new(self, locale):
        ctx = self.ctx
        argv = [
            "createdb",
            *self.spec.pg_connection_args(),
            "-T",
            "template0",
            *_locale_args(locale),
            "--",
            self.new,
        ]
        result = ctx.run(self.transport, argv, timeout=SHORT_TIMEOUT, **self.db_kwargs)
        if not result.ok:
            raise OperationFailed(
                ctx.text(
                    _("The new database %(name)s cannot be created: %(reason)s"),
                    name=self.new,
                    reason=why(ctx, result),
                )
            )
        self.new_created = True

    def _restore_file(self, dump, options=()):
        ctx = self.ctx
        self.new_created = True
        connection = self.spec.pg_connection_args()
        status = ctx.run_detached(
            self.transport,
            pg_restore_argv(connection, self.new, dump, options),
            f"{self.KEY_PREFIX}-database-{self.stamp}",
            timeout=LONG_TIMEOUT,
            **self.db_kwargs,
        )
        if not status.ok:
            raise OperationFailed(
                ctx.text(
                    _("Restoring into the new database %(name)s failed: %(reason)s"),
                    name=self.new,
                    reason=why(ctx, status),
                )
            )

    def _restore_filestore(self, part):
        ctx = self.ctx
        ctx.progress(60, _("Restoring the filestore into a new directory"))
        if part is None:
            self.notes.append(
                ctx.text(
                    _(
                        "The bundle holds no filestore: the environment's "
                        "filestore was left as it is."
                    )
                )
            )
            return
        ctx.run(self.transport, ["mkdir", "-p", "--", self.fs_root]).check()
        self.fs_new_created = True
        # The archive holds one directory named after the backed-up
        # database; it is extracted under the new name, its owner and mode
        # kept (S: symbolic link targets are left alone).
        argv = [
            "tar",
            "-C",
            self.fs_root,
            f"--transform=s,^[^/]*,{self.new},S",
            "-xf",
            f"{self.bundle}/{part['file']}",
        ]
        status = ctx.run_detached(
            self.transport,
            argv,
            f"restore-filestore-{self.stamp}",
            timeout=LONG_TIMEOUT,
        )
        if not status.ok:
            raise OperationFailed(
                ctx.text(
                    _("Extracting the filestore failed: %(reason)s"),
                    reason=why(ctx, status),
                )
            )

    def _stop_odoo(self):
        ctx = self.ctx
        ctx.progress(75, _("Stopping Odoo"))
        self.stop_attempted = True
        status = ctx.run_detached(
            self.transport,
            self.spec.odoo_stop_argv,
            f"restore-stop-odoo-{self.stamp}",
            timeout=SHORT_TIMEOUT,
        )
        if not status.ok:
            raise OperationFailed(
                ctx.text(
                    _("Odoo could not be stopped: %(reason)s"), reason=why(ctx, status)
                )
            )
        self.result["odoo_stopped"] = True

    def _swap(self):
        ctx = self.ctx
        ctx.progress(85, _("Swapping in the restored database"))
        sql = SWAP_IN_SQL if self.old_exists else RENAME_IN_SQL
        for attempt in range(1, SWAP_ATTEMPTS + 1):
            result = self._admin(sql, db=self.db, aside=self.old, incoming=self.new)
            if result.ok:
                break
            if attempt == SWAP_ATTEMPTS:
                raise OperationFailed(
                    ctx.text(
                        _("The databases could not be swapped: %(reason)s"),
                        reason=why(ctx, result),
                    )
                )
            # Someone reconnected between the termination and the rename.
            time.sleep(attempt)
        self.new_created = False  # it is the environment's database now
        if self.old_exists:
            self.result["previous_database"] = self.old
        try:
            self._swap_filestores()
        except OperationFailed as error:
            self._unswap_databases(error)
            raise

    def _swap_filestores(self):
        if not self.fs_new_created:
            return
        ctx = self.ctx
        current = f"{self.fs_root}/{self.db}"
        previous = f"{self.fs_root}/{self.old}"
        restored = f"{self.fs_root}/{self.new}"
        had_one = ctx.run(self.transport, ["test", "-e", current]).ok
        if had_one:
            result = ctx.run(self.transport, ["mv", "-T", "--", current, previous])
            if not result.ok:
                raise OperationFailed(
                    ctx.text(
                        _("The filestore %(path)s cannot be moved: %(reason)s"),
                        path=current,
                        reason=why(ctx, result),
                    )
                )
        result = ctx.run(self.transport, ["mv", "-T", "--", restored, current])
        if not result.ok:
            if had_one:
                back = run_anyway(
                    ctx, self.transport, ["mv", "-T", "--", previous, current]
                )
                if not back.ok:
                    raise _Inconsistent(
                        ctx.text(
                            _(
                                "The restored filestore cannot be moved into place "
                                "and the previous one stays at %(previous)s: "
                                "%(reason)s"
                            ),
                            previous=previous,
                            reason=why(ctx, result),
                        )
                    )
            raise OperationFailed(
                ctx.text(
                    _("The restored filestore cannot be moved into place: %(reason)s"),
                    reason=why(ctx, result),
                )
            )
        self.fs_new_created = False
        if had_one:
            self.result["previous_filestore"] = previous

    def _unswap_databases(self, error):
        """Put the environment's database back after a failed filestore swap."""
        ctx = self.ctx
        sql = (
            SWAP_IN_SQL
            if self.old_exists
            else 'ALTER DATABASE :"db" RENAME TO :"aside";\n'
        )
        result = self._admin(sql, db=self.db, aside=self.new, incoming=self.old)
        if not result.ok:
            raise _Inconsistent(
                ctx.text(
                    _(
                        "%(error)s The restored database is in place as %(db)s "
                        "(the previous one is %(old)s) and could not be swapped "
                        "back: %(reason)s"
                    ),
                    error=error,
                    db=self.db,
                    old=self.old,
                    reason=why(ctx, result),
                )
            ) from error
        self.new_created = True
        self.result["previous_database"] = None

    # -- sources -------------------------------------------------------------
    def _restore_sources(self, manifest):
        """Swap in the bundle's addons archives; never raises OperationFailed.

        Only parts whose source is one of the environment's addons paths are
        restored. On a failure every path already swapped is put back.
        """
        ctx = self.ctx
        wanted = set()
        for path in self.spec.addons_paths or ():
            try:
                wanted.add(validate_path(path, field="addons path"))
            except InvalidInput:
                continue
        parts = [
            part
            for part in manifest["parts"]
            if part.get("kind") == "addons"
            and part.get("source") in wanted
            and part["source"] != "/"
        ]
        if not parts:
            self.notes.append(
                ctx.text(
                    _(
                        "The bundle holds none of the environment's addons paths: "
                        "the sources were left as they are."
                    )
                )
            )
            return
        ctx.progress(90, _("Restoring the custom addons sources"))
        done = []  # (path, staging, kept path or None), swapped in
        stagings = []
        try:
            for part in parts:
                path = part["source"]
                staging = f"{posixpath.dirname(path)}/.restore-{self.stamp}"
                if staging not in stagings:
                    stagings.append(staging)
                done.append(self._swap_source(part, path, staging))
        except OperationFailed as error:
            problems = self._unswap_sources(done)
            reason = " ".join([str(error), *problems])
            self.result["sources_restored"] = False
            self.result["sources_error"] = reason
            self.notes.append(
                ctx.text(_("The sources were not restored: %(reason)s"), reason=reason)
            )
        else:
            self.result["sources_restored"] = True
            self.result["previous_sources"] = {
                path: kept for path, _staging, kept in done if kept
            }
        for staging in stagings:
            run_anyway(
                ctx, self.transport, ["rm", "-rf", "--", staging], timeout=SHORT_TIMEOUT
            )

    def _swap_source(self, part, path, staging):
        ctx = self.ctx
        name = posixpath.basename(path)
        archive = checked_path(f"{self.bundle}/{part.get('file')}", "archive")
        extracted = f"{staging}/{name}"
        kept = f"{path}.before-{self.stamp}"

        def fail(message, result=None, **params):
            if result is not None:
                params["reason"] = why(ctx, result)
            raise OperationFailed(ctx.text(message, path=path, **params))

        for argv in (
            ["mkdir", "-p", "--", staging],
            ["rm", "-rf", "--", extracted],
            ["tar", "-C", staging, "-xf", archive, "--", name],
        ):
            result = ctx.run(self.transport, argv, timeout=3600)
            if not result.ok:
                fail(_("%(path)s cannot be extracted: %(reason)s"), result)
        if not ctx.run(self.transport, ["test", "-d", extracted]).ok:
            fail(_("The archive of %(path)s holds no directory %(name)s."), name=name)
        if ctx.run(self.transport, ["test", "-e", kept]).ok:
            fail(_("%(kept)s already exists: %(path)s was left as it is."), kept=kept)
        had_one = ctx.run(self.transport, ["test", "-e", path]).ok
        if had_one:
            result = ctx.run(self.transport, ["mv", "-T", "--", path, kept])
            if not result.ok:
                fail(_("%(path)s cannot be moved: %(reason)s"), result)
        result = ctx.run(self.transport, ["mv", "-T", "--", extracted, path])
        if not result.ok:
            if had_one:
                back = run_anyway(ctx, self.transport, ["mv", "-T", "--", kept, path])
                if not back.ok:
                    fail(
                        _(
                            "The restored %(path)s cannot be moved into place and "
                            "the previous one stays at %(kept)s: %(reason)s"
                        ),
                        result,
                        kept=kept,
                    )
            fail(
                _("The restored %(path)s cannot be moved into place: %(reason)s"),
                result,
            )
        return path, staging, kept if had_one else None

    def _unswap_sources(self, done):
        """Put back the sources swapped so far; the problems met, as text."""
        ctx = self.ctx
        problems = []
        for path, staging, kept in reversed(done):
            name = posixpath.basename(path)
            away = run_anyway(
                ctx, self.transport, ["mv", "-T", "--", path, f"{staging}/{name}"]
            )
            back = away
            if away.ok and kept:
                back = run_anyway(ctx, self.transport, ["mv", "-T", "--", kept, path])
            if not back.ok:
                problems.append(
                    ctx.text(
                        _(
                            "%(path)s could not be put back (the previous sources "
                            "are at %(kept)s): %(reason)s"
                        ),
                        path=path,
                        kept=kept or "-",
                        reason=why(ctx, back),
                    )
                )
        return problems

    def _start_odoo(self):
        ctx = self.ctx
        if not self.spec.odoo_start_argv:
            self.notes.append(
                ctx.text(_("No start command is set: Odoo was left stopped."))
            )
            return
        ctx.progress(95, _("Starting Odoo"))
        status = ctx.run_detached(
            self.transport,
            self.spec.odoo_start_argv,
            f"{self.KEY_PREFIX}-start-odoo-{self.stamp}",
            timeout=SHORT_TIMEOUT,
        )
        if not status.ok:
            raise OperationFailed(self._not_started_message(why(ctx, status)))
        self.result["odoo_started"] = True

    def _not_started_message(self, reason):
        return self.ctx.text(
            _(
                "The bundle was restored into %(db)s (the previous "
                "database is kept as %(old)s) but Odoo did not start: "
                "%(reason)s"
            ),
            db=self.db,
            old=self.result["previous_database"] or "-",
            reason=reason,
        )

    def _undo(self):
        """Remove what this restore created; start Odoo again if it was stopped."""
        ctx = self.ctx
        if self.fs_new_created:
            run_anyway(
                ctx,
                self.transport,
                ["rm", "-rf", "--", f"{self.fs_root}/{self.new}"],
                timeout=SHORT_TIMEOUT,
            )
        if self.new_created:
            run_anyway(
                ctx,
                self.transport,
                self.spec.admin_psql_argv([("new", self.new)]),
                stdin_data=DROP_NEW_SQL.encode(),
                timeout=SHORT_TIMEOUT,
                **self.db_kwargs,
            )
        if self.stop_attempted and self.spec.odoo_start_argv:
            run_anyway(
                ctx, self.transport, self.spec.odoo_start_argv, timeout=SHORT_TIMEOUT
            )


def _locale_args(manifest):
    """createdb options giving the new database the backed-up one's encoding
    and locale (Odoo creates its databases with LC_COLLATE C: sorting differs
    otherwise)."""
    args = []
    options = (
        ("database_encoding", "--encoding"),
        ("database_collate", "--lc-collate"),
        ("database_ctype", "--lc-ctype"),
    )
    for key, option in options:
        value = manifest.get(key)
        if isinstance(value, str) and LOCALE_RE.fullmatch(value):
            args.append(f"{option}={value}")
    return args
