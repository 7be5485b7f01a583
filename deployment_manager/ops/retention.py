"""What operations leave on a host, removed once old enough.

Install logs, uploaded zips, database dumps and run directories of commands
nobody collected (in the host's work directory), the modules a deployment
moved aside (``<addons path>/.previous``) and staging folders a run never
finished (``<addons path>/.incoming-*``): each is kept for a while to
explain or undo what happened, then it would only fill the disk.

Only entries older than the retention are touched: no operation runs for
days, so nothing in use is ever removed.

The databases operations set aside beside an environment's own — the one a
restore or a replication replaced (``<db>_before_<stamp>``), the failed one
a rollback replaced (``<db>_failed_<stamp>``), a replica a replication never
swapped in (``<db>_replica_<stamp>``) — and their filestores go the same
way (:func:`drop_old_copies`), once their stamp is older than the
environment's own retention. Rollback points have theirs (kept by number).
"""

import posixpath
import re
from datetime import datetime, timedelta, timezone

from ..remote import validate_path
from .common import checked_database, checked_path
from .context import OperationFailed
from .deploy_base import _admin, _fail, _lines
from .i18n import _

# Where leftovers are, relative to their root, as find(1) patterns.
ADDONS_LEFTOVERS = ((".previous", "*"), ("", ".incoming-*"))


def remove_leftovers(ctx, transport, work_dir, addons_paths, older_than_days):
    """Remove leftovers older than ``older_than_days`` days.

    Returns {"removed": [paths], "kept_days": n}. A root that does not exist
    is skipped; one that cannot be listed fails the operation, saying which.
    """
    days = _at_least_a_day(
        ctx,
        older_than_days,
        _("Leftovers are kept at least one day: %(days)s is too few."),
    )
    roots = [(validate_path(work_dir, field="work directory"), "*")]
    for path in addons_paths:
        path = validate_path(path, field="addons path")
        for sub, pattern in ADDONS_LEFTOVERS:
            roots.append((posixpath.join(path, sub) if sub else path, pattern))
    removed = []
    with ctx.step(_("Remove what operations left on the host")):
        for index, (root, pattern) in enumerate(roots):
            ctx.progress(
                100 * index / len(roots),
                _("Looking for old leftovers"),
            )
            found = _old_entries(ctx, transport, root, pattern, days)
            if not found:
                continue
            result = ctx.run(transport, ["rm", "-rf", "--", *found], timeout=1800)
            if not result.ok:
                raise OperationFailed(
                    ctx.text(
                        _("Leftovers in %(root)s could not be removed: %(reason)s"),
                        root=root,
                        reason=result.stderr.excerpt().strip() or result.exit_code,
                    )
                )
            removed.extend(found)
    return {"removed": removed, "kept_days": days}


def _at_least_a_day(ctx, days, message):
    """``days`` as a whole number; fewer than one would remove what a running
    operation uses."""
    days = int(days)
    if days < 1:
        raise OperationFailed(ctx.text(message, days=days))
    return days


def _old_entries(ctx, transport, root, pattern, days):
    """The direct children of ``root`` matching ``pattern``, older than ``days``.

    find's -mtime +N means "more than N whole days", hence days - 1.
    """
    result = ctx.run(
        transport,
        [
            "find",
            root,
            "-mindepth",
            "1",
            "-maxdepth",
            "1",
            "-name",
            pattern,
            "-mtime",
            f"+{days - 1}",
            "-print0",
        ],
        timeout=600,
    )
    if not result.ok:
        # A root that is not there has nothing to clean.
        exists = ctx.run(transport, ["test", "-d", root], timeout=60)
        if not exists.ok:
            return []
        raise OperationFailed(
            ctx.text(
                _("%(root)s could not be listed: %(reason)s"),
                root=root,
                reason=result.stderr.excerpt().strip() or result.exit_code,
            )
        )
    entries = [entry for entry in result.stdout.text().split("\0") if entry]
    # find prints paths under root; anything else would be a surprise.
    return [
        validate_path(entry, field="leftover")
        for entry in entries
        if posixpath.dirname(entry) == root.rstrip("/")
    ]


# The copies an operation leaves beside the database, named with the UTC
# time stamp (yyyymmddHHMMSS) of the operation that made them.
COPY_KINDS = ("before", "failed", "replica")
COPIES_SQL = "SELECT datname FROM pg_database WHERE starts_with(datname, :'prefix');\n"
DROP_COPY_SQL = 'DROP DATABASE IF EXISTS :"name";\n'


def old_copies(names, db, days, now=None):
    """Of ``names``, the copies of ``db`` whose stamp is older than ``days``."""
    pattern = re.compile(rf"{re.escape(db)}_(?:{'|'.join(COPY_KINDS)})_(\d{{14}})")
    limit = (now or datetime.now(timezone.utc)).replace(tzinfo=None) - timedelta(
        days=days
    )
    old = []
    for name in names:
        match = pattern.fullmatch(name)
        if not match:
            continue
        try:
            made = datetime.strptime(match.group(1), "%Y%m%d%H%M%S")
        except ValueError:
            continue
        if made < limit:
            old.append(name)
    return sorted(old)


def drop_old_copies(ctx, transport, spec, older_than_days, now=None):
    """Drop the copies of the environment's database (and their filestores)
    older than ``older_than_days`` days; return the databases dropped.

    The environment's own database, its rollback points and any other
    database are never touched: only the names its operations make.
    """
    days = _at_least_a_day(
        ctx,
        older_than_days,
        _("Copies are kept at least one day: %(days)s is too few."),
    )
    db = checked_database(ctx, spec.db_name)
    with ctx.step(ctx.text(_("Drop the old copies of %(db)s"), db=db)):
        result = _admin(ctx, transport, spec, COPIES_SQL, timeout=60, prefix=db + "_")
        if not result.ok:
            message = _("The databases beside %(db)s cannot be listed: %(reason)s")
            raise _fail(ctx, message, result, db=db)
        dropped = []
        for name in old_copies(_lines(result), db, days, now):
            _drop_copy(ctx, transport, spec, checked_database(ctx, name))
            dropped.append(name)
    return dropped


def _drop_copy(ctx, transport, spec, name):
    """One copy's database, then its filestore (where the environment keeps them)."""
    result = _admin(ctx, transport, spec, DROP_COPY_SQL, timeout=600, name=name)
    if not result.ok:
        message = _("The old copy %(name)s cannot be dropped: %(reason)s")
        raise _fail(ctx, message, result, name=name)
    if not spec.data_dir:
        return
    filestore = checked_path(f"{spec.data_dir}/filestore/{name}", "filestore copy")
    result = ctx.run(transport, ["rm", "-rf", "--", filestore], timeout=1800)
    if not result.ok:
        message = _("The filestore of %(name)s cannot be removed: %(reason)s")
        raise _fail(ctx, message, result, name=name)
