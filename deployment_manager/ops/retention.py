"""What operations leave on a host, removed once old enough.

Install logs, uploaded zips, database dumps and run directories of commands
nobody collected (in the host's work directory), the modules a deployment
moved aside (``<addons path>/.previous``) and staging folders a run never
finished (``<addons path>/.incoming-*``): each is kept for a while to
explain or undo what happened, then it would only fill the disk.

Only entries older than the retention are touched: no operation runs for
days, so nothing in use is ever removed.
"""

import posixpath

from ..remote import validate_path
from .context import OperationFailed
from .i18n import _

# Where leftovers are, relative to their root, as find(1) patterns.
ADDONS_LEFTOVERS = ((".previous", "*"), ("", ".incoming-*"))


def remove_leftovers(ctx, transport, work_dir, addons_paths, older_than_days):
    """Remove leftovers older than ``older_than_days`` days.

    Returns {"removed": [paths], "kept_days": n}. A root that does not exist
    is skipped; one that cannot be listed fails the operation, saying which.
    """
    days = int(older_than_days)
    if days < 1:
        raise OperationFailed(
            ctx.text(
                _("Leftovers are kept at least one day: %(days)s is too few."),
                days=days,
            )
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
