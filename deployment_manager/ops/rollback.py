"""Rollback point and rollback (BRIEF J4; issue 3, operation 8).

:func:`rollback_point` copies the database (``CREATE DATABASE … TEMPLATE``,
Odoo stopped: no write is lost) and the filestore; :func:`rollback` swaps
them back in and puts the sources back.

Names made from a stamp (``yyyymmddHHMMSS``, UTC) are deterministic, so a
step repeated after a restart finds what the first attempt did.
"""

import posixpath
from dataclasses import replace

from ..remote import (
    RemoteError,
)
from .common import checked_database, checked_path, run_anyway, why
from .context import OperationFailed
from .deploy_base import (
    COMMAND_FAILED,
    COPY_TIMEOUT,
    DROP_SQL,
    FILESTORE_MARK,
    GATE_OPEN,
    HEALTH_TIMEOUT,
    POINT_ATTEMPTS,
    POINT_SH,
    POINT_SQL,
    DeploymentFailed,
    _admin,
    _detached,
    _existing,
    _existing_databases,
    _exists,
    _fail,
    _filestore_root,
    _lines,
    _now_iso,
    _run,
    _sleep,
    _stamp,
)
from .i18n import _
from .odoo_control import (
    _start_odoo,
    _stop_odoo,
    _wait_healthy,
)
from .pg import swap_database_in
from .sources import (
    _undeploy,
)


# ----------------------------------------------------------------------
# Rollback point and rollback
# ----------------------------------------------------------------------
def _point_names(ctx, spec, stamp):
    db = checked_database(ctx, spec.db_name)
    point = checked_database(ctx, f"{db}_rb_{stamp}", "rollback point name")
    failed = checked_database(ctx, f"{db}_failed_{stamp}", "failed database name")
    return db, point, failed


def rollback_point(ctx, transport, spec, *, stamp=None, key="rollback-point"):
    """Copy the database and its filestore, Odoo being stopped.

    ``CREATE DATABASE "<db>_rb_<stamp>" TEMPLATE "<db>"`` refuses while
    anything is connected to the database: it is never taken of a live one.
    The filestore is copied with ``cp -a --reflink=auto`` to
    ``<data_dir>/filestore/<db>_rb_<stamp>`` at the same time, in the same
    detached command (both only read production); either failing, neither
    copy is kept. Taken up again with the same
    stamp, an existing copy is kept. Returns {"database", "filestore",
    "created_at", "stamp", "notes"}.
    """
    with ctx.step(_("Take the rollback point")):
        ctx.progress(10, _("Copying the database and the filestore"))
        return _rollback_point(ctx, transport, spec, _stamp(ctx, stamp), key)[0]


def _rollback_point(ctx, transport, spec, stamp, key, gate_go=None):
    """The rollback point; with ``gate_go``, the file that lets an install
    started ahead read its configuration (INSTALL_GATE_SH), made by the
    copy's own command as soon as both copies are made. Returns (the point,
    whether that command opened the gate)."""
    db, point, _failed = _point_names(ctx, spec, stamp)
    root = _filestore_root(spec)
    source = f"{root}/{db}" if root else None
    target = f"{root}/{point}" if root else None
    notes = []
    # Both copies at once, in one detached command (it survives the worker;
    # taken up again, its end is waited for): the filestore's is hidden
    # behind the database's, which takes longer on most productions.
    said, copied, opened, status = _copy_both(
        ctx, transport, spec, db, point, source, target, key, gate_go
    )
    result = status
    for attempt in range(1, POINT_ATTEMPTS + 1):
        if result.ok and said and said[-1] in ("kept", "created", "missing"):
            break
        # Lost with the worker's host, say: PostgreSQL is asked again.
        unknown = attempt == 1 and status.state != "done"
        if (not said and not unknown) or attempt == POINT_ATTEMPTS:
            _remove_copy(ctx, transport, target)
            if not said:
                raise _fail(ctx, _("PostgreSQL cannot be reached: %(reason)s"), result)
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
        result = _admin(
            ctx, transport, spec, POINT_SQL, timeout=COPY_TIMEOUT, db=db, point=point
        )
        said = _lines(result)
    if said[-1] == "missing":
        _remove_copy(ctx, transport, target)
        raise _fail(ctx, _("The database %(db)s does not exist."), db=db)
    created = said[-1] == "created"
    if not created:
        notes.append(
            ctx.text(_("The copy %(name)s was already there: kept."), name=point)
        )
    failure = None
    if source is None:
        notes.append(ctx.text(_("The data directory is unknown: no filestore copy.")))
    elif copied == "none" or (copied is None and not _exists(ctx, transport, source)):
        notes.append(ctx.text(_("There is no filestore at %(path)s."), path=source))
        target = None
    elif copied is None:
        # How the copy made with the database's ended is unknown (its
        # command was lost): made again on its own.
        failure = _copy_filestore(ctx, transport, source, target, f"{key}-filestore")
    elif copied != "0":
        failure = why(ctx, replace(status, exit_code=int(copied)))
    if failure:
        _remove_copy(ctx, transport, target)
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
    }, opened


