"""Restore a backup bundle into an environment (issue 3, operation 2).

The bundle is restored into a *new* database and a new filestore directory
first; only once both are complete is Odoo stopped and the new ones swapped
in under the environment's names. Up to the swap, a failure or a cancel
drops what was made and leaves the environment as it was. The swap is the
point of no return: the databases are swapped in one transaction, then the
filestores are moved, each part finding what an earlier attempt did; from
there the operation only goes forward (a cancel asked later is not
honoured, a failure says what is in place). The previous database and
filestore are kept under ``<db>_before_<stamp>`` names until an
administrator drops them.

Then, before Odoo starts again, each custom addons path of the environment
found in the bundle is extracted next to it and swapped in; the current
sources are kept as ``<path>.before-<stamp>``. A failed source restore puts
back what it moved and is reported in the result, the database and filestore
staying restored.
"""

import copy
import posixpath
import re
from datetime import datetime, timezone

from ..remote import InvalidInput, RemoteError, validate_path
from .backup import DUMP, LOCALE_RE, verify_with_manifest
from .common import (
    LONG_TIMEOUT,
    SHORT_TIMEOUT,
    checked_database,
    checked_path,
    run_anyway,
    why,
)
from .context import OperationFailed
from .deploy_base import _existing
from .i18n import _
from .pg import SwapUnknown, pg_restore_argv, swap_database_in

EXISTING_SQL = (
    "SELECT datname FROM pg_database "
    "WHERE datname IN (:'db', :'new', :'old') ORDER BY 1;\n"
)
# FORCE: a restore an interrupted attempt left running may still be in it.
DROP_NEW_SQL = 'DROP DATABASE IF EXISTS :"new" WITH (FORCE);\n'
STAMP_RE = re.compile(r"[0-9]{14}")
# The saved state's format: a state of another version is not taken up.
STATE_VERSION = 1
# The phases before the swap: the environment's own database and filestore
# are untouched, and a failure removes what was made. From "swap" on
# ("swap", "finish", "done") the operation only goes forward.
BEFORE_SWAP = ("copy", "neutralize", "stop")


