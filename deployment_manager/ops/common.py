"""What many operations share: checked names, why a command failed, sizes,
clean-ups that run even after a cancel, checksums.

Imported by the operations' modules (backup, restore, replication,
deployment, alignment, configuration, module tests…): nothing here belongs
to one of them.
"""

import re

from ..remote import InvalidInput, validate_database_name, validate_path
from .context import Cancelled, OperationFailed
from .i18n import _

# Detached commands taking longer than this are cancelled.
LONG_TIMEOUT = 12 * 3600
SHORT_TIMEOUT = 600
MIB = 1024**2
GIB = 1024**3


def checked_path(value, field_name):
    try:
        return validate_path(value, field=field_name)
    except InvalidInput as error:
        raise OperationFailed(str(error)) from None


def checked_database(ctx, value, field_name="database name"):
    if not value:
        raise OperationFailed(ctx.text(_("No database name is set.")))
    try:
        return validate_database_name(value, field=field_name)
    except InvalidInput as error:
        raise OperationFailed(str(error)) from None


def why(ctx, result):
    """Why a command failed, in a few words.

    ``result`` is a CommandResult or a DetachedStatus.
    """
    if getattr(result, "timed_out", False):
        return ctx.text(
            _("timed out after %(seconds)s s"), seconds=round(result.duration)
        )
    if getattr(result, "state", "done") == "lost":
        return ctx.text(_("the command was lost before it could report its end"))
    if result.cancelled:
        return ctx.text(_("cancelled"))
    if hasattr(result, "stderr_text"):
        text = result.stderr_text or result.stdout_text
    else:
        text = result.stderr_excerpt or result.stdout_excerpt
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    reason = ctx.text(_("exit code %(code)s"), code=result.exit_code)
    return reason + (": " + " / ".join(lines[-3:]) if lines else "")


def human_size(size):
    """Bytes for people, in binary units (``12.3 MiB``)."""
    size = float(size or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def size_text(size):
    if size >= GIB:
        return "%.2f GiB" % (size / GIB)
    return "%.1f MiB" % (size / MIB)


def run_anyway(ctx, transport, argv, **kwargs):
    """Clean-up after a failure: journaled when possible.

    When the operation was cancelled the context refuses to run anything
    more, yet what the operation left behind must still go.
    """
    try:
        return ctx.run(transport, argv, **kwargs)
    except Cancelled as cancelled:
        if cancelled.result is not None:
            return cancelled.result  # it ran: once is enough
        return transport.run(argv, **kwargs)
    except OperationFailed:
        return transport.run(argv, **kwargs)


def read_checksums(ctx, transport, paths, key):
    """{path: sha256} of the files that could be read, and the command's status.

    One detached ``sha256sum`` for all of them: large dumps take minutes.
    """
    status = ctx.run_detached(
        transport, ["sha256sum", "--", *paths], key, timeout=LONG_TIMEOUT
    )
    wanted = set(paths)
    sums = {}
    for line in (status.stdout_excerpt or "").splitlines():
        digest, path = line[:64], line[66:]
        if path in wanted and re.fullmatch(r"[0-9a-f]{64}", digest):
            sums[path] = digest
    return sums, status