def _copy_both(ctx, transport, spec, db, point, source, target, key, gate_go=None):
    """The database's copy (POINT_SQL) and the filestore's at the same time:
    (psql's lines, cp's exit status as text, "none" or None when unknown,
    whether it opened the gate ``gate_go``, the command's status)."""
    argv = spec.admin_psql_argv((("db", db), ("point", point)))
    status = _detached(
        ctx,
        transport,
        [
            "sh",
            "-c",
            POINT_SH,
            "sh",
            source or "",
            target or "",
            gate_go or "",
            POINT_SQL,
            *argv,
        ],
        key,
        COPY_TIMEOUT,
        spec,
    )
    lines = [line.strip() for line in status.stdout_excerpt.splitlines()]
    opened = GATE_OPEN in lines
    said = [
        line
        for line in lines
        if line and not line.startswith(FILESTORE_MARK) and line != GATE_OPEN
    ]
    copied = [
        line[len(FILESTORE_MARK) :] for line in lines if line.startswith(FILESTORE_MARK)
    ]
    copied = copied[-1] if copied and status.state == "done" else None
    if copied is not None and copied != "none" and not copied.isdigit():
        copied = None
    return said, copied, opened, status


def _copy_filestore(ctx, transport, source, target, key):
    """Copy the filestore alone; why it failed, or None."""
    try:
        status = ctx.run_detached(
            transport,
            ["cp", "-a", "--reflink=auto", "-T", "--", source, target],
            key,
            timeout=COPY_TIMEOUT,
        )
    except RemoteError as error:
        return str(error)
    return None if status.ok else why(ctx, status)


def _remove_copy(ctx, transport, target):
    if target:
        run_anyway(ctx, transport, ["rm", "-rf", "--", target])


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


POINT_SIZE_SQL = "SELECT pg_database_size(:'name');\n"


def rollback_point_sizes(ctx, transport, spec, point):
    """What a rollback point holds on the host, in bytes: {"database", "filestore"}.

    A part that cannot be measured (gone, unreadable) counts as None.
    """
    sizes = {"database": None, "filestore": None}
    name = checked_database(ctx, point.get("database"))
    result = _admin(ctx, transport, spec, POINT_SIZE_SQL, name=name)
    lines = result.stdout.text().split() if result.ok else []
    if lines and lines[0].isdigit():
        sizes["database"] = int(lines[0])
    if point.get("filestore"):
        filestore = checked_path(point["filestore"], "filestore copy")
        result = run_anyway(ctx, transport, ["du", "-sb", "--", filestore])
        words = result.stdout.text().split() if result.ok else []
        if words and words[0].isdigit():
            sizes["filestore"] = int(words[0])
    return sizes


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
            swap_database_in(
                ctx,
                lambda sql, **variables: _admin(
                    ctx, self.transport, self.spec, sql, **variables
                ),
                db=self.db,
                incoming=self.copy,
                aside=self.failed,
                replaces=self.db in names,
            )
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
