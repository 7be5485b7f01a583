"""PostgreSQL commands the operations share: a SQL script of ours run by
psql, a parallel ``pg_restore``, a dump loaded as it streams, one database
put in place of another (the swap of a restore, a replication and a
rollback)."""

import shlex
import time

from ..remote import RemoteError
from .common import checked_database, why
from .context import OperationFailed
from .deploy_base import _fail, _lines, _run
from .i18n import _

# A script that reads a database: long enough for a large one.
READ_TIMEOUT = 600


def run_script(
    ctx,
    transport,
    spec,
    sql,
    *,
    database=None,
    variables=(),
    separator=None,
    message=None,
    timeout=READ_TIMEOUT,
    keep_output=True,
):
    """Run ``sql`` (a constant of ours, on stdin) with psql on ``database``
    (the environment's by default); return (the database, its output lines).

    ``variables`` are psql variables (see ``script_psql_argv``). A failure
    raises OperationFailed with ``message`` (``%(db)s``, ``%(reason)s``):
    "The database … cannot be read" unless said otherwise. Without
    ``keep_output`` the journal keeps no copy of what was read.
    """
    db = checked_database(ctx, database or spec.db_name)
    result = _run(
        ctx,
        transport,
        spec.script_psql_argv(db, variables, separator),
        stdin_data=sql.encode(),
        timeout=timeout,
        keep_output=keep_output,
        env=spec.db_env(),
        secrets=spec.db_secrets(),
    )
    if not result.ok:
        message = message or _("The database %(db)s cannot be read: %(reason)s")
        raise _fail(ctx, message, result, db=db)
    return db, _lines(result)


# Putting a database in place of another: one transaction, both renames or
# neither. RENAME waits a little for the terminated sessions to go; callers
# try again (SWAP_ATTEMPTS) when one reconnected in between. psql variables:
# db, the name in use; aside, what the database in use becomes; incoming,
# what becomes db. RENAME_IN_SQL when there is no database in use.
SWAP_IN_SQL = """\
BEGIN;
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE datname = :'db' AND pid <> pg_backend_pid();
ALTER DATABASE :"db" RENAME TO :"aside";
ALTER DATABASE :"incoming" RENAME TO :"db";
COMMIT;
"""
RENAME_IN_SQL = 'ALTER DATABASE :"incoming" RENAME TO :"db";\n'
SWAP_ATTEMPTS = 3


# pg_restore with one job per CPU of the host it runs on (at most
# MAX_RESTORE_JOBS): index builds and data loads run in parallel where
# there are cores for them, and a small host is not oversubscribed.
MAX_RESTORE_JOBS = 8
_RESTORE_JOBS_SH = (
    'j=$(nproc 2>/dev/null) || j=2; case $j in ""|*[!0-9]*) j=2 ;; esac; '
    'if [ "$j" -gt "$1" ]; then j=$1; fi; '
)
PARALLEL_RESTORE_SH = _RESTORE_JOBS_SH + 'shift; exec pg_restore -j "$j" "$@"'
# The same, then the dump $2 removed whatever pg_restore's status (which is
# the command's): one command fewer for an operation done with its dump.
RESTORE_THEN_REMOVE_SH = (
    _RESTORE_JOBS_SH + 'f=$2; shift 2; pg_restore -j "$j" "$@"; rc=$?; '
    'rm -f -- "$f"; exit "$rc"'
)


def pg_restore_argv(connection, database, dump, options=(), remove=False):
    """``pg_restore`` of the custom-format ``dump`` into ``database``, in
    parallel (PARALLEL_RESTORE_SH); with ``remove``, the dump is removed
    once it has been read (RESTORE_THEN_REMOVE_SH)."""
    script = [RESTORE_THEN_REMOVE_SH, "sh", str(MAX_RESTORE_JOBS), dump]
    if not remove:
        script = [PARALLEL_RESTORE_SH, "sh", str(MAX_RESTORE_JOBS)]
    return [
        "sh",
        "-c",
        *script,
        *connection,
        *options,
        "-d",
        database,
        "--",
        dump,
    ]


# The dump arrives on stdin: it is written to the file $1 and, as it comes,
# loaded by the command "$2"... (pg_restore of the schema and the data). The
# load's status first (its error says why); then the file's, whose copy the
# index builds will read; the rest of the stream is read to the end even if
# the load did not need it, so that the file is whole.
STREAM_LOAD_SH = """\
f=$1; shift
rm -f -- "$f.tee"
{ tee -- "$f.tmp"; echo "$?" > "$f.tee"; } |
  { "$@"; rc=$?; [ "$rc" -ne 0 ] || cat > /dev/null; exit "$rc"; }
rc=$?
t=$(cat -- "$f.tee" 2> /dev/null); rm -f -- "$f.tee"
[ "$rc" -eq 0 ] || exit "$rc"
if [ "$t" != 0 ]; then echo "the dump could not be written to $f" >&2; exit 1; fi
mv -f -- "$f.tmp" "$f"
"""


# STREAM_LOAD_SH once the command $1 (an argv joined by shlex.join: the
# createdb of the new database) has succeeded, with its own stdin (the
# stream is the load's); CREATE_FAILED when it has not, before anything of
# the stream is read. One command fewer than a createdb of its own.
CREATE_FAILED = 90
CREATE_THEN_LOAD_SH = (
    f'c=$1; shift; sh -c "$c" < /dev/null || exit {CREATE_FAILED}\n' + STREAM_LOAD_SH
)