def restore_bundle(
    ctx,
    transport,
    spec,
    bundle_dir,
    *,
    stop_odoo=True,
    stamp=None,
    restore_sources=True,
    on_state=None,
    resume_state=None,
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

    A cancel is honoured up to the swap (what was made is removed, the
    environment was not touched); asked later, it is not: the restore goes
    on to its end and its notes say the cancel came too late.

    ``on_state(state)`` receives where the restore stands (a small JSON-able
    dict) at each phase; given back as ``resume_state`` after the worker
    died, the restore is run again if it stopped before the swap (detached
    commands re-attached by the context; a failure removes what was made
    and starts Odoo again), else the swap is finished and Odoo started.

    Returns ``{"database", "previous_database", "previous_filestore",
    "restored_from", "bundle_database", "bundle_created_at", "odoo_stopped",
    "odoo_started", "sources_restored", "previous_sources": {path: kept
    path}, "verification", "notes"}``; when the sources could not be
    restored, ``sources_restored`` is False and ``sources_error`` says why.
    """
    stamp = stamp or (resume_state or {}).get("stamp")
    job = _Restore(ctx, transport, spec, bundle_dir, stamp)
    job.follow(on_state, resume_state)
    return job.run(stop_odoo, restore_sources)


def refuse_cancel(ctx):
    """From the swap on there is no undo: the context (``cancellable``) no
    longer raises on a cancel, nor stops a running command with it."""
    ctx.cancellable = False


def cancel_asked(ctx):
    event = getattr(ctx, "cancel_event", None)
    return event is not None and event.is_set()


class _Restore:
    # Names its detached commands (``<prefix>-start-odoo-…``) and its state.
    KEY_PREFIX = "restore"
    UNTOUCHED = _("The environment's database %(db)s was not touched.")
    # Where the operation stands (see follow()); fs_made: a new filestore
    # directory was made, which the swap moves in.
    on_state = None
    phase = None
    fs_made = False

    def __init__(self, ctx, transport, spec, bundle_dir, stamp):
        self.ctx = ctx
        self.transport = transport
        self.spec = spec
        self.bundle = checked_path(bundle_dir, "bundle directory")
        self.stamp = stamp or datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
        if not STAMP_RE.fullmatch(self.stamp):
            raise self._fail(_("Invalid restore stamp %(stamp)s."), stamp=self.stamp)
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
        # The bundle's addons parts, kept for a restore taken up after the swap.
        self.sources = []
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

    # -- state ---------------------------------------------------------------
    def follow(self, on_state, resume_state):
        """Report the state to ``on_state``; go on from ``resume_state``."""
        self.on_state = on_state
        if not resume_state:
            return
        state = resume_state
        if (
            state.get("version") != STATE_VERSION
            or state.get("kind") != self.KEY_PREFIX
            or state.get("stamp") != self.stamp
        ):
            raise self._fail(
                _("This saved state cannot be taken up: %(state)s"),
                state={k: state.get(k) for k in ("version", "kind", "stamp")},
            )
        self.phase = state.get("phase")
        self.old_exists = bool(state.get("old_exists"))
        self.fs_made = bool(state.get("filestore_made"))
        self.stop_attempted = bool(state.get("odoo_stopped"))
        self.sources = list(state.get("sources") or [])
        self.result.update(copy.deepcopy(state.get("result") or {}))
        self.notes = self.result["notes"] = list(self.result.get("notes") or [])
        if self.phase in BEFORE_SWAP:
            # Whatever an earlier attempt made goes if this one fails.
            self.new_created = True
            self.fs_new_created = self.fs_root is not None

    def _save(self, phase):
        self.phase = phase
        if self.on_state is None:
            return
        state = {
            "version": STATE_VERSION,
            "kind": self.KEY_PREFIX,
            "stamp": self.stamp,
            "phase": phase,
            "old_exists": self.old_exists,
            "filestore_made": self.fs_made,
            "odoo_stopped": self.stop_attempted,
            "sources": self.sources,
            "result": self.result,
        }
        self.on_state(copy.deepcopy(state))

    # -- the sequence ------------------------------------------------------
    def run(self, stop_odoo, restore_sources=True):
        self.restore_sources = restore_sources
        if self.phase in (None, *BEFORE_SWAP):
            # Taken up before the swap: run again, the context re-attaching
            # the detached commands an earlier attempt started.
            self._up_to_the_swap(stop_odoo)
        return self._from_the_swap(
            _("Swap in the restored database and filestore"), db=self.db
        )

    def _up_to_the_swap(self, stop_odoo):
        try:
            report, manifest = verify_with_manifest(
                self.ctx, self.transport, self.bundle, "restore-verify", (0, 30)
            )
        except (OperationFailed, RemoteError) as error:  # e.g. cancelled
            raise self._undone(error, self.UNTOUCHED, db=self.db) from error
        self.result["verification"] = report
        if not report["ok"]:
            # A restore taken up again may have made things and stopped Odoo.
            self._undo()
            raise self._fail(
                _(
                    "The bundle %(path)s failed its verification; nothing was "
                    "restored and the environment was not touched: %(problems)s"
                ),
                path=self.bundle,
                problems="; ".join(report["problems"]),
            )
        self.result["bundle_database"] = manifest.get("database")
        self.result["bundle_created_at"] = manifest.get("created_at")
        filestore = next(
            (p for p in manifest["parts"] if p.get("kind") == "filestore"), None
        )
        self.sources = [
            {key: part.get(key) for key in ("kind", "source", "file")}
            for part in manifest["parts"]
            if part.get("kind") == "addons"
        ]
        self._before_swap(
            [
                (
                    None,
                    _("Check the names of the new databases"),
                    lambda: self._check_names(filestore),
                ),
                (
                    "copy",
                    _("Restore the database into a new database"),
                    lambda: self._restore_database(manifest),
                ),
                (
                    "copy",
                    _("Restore the filestore into a new directory"),
                    lambda: self._restore_filestore(filestore),
                ),
            ],
            stop_odoo,
            db=self.db,
        )

    def _after_swap(self):
        ctx = self.ctx
        if self.restore_sources:
            with ctx.step(_("Restore the custom addons sources")):
                self._restore_sources({"parts": self.sources})
        else:
            self._note(_("The sources were not restored, as asked."))
        if self.result["odoo_stopped"]:
            with ctx.step(_("Start Odoo")):
                self._start_odoo()
        ctx.progress(100, _("Restored"))

    # -- steps -------------------------------------------------------------
    def _before_swap(self, steps, stop_odoo, **params):
        """Make the new database and filestore, then stop Odoo: until the
        swap, a failure or a cancel removes what was made (the environment
        was not touched). ``steps`` are (phase or None, step label, action)."""
        ctx = self.ctx
        try:
            for phase, label, action in steps:
                if phase not in (None, self.phase):
                    self._save(phase)
                with ctx.step(label):
                    action()
            if stop_odoo and self.spec.odoo_stop_argv:
                self.stop_attempted = True
                self._save("stop")
                with ctx.step(_("Stop Odoo")):
                    self._stop_odoo()
            elif stop_odoo:
                self._note(
                    _(
                        "No stop command is set: the database was swapped "
                        "under a running Odoo; restart it."
                    )
                )
        except (OperationFailed, RemoteError) as error:
            raise self._undone(error, self.UNTOUCHED, **params) from error

    def _from_the_swap(self, swap_step, **params):
        """The swap, the point of no return, and what follows it.

        Taken up after the swap, it is finished (each part finds what an
        earlier attempt did); from there a cancel is not honoured.
        """
        ctx = self.ctx
        if self.phase == "done":
            return self.result
        if self.phase in ("swap", "finish"):
            refuse_cancel(ctx)
        if self.phase != "finish":
            with ctx.step(swap_step):
                self._swap(**params)
        self._after_swap()
        if cancel_asked(ctx):
            self._note(
                _(
                    "A cancel was asked once the databases were swapped: too "
                    "late, there is no undo from there, so the operation went "
                    "on to its end."
                )
            )
        self._save("done")
        return self.result

    def _swap(self, **params):
        ctx = self.ctx
        # Progress commits the journal: a cancel asked so far is known here.
        ctx.progress(85, _("Swapping in the restored database"))
        try:
            if self.phase != "swap":
                if cancel_asked(ctx):
                    raise OperationFailed(ctx.text(_("Cancelled on request.")))
                refuse_cancel(ctx)
                self._save("swap")
            self._swap_databases()
        except SwapUnknown:
            raise
        except (OperationFailed, RemoteError) as error:
            # The databases are as they were (_swap_databases made sure).
            raise self._undone(error, self.UNTOUCHED, **params) from error
        try:
            self._move_filestores()
        except (OperationFailed, RemoteError) as error:
            fs = f"{self.fs_root}/"
            raise self._fail(
                _(
                    "%(error)s The new database is in place as %(db)s but its "
                    "filestore is not: Odoo was not started. Move %(new)s to "
                    "%(current)s (the previous filestore, if still there, to "
                    "%(previous)s), then start Odoo."
                ),
                error=error,
                db=self.db,
                new=fs + self.new,
                current=fs + self.db,
                previous=fs + self.old,
            ) from error
        self._save("finish")

    def _undone(self, error, message, **params):
        """Undo what was made; the failure to raise, saying what stayed."""
        self._undo()
        return OperationFailed("%s %s" % (error, self.ctx.text(message, **params)))

    def _note(self, message, **params):
        self.notes.append(self.ctx.text(message, **params))

    def _fail(self, message, result=None, **params):
        """The failure to raise: ``message`` filled, with why ``result`` failed."""
        if result is not None:
            params["reason"] = why(self.ctx, result)
        return OperationFailed(self.ctx.text(message, **params))

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
            raise self._fail(
                _(
                    "The bundle holds a filestore but the environment's data "
                    "directory is unknown: set it first."
                )
            )
        result = self._admin(EXISTING_SQL, db=self.db, new=self.new, old=self.old)
        if not result.ok:
            raise self._fail(_("PostgreSQL cannot be reached: %(reason)s"), result)
        names = set(result.stdout.excerpt().split())
        if self.old in names:
            raise self._fail(
                _("A database named %(name)s already exists: try again later."),
                name=self.old,
            )
        previous_fs = f"{self.fs_root}/{self.old}"
        if self.fs_root and ctx.run(self.transport, ["test", "-e", previous_fs]).ok:
            # The swap would have nowhere to move the current filestore to.
            raise self._fail(_("%(path)s already exists."), path=previous_fs)
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
        # Before the command: a cancel noticed right after it must drop it.
        self.new_created = True
        result = ctx.run(self.transport, argv, timeout=SHORT_TIMEOUT, **self.db_kwargs)
        if not result.ok:
            raise self._fail(
                _("The new database %(name)s cannot be created: %(reason)s"),
                result,
                name=self.new,
            )

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
            raise self._fail(
                _("Restoring into the new database %(name)s failed: %(reason)s"),
                status,
                name=self.new,
            )

    def _restore_filestore(self, part):
        ctx = self.ctx
        ctx.progress(60, _("Restoring the filestore into a new directory"))
        if part is None:
            self._note(
                _(
                    "The bundle holds no filestore: the environment's "
                    "filestore was left as it is."
                )
            )
            return
        ctx.run(self.transport, ["mkdir", "-p", "--", self.fs_root]).check()
        self.fs_new_created = self.fs_made = True
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
            raise self._fail(_("Extracting the filestore failed: %(reason)s"), status)

    def _stop_odoo(self):
        ctx = self.ctx
        ctx.progress(75, _("Stopping Odoo"))
        self.stop_attempted = True
        status = ctx.run_detached(
            self.transport,
            self.spec.odoo_stop_argv,
            f"{self.KEY_PREFIX}-stop-odoo-{self.stamp}",
            timeout=SHORT_TIMEOUT,
        )
        if not status.ok:
            raise self._fail(_("Odoo could not be stopped: %(reason)s"), status)
        self.result["odoo_stopped"] = True

    def _swap_databases(self):
        """Swap the new database in (ops.pg.swap_database_in): OperationFailed
        only when the databases are known to be as they were, SwapUnknown
        when what they are cannot be told."""
        swap_database_in(
            self.ctx,
            self._admin,
            db=self.db,
            incoming=self.new,
            aside=self.old,
            replaces=self.old_exists,
        )
        self.new_created = False  # it is the environment's database now
        if self.old_exists:
            self.result["previous_database"] = self.old

    def _move_filestores(self):
        """Move the environment's filestore aside and the new one in; taken
        up again, it finishes what an earlier attempt began."""
        if not self.fs_made:
            return
        ctx = self.ctx
        current = f"{self.fs_root}/{self.db}"
        previous = f"{self.fs_root}/{self.old}"
        new = f"{self.fs_root}/{self.new}"
        found = _existing(ctx, self.transport, [new, current, previous])
        exists = {p: p in found for p in (new, current, previous)}
        if exists[previous]:
            self.result["previous_filestore"] = previous
        if not exists[new]:
            if exists[current]:
                self.fs_new_created = False
                return  # moved in by an earlier attempt
            raise self._fail(_("The new filestore %(path)s is missing."), path=new)
        if exists[current]:
            if exists[previous]:
                raise self._fail(_("%(path)s already exists."), path=previous)
            self._move(current, previous)
            self.result["previous_filestore"] = previous
        self._move(new, current)
        self.fs_new_created = False

    def _move(self, path, target):
        ctx = self.ctx
        result = ctx.run(self.transport, ["mv", "-T", "--", path, target])
        if not result.ok:
            raise self._fail(
                _("The filestore %(path)s cannot be moved: %(reason)s"),
                result,
                path=path,
            )

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
            self._note(
                _(
                    "The bundle holds none of the environment's addons paths: "
                    "the sources were left as they are."
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
            self._note(_("The sources were not restored: %(reason)s"), reason=reason)
        else:
            self.result["sources_restored"] = True
            self.result["previous_sources"] = {
                path: kept for path, _staging, kept in done if kept
            }
        for staging in stagings:
            self._anyway(["rm", "-rf", "--", staging])

    def _swap_source(self, part, path, staging):
        ctx = self.ctx
        name = posixpath.basename(path)
        archive = checked_path(f"{self.bundle}/{part.get('file')}", "archive")
        extracted = f"{staging}/{name}"
        kept = f"{path}.before-{self.stamp}"

        def fail(message, result=None, **params):
            raise self._fail(message, result, path=path, **params)

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
            self._note(_("No start command is set: Odoo was left stopped."))
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
        if self.fs_new_created:
            self._anyway(["rm", "-rf", "--", f"{self.fs_root}/{self.new}"])
        if self.new_created:
            self._anyway(
                self.spec.admin_psql_argv([("new", self.new)]),
                stdin_data=DROP_NEW_SQL.encode(),
                **self.db_kwargs,
            )
        if self.stop_attempted and self.spec.odoo_start_argv:
            self._anyway(self.spec.odoo_start_argv)

    def _anyway(self, argv, **kwargs):
        """A clean-up command on the environment's host, run even once cancelled."""
        kwargs.setdefault("timeout", SHORT_TIMEOUT)
        return run_anyway(self.ctx, self.transport, argv, **kwargs)


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