def stream_load_argv(connection, database, dump, options=(), create_argv=None):
    """The command that loads the custom-format dump arriving on its stdin
    into ``database`` (schema and data: the indexes are left for
    ``pg_restore_argv(..., options=("--section=post-data",))`` on ``dump``,
    the file it writes the stream to). With ``create_argv``, that command
    runs first and creates the database (exit CREATE_FAILED if it fails)."""
    script = [STREAM_LOAD_SH, "sh"]
    if create_argv is not None:
        script = [CREATE_THEN_LOAD_SH, "sh", shlex.join(create_argv)]
    return [
        "sh",
        "-c",
        *script,
        dump,
        "pg_restore",
        *connection,
        *options,
        "--section=pre-data",
        "--section=data",
        "-d",
        database,
    ]


# pg_dump of the database $2 on this host, loaded into $3 as it streams
# (STREAM_LOAD_SH, given as $4) and kept in the file $1; "$@" is the
# connection, the same cluster for both. pg_dump's own status is checked:
# a dump that failed at its very end would otherwise go unnoticed.
DUMP_AND_LOAD_SH = """\
f=$1; db=$2; copy=$3; load=$4; shift 4
rm -f -- "$f.dumped"
{ pg_dump "$@" -Fc -- "$db"; echo "$?" > "$f.dumped"; } |
  sh -c "$load" sh "$f" pg_restore "$@" --section=pre-data --section=data -d "$copy"
rc=$?
d=$(cat -- "$f.dumped" 2> /dev/null); rm -f -- "$f.dumped"
[ "$rc" -eq 0 ] || exit "$rc"
if [ "$d" != 0 ]; then rm -f -- "$f"; echo "pg_dump failed" >&2; exit 1; fi
"""


def dump_and_load_argv(connection, database, copy, dump):
    """Copy ``database`` into the existing ``copy`` on one host: the data
    loaded as pg_dump produces it, the dump kept in ``dump`` for the index
    builds (``pg_restore_argv`` with ``--section=post-data``)."""
    return [
        "sh",
        "-c",
        DUMP_AND_LOAD_SH,
        "sh",
        dump,
        database,
        copy,
        STREAM_LOAD_SH,
        *connection,
    ]


# Which of the swap's three names exist (psql variables db, incoming, aside).
SWAP_NAMES_SQL = (
    "SELECT datname FROM pg_database "
    "WHERE datname IN (:'db', :'incoming', :'aside') ORDER BY 1;\n"
)


# The usual swap in one command: the swap (SWAP_IN_SQL or RENAME_IN_SQL,
# {swap}) made only while the incoming database exists, then the names as
# SWAP_NAMES_SQL gives them, which tell whether it is in place. Its answer
# lost or a failure, swap_database_in goes on as before (the names looked
# at, the swap tried again).
SWAP_THEN_NAMES_SQL = (
    "SELECT EXISTS (SELECT FROM pg_database WHERE datname = :'incoming') "
    "AS dm_incoming \\gset\n"
    "\\if :dm_incoming\n{swap}\\endif\n" + SWAP_NAMES_SQL
)


class SwapUnknown(OperationFailed):
    """Whether the incoming database was swapped in cannot be told."""


def swap_database_in(ctx, admin, *, db, incoming, aside, replaces):
    """Put the database ``incoming`` in place of ``db``; the database in use,
    when there is one (``replaces``), is kept as ``aside``.

    One transaction (SWAP_IN_SQL), tried again when a session reconnected in
    between; a swap made by an earlier attempt, or whose answer was lost, is
    found and not made twice. ``admin(sql, **variables)`` runs psql as the
    cluster's administrator and returns the command's result.

    Raises OperationFailed when the databases are known to be as they were,
    SwapUnknown when what they are cannot be told.
    """
    sql = SWAP_IN_SQL if replaces else RENAME_IN_SQL
    reason = None
    # The usual case: one command swaps and tells the names.
    try:
        result = admin(
            SWAP_THEN_NAMES_SQL.format(swap=sql), db=db, aside=aside, incoming=incoming
        )
    except (OperationFailed, RemoteError) as error:
        reason = str(error)
    else:
        reason = why(ctx, result)
        if result.ok and _in_place(result, db, incoming, aside, replaces):
            return
    # That was the first attempt: the names are looked at before another.
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        if _swapped(ctx, admin, db, incoming, aside, replaces):
            return
        if attempt == SWAP_ATTEMPTS:
            raise OperationFailed(
                ctx.text(
                    _("The databases could not be swapped: %(reason)s"), reason=reason
                )
            )
        if attempt:
            # Someone reconnected between the termination and the rename.
            time.sleep(attempt)
        try:
            reason = why(ctx, admin(sql, db=db, aside=aside, incoming=incoming))
        except (OperationFailed, RemoteError) as error:
            reason = str(error)


def _swapped(ctx, admin, db, incoming, aside, replaces):
    """Whether ``incoming`` is in place (False: all is as it was)."""
    try:
        result = admin(SWAP_NAMES_SQL, db=db, incoming=incoming, aside=aside)
        reason = why(ctx, result)
    except (OperationFailed, RemoteError) as error:
        result, reason = None, str(error)
    if result is not None and result.ok:
        state = _in_place(result, db, incoming, aside, replaces)
        if state is not None:
            return state
        reason = ", ".join(sorted(result.stdout.excerpt().split())) or "-"
    raise SwapUnknown(
        ctx.text(
            _(
                "Whether the new database %(new)s was swapped in as %(db)s "
                "cannot be told (%(reason)s): Odoo was not started. Look at "
                "the databases before starting it."
            ),
            new=incoming,
            db=db,
            reason=reason,
        )
    )


def _in_place(result, db, incoming, aside, replaces):
    """From the names SWAP_NAMES_SQL printed: False while ``incoming`` is
    there (not swapped), True when it is in place, None when the names say
    neither."""
    names = set(result.stdout.excerpt().split())
    if incoming in names:
        return False
    if db in names and (aside in names or not replaces):
        return True
    return None
