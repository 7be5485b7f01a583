"""Replicate production into another environment (issue 4, operation 1).

The database is dumped on the source host (a plain ``pg_dump``: production
is never stopped, locked or disconnected) and streamed to the target
(between two SSH hosts by two OpenSSH clients whose pipes the manager joins
without copying the data, see ``remote/pipe.py``), where ``pg_restore``
loads the schema and the data into a new database ``<db>_replica_<stamp>``
as they arrive while the stream is also written to a file in the work
directory; the indexes and constraints are then built from that file in
parallel (one job per CPU). The filestore is copied next to it under the new
database's name (across hosts, a first copy is one ``tar`` of every file);
when the target already has a copy, only the changed files move (``rsync``
on one host, a ``tar`` of the changed files across hosts, after seeding the
new directory with hard links of the previous copy; the changed files are
found by merging both hosts' lists of files, sorted on each host, as they
stream through the manager, whose memory does not grow with the number of
files). The new database is then neutralized and verified under its own name
(unless it is the recovery site's exact copy). Only then is the target's
Odoo stopped and the new database and filestore swapped in, by the very code
a restore uses: up to the swap a failure or a cancel leaves the target as it
was, after it the replication only goes forward.
"""

import contextlib
import queue
import re
import tempfile
import threading
import time

from ..remote import RemoteError, pipe
from ..remote.transport import HEARTBEAT_INTERVAL
from .common import (
    LONG_TIMEOUT,
    SHORT_TIMEOUT,
    checked_database,
    checked_path,
    run_anyway,
    size_text,
    why,
)
from .context import OperationFailed
from .deploy_base import (
    data_directory_needs,
    prepare_work_dir,
    require_space,
)
from .i18n import _
from .neutralize import NeutralizationFailed
from .neutralize import neutralize as run_neutralization
from .pg import CREATE_FAILED, pg_restore_argv, stream_load_argv

# The swap, its undo and the clean-up after a failure are restore's; its
# class is private but this operation is its sibling, not a copy of it.
from .restore import (
    BEFORE_SWAP,
    EXISTING_SQL,
    STAMP_RE,
    _locale_args,
    _Restore,
    cancel_asked,
)

# Constant shell snippets: every value reaches them as a positional argument.
# Paths come NUL-separated on stdin, relative to $1.
REMOVE_LISTED_SH = 'cd -- "$1" && xargs -0 -r rm -f --'
# Both scripts below exit NO_DIRECTORY, before any output, when $1 is not a
# directory: the source's missing filestore is learnt from them, without a
# command of its own.
NO_DIRECTORY = 3
# The files under $1, one "size mtime path" record each, NUL-terminated and
# sorted by path in byte order (the C locale), the order Python compares
# bytes in: the manager merges two such lists as they stream, holding
# neither. sort's key runs from the third space-separated field to the end
# of the record, so it is the whole path, spaces included; paths are unique,
# so there are no ties. A pipeline's status is only its last command's: find's
# comes back on fd 4, and both must have succeeded.
LIST_SORTED_SH = """\
[ -d "$1" ] || exit 3
export LC_ALL=C
exec 3>&1
status=$( { { find "$1" -type f -printf '%s %T@ %P\\0'; echo "find $?" >&4; } |
  sort -z -t ' ' -k3 >&3 || echo "sort failed" >&4; } 4>&1 )
[ "$status" = "find 0" ]
"""
# A first copy: every regular file under $1 in one tar on stdout, found by
# the host itself (no list goes through the manager); find's status comes
# back on fd 4 as in LIST_SORTED_SH.
TAR_ALL_FILES_SH = """\
[ -d "$1" ] || exit 3
cd -- "$1" || exit 1
exec 3>&1
status=$( { { find . -type f -printf '%P\\0'; echo "find $?" >&4; } |
  tar --null --verbatim-files-from --no-recursion -cf - -T - >&3 ||
  echo "tar failed" >&4; } 4>&1 )
[ "$status" = "find 0" ]
"""
# Extract into $1, then print the number of files and of bytes it holds
# (%.0f: awk would write a large total as 3.3e+09).
EXTRACT_COUNT_SH = """\
tar -C "$1" -xf - || exit
find "$1" -type f -printf '%s\\n' |
  awk '{ n++; s += $1 } END { printf "%.0f %.0f\\n", n, s }'
"""
# The target's filestore directory $1, and in it the new copy $3: hard links
# of the previous copy $2 ("seeded"), else empty ("empty"); 3: the seeding
# failed.
PREPARE_FILESTORE_SH = """\
mkdir -p -- "$1" || exit
if [ -d "$2" ]; then cp -al -- "$2" "$3" || exit 3; echo seeded
else mkdir -p -- "$3" || exit; echo empty; fi
"""
# The names restore's check looks for (psql "$@" reads the query on stdin),
# then PATH_EXISTS when $1, where the swap puts the current filestore,
# already exists; the status is psql's.
PATH_EXISTS = "dm-path-exists"
NAMES_AND_PATH_SH = f"""\
if [ -e "$1" ]; then echo {PATH_EXISTS}; fi
shift; exec "$@"
"""
# The swap of the filestores, resumable: the current one $2 moved aside to
# $3, the new one $1 moved in. "previous" once $3 holds the current one;
# 0 also when an earlier attempt moved $1 in. 3: $1 and $2 both missing; 4:
# $3 is in the way; 5, 6: a move failed.
MOVE_FILESTORES_SH = """\
if [ -e "$3" ]; then echo previous; fi
if [ ! -e "$1" ]; then [ -e "$2" ] || exit 3; exit 0; fi
if [ -e "$2" ]; then
  [ ! -e "$3" ] || exit 4
  mv -T -- "$2" "$3" || exit 5
  echo previous
fi
mv -T -- "$1" "$2" || exit 6
"""
# PostgreSQL's data directory, asked with the names when the cluster is on
# the target host (as deploy_base.data_directory_needs asks it).
DATA_DIRECTORY_SQL = "SHOW data_directory;\n"
LOCAL_DB_HOSTS = (None, "localhost", "127.0.0.1", "::1")
FACTS_SQL = (
    "SELECT pg_database_size(current_database()) || '|' || "
    "pg_encoding_to_char(encoding) || '|' || datcollate || '|' || datctype "
    "FROM pg_database WHERE datname = current_database()"
)
DROP_OLD_SQL = 'DROP DATABASE IF EXISTS :"old";\n'
# How much of a listing is read at once, and how many bytes of paths one
# command gets on its standard input: what the manager holds at a time,
# however many files the filestore has.
LIST_READ_CHUNK = 1 << 18
LIST_BATCH = 4 << 20
# The thousands keep their separators: "reg: 10,000".
REGULAR_FILES_RE = re.compile(r"reg: ([0-9][0-9,]*)")


def replicate(
    ctx,
    source_transport,
    source_spec,
    target_transport,
    target_spec,
    *,
    stamp,
    neutralize,
    keep_previous=True,
    start_after=True,
    neutralization_rules=(),
    on_state=None,
    resume_state=None,
):
    """Copy the source environment's database and filestore into the target's.

    ``stamp`` (``yyyymmddHHMMSS``) names the new database
    ``<target db>_replica_<stamp>`` and the previous one
    ``<target db>_before_<stamp>`` (kept when ``keep_previous``, else
    dropped with its filestore once the swap is done). The target's Odoo
    is stopped around the swap (a target without a stop command is refused
    before anything is read), and started again unless ``start_after`` is
    false (the recovery site stays in standby).

    ``neutralize`` has no default: the caller says whether the replica is
    neutralized (the recovery site is not). If so, the new database is
    neutralized under its own name, ``neutralization_rules``
    (the target's own SQL) after Odoo's, and verified before the swap: the
    target's Odoo never serves production's mail servers, crons or payment
    providers, and a replica that fails its neutralization is dropped, the
    target untouched.

    A cancel is honoured up to the swap, not after it (see
    :func:`.restore.restore_bundle`, as are ``on_state`` and
    ``resume_state``: taken up before the swap, a replication removes what
    it made and starts Odoo again, for a stream cannot be re-attached).

    Returns ``{"database", "replica_of", "previous_database",
    "previous_filestore", "bytes_streamed", "filestore": {"method",
    "files_total", "files_moved", "bytes_moved", "files_deleted"},
    "neutralization" (the report of :func:`.neutralize.neutralize`, or
    None), "odoo_stopped", "odoo_started", "notes"}``.
    """
    job = _Replicate(
        ctx, source_transport, source_spec, target_transport, target_spec, stamp
    )
    job.follow(on_state, resume_state)
    return job.run(keep_previous, start_after, neutralize, neutralization_rules)


class _Replicate(_Restore):
    """A restore whose database and filestore come from another environment.

    Only restore's swap, stop/start and undo are used: the attributes they
    read are set here (``__init__`` of restore wants a bundle).
    """

    KEY_PREFIX = "replicate"
    UNTOUCHED = _(
        "The target's previous database %(db)s is untouched "
        "and what the replication made was removed."
    )

    def __init__(self, ctx, src_transport, src_spec, transport, spec, stamp):
        # pylint: disable=super-init-not-called
        self.ctx = ctx
        self.src_transport = src_transport
        self.src_spec = src_spec
        self.transport = transport
        self.spec = spec
        self.stamp = stamp
        if not isinstance(stamp, str) or not STAMP_RE.fullmatch(stamp):
            raise OperationFailed(
                ctx.text(_("Invalid replication stamp %(stamp)s."), stamp=stamp)
            )
        self.src_db = checked_database(ctx, src_spec.db_name, "source database")
        self.db = checked_database(ctx, spec.db_name)
        self.new = checked_database(ctx, f"{self.db}_replica_{stamp}")
        self.old = checked_database(ctx, f"{self.db}_before_{stamp}")
        if not spec.data_dir:
            raise OperationFailed(
                ctx.text(
                    _("The data directory of %(env)s is unknown: set it first."),
                    env=spec.name,
                )
            )
        if not src_spec.data_dir:
            raise OperationFailed(
                ctx.text(
                    _("The data directory of %(env)s is unknown: set it first."),
                    env=src_spec.name,
                )
            )
        self.fs_root = checked_path(spec.data_dir, "data directory") + "/filestore"
        self.src_fs = (
            checked_path(src_spec.data_dir, "data directory")
            + f"/filestore/{self.src_db}"
        )
        self.dump_file = f"{self._work_dir(spec)}/replicate-{stamp}.dump"
        self.same_host = src_transport.label == transport.label
        self.db_kwargs = {"env": spec.db_env(), "secrets": spec.db_secrets()}
        self.secrets = [*src_spec.db_secrets(), *spec.db_secrets()]
        self.notes = []
        self.new_created = False
        self.fs_new_created = False
        self.stop_attempted = False
        self.old_exists = False
        self.resumed = False
        self.data_directory = None  # PostgreSQL's, learnt with the names
        self.sources = []
        self.result = {
            "database": self.db,
            "replica_of": self.src_db,
            "previous_database": None,
            "previous_filestore": None,
            "bytes_streamed": 0,
            "filestore": None,
            "neutralization": None,
            "odoo_stopped": False,
            "odoo_started": False,
            "notes": self.notes,
        }

    def _work_dir(self, spec):
        work_dir = spec.work_dir or getattr(self.ctx, "work_dir", None)
        if not work_dir:
            raise OperationFailed(
                self.ctx.text(
                    _("The work directory of %(env)s is unknown: set it first."),
                    env=spec.name,
                )
            )
        return checked_path(work_dir, "work directory")

    # -- the sequence ------------------------------------------------------
    def run(self, keep_previous, start_after, neutralize, rules):
        self.keep_previous = keep_previous
        self.start_after = start_after
        if not self.spec.odoo_stop_argv:
            raise self._fail(
                _(
                    "%(env)s has no command to stop Odoo: a replica is never "
                    "swapped in under a running Odoo. Set its stop command "
                    "first; nothing was read or changed."
                ),
                env=self.spec.name,
            )
        if self.phase in BEFORE_SWAP:
            # A stream cannot be re-attached: what the earlier attempt made
            # goes, and Odoo is started again, once the stop that attempt
            # began has ended (started while still stopping, it would end
            # stopped).
            if self.stop_attempted:
                with (
                    contextlib.suppress(OperationFailed, RemoteError),
                    self.ctx.step(_("Stop Odoo")),
                ):
                    self._stop_odoo()
            raise self._undone(self._interrupted(), self.UNTOUCHED, db=self.db)
        if self.phase is None:
            steps = [
                (
                    None,
                    _("Check the names of the new database"),
                    self._check_new_names,
                ),
                (
                    "copy",
                    _("Stream the database into a new database"),
                    self._copy_database,
                ),
                (
                    "copy",
                    _("Copy the filestore into a new directory"),
                    self._copy_filestore,
                ),
            ]
            if neutralize:
                steps.append(
                    (
                        "neutralize",
                        _("Neutralize the new database"),
                        lambda: self._neutralize(rules),
                    )
                )
            self._before_swap(steps, True, db=self.db)
        return self._from_the_swap(
            _("Swap in the new database and filestore"), db=self.db
        )

    def _interrupted(self):
        return self._fail(
            _("The replication was interrupted before the swap (its worker stopped).")
        )

    def _check_new_names(self):
        """Restore's check of the three names and of the filestore the swap
        moves the current one to, in one command (PostgreSQL's answer, then
        whether that path exists)."""
        ctx = self.ctx
        previous_fs = f"{self.fs_root}/{self.old}"
        sql = EXISTING_SQL
        if self.spec.db_host in LOCAL_DB_HOSTS:
            # For the room check: one query fewer (see _check_space).
            sql += DATA_DIRECTORY_SQL
        result = ctx.run(
            self.transport,
            [
                "sh",
                "-c",
                NAMES_AND_PATH_SH,
                "sh",
                previous_fs,
                *self.spec.admin_psql_argv(
                    [("db", self.db), ("new", self.new), ("old", self.old)]
                ),
            ],
            stdin_data=sql.encode(),
            timeout=SHORT_TIMEOUT,
            **self.db_kwargs,
        )
        if not result.ok:
            raise self._fail(_("PostgreSQL cannot be reached: %(reason)s"), result)
        names = set()
        for line in result.stdout.text().splitlines():
            if line.startswith("/"):
                self.data_directory = line.strip()
            elif line.strip():
                names.add(line.strip())
        if self.old in names:
            raise self._fail(
                _("A database named %(name)s already exists: try again later."),
                name=self.old,
            )
        if PATH_EXISTS in names:
            # The swap would have nowhere to move the current filestore to.
            raise self._fail(_("%(path)s already exists."), path=previous_fs)
        self.old_exists = self.db in names
        # Only a resumed run of this very operation (same stamp) finds it.
        self.resumed = self.new in names
        if self.resumed:
            # Made by an attempt whose worker died with no state saved: it
            # may have stopped Odoo, and starting a running one is harmless.
            self.new_created = self.fs_new_created = self.stop_attempted = True
            raise self._interrupted()

    def _after_swap(self):
        ctx = self.ctx
        if not self.keep_previous and self.result["previous_database"]:
            with ctx.step(_("Drop the previous database and filestore")):
                self._drop_previous()
        if self.result["odoo_stopped"] and self.start_after:
            with ctx.step(_("Start Odoo")):
                self._start_odoo()
        elif self.result["odoo_stopped"]:
            self.notes.append(ctx.text(_("Odoo was left stopped (standby).")))
        ctx.progress(100, _("Replicated"))

    def _neutralize(self, rules):
        """Neutralized and verified under its own name, before the swap: the
        target's Odoo is never started on production's live settings."""
        self.result["neutralization"] = run_neutralization(
            self.ctx,
            self.transport,
            self.spec,
            database=self.new,
            extra_sql=rules,
            span=(72, 75),
        )

    def _undone(self, error, message, **params):
        failure = super()._undone(error, message, **params)
        if isinstance(error, NeutralizationFailed):
            # Its checks say what was not neutralized.
            return NeutralizationFailed(str(failure), error.report)
        return failure

    # -- database ----------------------------------------------------------
    def _copy_database(self):
        ctx = self.ctx
        ctx.progress(5, _("Streaming the database"))
        self._prepare_dump_dir()
        size, locale = self._source_facts()
        self._check_space(size)
        # Created by the stream's destination before it loads (CREATE_FAILED
        # if not); set first, so that a failure or a cancel drops it.
        self.new_created = True
        create_argv = [
            "createdb",
            *self.spec.pg_connection_args(),
            "-T",
            "template0",
            *_locale_args(locale),
            "--",
            self.new,
        ]
        argv = [
            "pg_dump",
            "-Fc",
            *self.src_spec.pg_connection_args(),
            "-d",
            self.src_db,
        ]
        # One message for every report: progress is frequent.
        message = _("Streaming the database")

        def on_progress(copied):
            ctx.progress(10, "%s: %s" % (ctx.text(message), size_text(copied)))

        try:
            result = pipe(
                self.src_transport,
                argv,
                self.transport,
                stream_load_argv(
                    self.spec.pg_connection_args(),
                    self.new,
                    self.dump_file,
                    # The source's roles need not exist on the target's cluster.
                    ("--no-owner",),
                    create_argv=create_argv,
                ),
                on_progress=on_progress,
                src_env=self.src_spec.db_env(),
                dst_env=self.spec.db_env(),
                secrets=self.secrets,
                cancel_event=getattr(ctx, "cancel_event", None),
            )
            self.result["bytes_streamed"] = result.bytes_copied
            if not result.ok and cancel_asked(ctx):
                raise OperationFailed(ctx.text(_("Cancelled on request.")))
            if result.dst.exit_code == CREATE_FAILED:
                raise self._fail(
                    _("The new database %(name)s cannot be created: %(reason)s"),
                    result.dst,
                    name=self.new,
                )
            for side in (result.src, result.dst):
                if not side.ok:
                    raise OperationFailed(
                        ctx.text(
                            _(
                                "Streaming the database %(db)s from %(source)s "
                                "failed after %(size)s: %(reason)s"
                            ),
                            db=self.src_db,
                            source=self.src_transport.label,
                            size=size_text(result.bytes_copied),
                            reason=why(ctx, side),
                        )
                    )
            self._build_indexes()
        except BaseException:
            # Else the index builds removed it.
            dump = self.dump_file
            run_anyway(
                ctx,
                self.transport,
                ["rm", "-f", "--", dump, f"{dump}.tmp", f"{dump}.tee"],
                timeout=SHORT_TIMEOUT,
            )
            raise

    def _check_space(self, size):
        """Room on the target for the dump and for the new database, counted
        at the source database's size as a backup counts it: refused before
        production is read at all."""
        directory = self.dump_file.rsplit("/", 1)[0]
        if self.data_directory:
            needs = [(self.data_directory, size)]
        else:
            needs = data_directory_needs(
                self.ctx, self.transport, self.spec, size, self.notes
            )
        require_space(self.ctx, self.transport, [(directory, size), *needs])

    def _prepare_dump_dir(self):
        directory = self.dump_file.rsplit("/", 1)[0]
        prepare_work_dir(self.ctx, self.transport, directory)

    def _source_facts(self):
        """The source database's size, and its encoding and locale as
        restore's manifest would say them; one query."""
        ctx = self.ctx
        spec = self.src_spec
        result = ctx.run(
            self.src_transport,
            spec.psql_argv(FACTS_SQL),
            timeout=SHORT_TIMEOUT,
            env=spec.db_env(),
            secrets=spec.db_secrets(),
        )
        values = result.stdout.text().strip().split("|") if result.ok else []
        if not result.ok or not values[0].isdigit():
            raise OperationFailed(
                ctx.text(
                    _("The source database %(db)s cannot be read: %(reason)s"),
                    db=self.src_db,
                    reason=why(ctx, result),
                )
            )
        if len(values) != 4:
            return int(values[0]), {}
        keys = ("database_encoding", "database_collate", "database_ctype")
        return int(values[0]), dict(zip(keys, values[1:], strict=True))

    def _build_indexes(self):
        """The rest of the dump (indexes, constraints, triggers) from the
        file the stream left, with one job per CPU: the schema and the data
        were loaded while production was being dumped, the way a dump piped
        into pg_restore goes, and the index builds run in parallel."""
        ctx = self.ctx
        ctx.progress(30, _("Restoring into the new database"))
        # The dump goes with the command that read it last (one command
        # fewer); after a failure _copy_database removes it.
        status = ctx.run_detached(
            self.transport,
            pg_restore_argv(
                self.spec.pg_connection_args(),
                self.new,
                self.dump_file,
                ("--no-owner", "--section=post-data"),
                remove=True,
            ),
            f"{self.KEY_PREFIX}-database-{self.stamp}",
            timeout=LONG_TIMEOUT,
            **self.db_kwargs,
        )
        self._check(
            status,
            _("Restoring into the new database %(name)s failed: %(reason)s"),
            name=self.new,
        )

    # -- filestore ---------------------------------------------------------
    def _copy_filestore(self):
        ctx = self.ctx
        ctx.progress(50, _("Copying the filestore"))
        new_dir = f"{self.fs_root}/{self.new}"
        previous = f"{self.fs_root}/{self.db}"
        self.fs_new_created = self.fs_made = True
        # Hard links: unchanged files cost nothing; changed ones are
        # replaced (never written into), so the previous copy stays intact.
        prepared = ctx.run(
            self.transport,
            ["sh", "-c", PREPARE_FILESTORE_SH, "sh", self.fs_root, previous, new_dir],
            timeout=LONG_TIMEOUT,
        )
        if prepared.exit_code == 3:
            self._check(
                prepared,
                _("Seeding the new filestore from %(path)s failed: %(reason)s"),
                path=previous,
            )
        has_previous = prepared.check().stdout.text().strip() == "seeded"
        # Across hosts the source's listing or tar says when it has no
        # filestore (NO_DIRECTORY): report None.
        if self.same_host and ctx.run(self.transport, ["rsync", "--version"]).ok:
            has_source = ctx.run(self.src_transport, ["test", "-d", self.src_fs]).ok
            report = self._rsync(new_dir) if has_source else None
        elif has_previous:
            report = self._tar_changes(new_dir, previous)
        else:
            report = self._tar_all(new_dir)
        if report is None:
            self.notes.append(
                ctx.text(
                    _("The source has no filestore at %(path)s."), path=self.src_fs
                )
            )
            report = {"method": "none", "files_total": 0, "files_moved": 0}
            report.update(bytes_moved=0, files_deleted=0)
            self.result["filestore"] = report
            return
        self.result["filestore"] = report
        ctx.progress(
            70,
            ctx.text(
                _("Filestore copied: %(files)s files moved (%(size)s)"),
                files=report["files_moved"],
                size=size_text(report["bytes_moved"]),
            ),
        )

    def _check(self, result, message, **params):
        if not result.ok:
            raise OperationFailed(
                self.ctx.text(message, reason=why(self.ctx, result), **params)
            )
        return result

    def _rsync(self, new_dir):
        argv = ["rsync", "-a", "--delete", "--stats", "--", self.src_fs + "/", new_dir]
        status = self.ctx.run_detached(
            self.transport,
            argv,
            f"replicate-filestore-{self.stamp}",
            timeout=LONG_TIMEOUT,
        )
        self._check(status, _("Copying the filestore failed: %(reason)s"))
        stats = _rsync_stats(status.stdout_excerpt or "")
        return {
            "method": "rsync",
            "files_total": stats.get("reg", 0),
            "files_moved": stats.get("Number of regular files transferred", 0),
            "bytes_moved": stats.get("Total transferred file size", 0),
            "files_deleted": stats.get("Number of deleted files", 0),
        }

    def _tar_changes(self, new_dir, previous):
        """Remove from the new copy what the source no longer has or has
        changed, then move the changed and new files with a ``tar`` through
        the manager.

        The lists of both sides are compared as they stream (see
        :class:`_Listing`) and what differs is written to temporary files on
        the manager: the paths to remove go to the target in batches, those
        to copy to the source's ``tar`` on its standard input as it runs
        (see :meth:`_stream_files`). The manager's memory does not grow with
        the number of files. None when the source has no filestore.
        """
        ctx = self.ctx
        try:
            with _PathList() as changed, _PathList() as remove:
                counts = self._compare(previous, changed, remove)
                if counts is None:
                    return None  # the source has no filestore
                total, bytes_moved, deleted = counts
                # Changed files are unlinked first: tar then writes new files
                # and never into an inode the previous copy shares.
                for batch in remove.batches():
                    self._check(
                        ctx.run(
                            self.transport,
                            ["sh", "-c", REMOVE_LISTED_SH, "sh", new_dir],
                            stdin_data=batch,
                            timeout=LONG_TIMEOUT,
                        ),
                        _("Removing outdated files from %(path)s failed: %(reason)s"),
                        path=new_dir,
                    )
                copied = 0
                if changed.count:
                    copied = self._stream_files(changed, new_dir)
                moved = changed.count
        except _ListNotKept as error:
            raise OperationFailed(
                ctx.text(
                    _("The list of files to copy cannot be written: %(reason)s"),
                    reason=error.reason,
                )
            ) from error
        return {
            "method": "tar",
            "files_total": total,
            "files_moved": moved,
            "bytes_moved": bytes_moved,
            "bytes_streamed": copied,
            "files_deleted": deleted,
        }

    def _compare(self, previous, changed, remove):
        """Merge the source's list of files with the previous copy's.

        New and changed files go to ``changed`` (changed ones to ``remove``
        too), files the source no longer has to ``remove``. Returns the
        number of the source's files, the bytes of those that move and the
        number of files deleted. Both lists are made at once, one per host.
        """
        ctx = self.ctx
        deadline = time.monotonic() + LONG_TIMEOUT
        next_report = time.monotonic() + HEARTBEAT_INTERVAL
        listings = []
        stopped = False

        def waiting():
            # Called at least every HEARTBEAT_INTERVAL while the lists come.
            nonlocal next_report, stopped
            cancelled = cancel_asked(ctx)
            if not stopped and (cancelled or time.monotonic() >= deadline):
                stopped = True
                for listing in listings:
                    listing.kill(timed_out=not cancelled)
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + HEARTBEAT_INTERVAL
                # Progress commits the journal and learns of a cancel.
                ctx.progress(
                    50,
                    ctx.text(
                        _("Comparing the filestores: %(files)s files listed"),
                        files=listings[0].count,
                    ),
                )

        bad = None
        try:
            listings.append(_Listing(self.src_transport, self.src_fs, waiting))
            if previous:
                listings.append(_Listing(self.transport, previous, waiting))
            source = listings[0].records()
            target = listings[1].records() if previous else iter(())
            try:
                counts = _merge(source, target, changed, remove)
            except _BadListing as error:
                bad = error.listing
            results = [listing.finish() for listing in listings]
        finally:
            for listing in listings:
                listing.stop()
        if results[0].exit_code == NO_DIRECTORY:
            # Nothing was listed on the source: what the merge found is void.
            return None
        failed = [
            (listing, result)
            for listing, result in zip(listings, results, strict=True)
            if not result.ok
        ]
        if failed and cancel_asked(ctx):
            raise OperationFailed(ctx.text(_("Cancelled on request.")))
        message = _("The files of %(path)s cannot be listed: %(reason)s")
        for listing, result in failed:
            raise OperationFailed(
                ctx.text(message, path=listing.directory, reason=why(ctx, result))
            )
        if bad is not None:
            raise OperationFailed(
                ctx.text(
                    message,
                    path=bad.directory,
                    reason=ctx.text(_("its output is not a sorted list of files")),
                )
            )
        return counts

    def _stream_files(self, changed, new_dir):
        """The changed files in one ``tar`` from the source host into
        ``new_dir``: their list reaches the source's ``tar`` on its standard
        input, from the manager's temporary file, as the stream runs (no
        file is written on the source, nothing is left there to remove). A
        list that cannot be read to its end stops the source before its
        input ends: it never archives part of the list as if it were all."""
        src_argv = [
            "tar",
            "-C",
            self.src_fs,
            "--null",
            "--verbatim-files-from",
            "--no-recursion",
            "-cf",
            "-",
            "--files-from",
            "-",
        ]
        result = self._stream_tar(
            src_argv, ["tar", "-C", new_dir, "-xf", "-"], src_stdin=changed.batches()
        )
        return result.bytes_copied

    def _tar_all(self, new_dir):
        """A first copy: every file of the source in one ``tar``, found on
        the source host; the target counts what it received. No list is
        made or compared (there is nothing to compare with)."""
        result = self._stream_tar(
            ["sh", "-c", TAR_ALL_FILES_SH, "sh", self.src_fs],
            ["sh", "-c", EXTRACT_COUNT_SH, "sh", new_dir],
            missing_ok=True,
        )
        if result is None:
            return None  # the source has no filestore
        counts = result.dst.stdout.text().split()
        files, size = (int(n) for n in counts) if len(counts) == 2 else (0, 0)
        return {
            "method": "tar",
            "files_total": files,
            "files_moved": files,
            "bytes_moved": size,
            "bytes_streamed": result.bytes_copied,
            "files_deleted": 0,
        }

    def _stream_tar(self, src_argv, dst_argv, src_stdin=None, missing_ok=False):
        """Stream a tar from the source host into the target's; the pipe's
        result once both sides succeeded (with ``missing_ok``, None when the
        source exited NO_DIRECTORY: it has no filestore)."""
        ctx = self.ctx
        # One message for every report: progress is frequent.
        message = _("Copying the filestore")

        def on_progress(copied):
            # Also the heartbeat that learns of a cancel during a long copy.
            ctx.progress(60, "%s: %s" % (ctx.text(message), size_text(copied)))

        result = pipe(
            self.src_transport,
            src_argv,
            self.transport,
            dst_argv,
            on_progress=on_progress,
            cancel_event=getattr(ctx, "cancel_event", None),
            src_stdin=src_stdin,
        )
        if not result.ok and cancel_asked(ctx):
            raise OperationFailed(ctx.text(_("Cancelled on request.")))
        if missing_ok and result.src.exit_code == NO_DIRECTORY:
            return None
        for side in (result.src, result.dst):
            self._check(side, _("Copying the filestore failed: %(reason)s"))
        return result

    def _move_filestores(self):
        """Restore's move of the filestores (the current one aside, the new
        one in), in one command (MOVE_FILESTORES_SH); taken up again, it
        finishes what an earlier attempt began."""
        if not self.fs_made:
            return
        paths = [f"{self.fs_root}/{name}" for name in (self.new, self.db, self.old)]
        result = self.ctx.run(
            self.transport,
            ["sh", "-c", MOVE_FILESTORES_SH, "sh", *paths],
            timeout=SHORT_TIMEOUT,
        )
        new, current, previous = paths
        said = result.stdout.text().split()
        if "previous" in said:
            self.result["previous_filestore"] = previous
        if result.ok:
            self.fs_new_created = False
            return
        if result.exit_code == 3:
            raise self._fail(_("The new filestore %(path)s is missing."), path=new)
        if result.exit_code == 4:
            raise self._fail(_("%(path)s already exists."), path=previous)
        raise self._fail(
            _("The filestore %(path)s cannot be moved: %(reason)s"),
            result,
            path=current if result.exit_code == 5 else new,
        )

    def _undo(self):
        # A standby (recovery site) stays stopped even when the swap failed.
        if not self.start_after:
            self.stop_attempted = False
        return super()._undo()

    # -- after the swap ----------------------------------------------------
    def _drop_previous(self):
        ctx = self.ctx
        old = self.result["previous_database"]
        result = self._admin(DROP_OLD_SQL, old=old)
        if result.ok:
            self.result["previous_database"] = None
        else:
            self.notes.append(
                ctx.text(
                    _("The previous database %(db)s could not be dropped: %(reason)s"),
                    db=old,
                    reason=why(ctx, result),
                )
            )
        previous_fs = self.result["previous_filestore"]
        if previous_fs:
            removed = run_anyway(
                ctx,
                self.transport,
                ["rm", "-rf", "--", previous_fs],
                timeout=LONG_TIMEOUT,
            )
            if removed.ok:
                self.result["previous_filestore"] = None

    def _not_started_message(self, reason):
        return self.ctx.text(
            _("The replica is in place as %(db)s but Odoo did not start: %(reason)s"),
            db=self.db,
            reason=reason,
        )


class _ListNotKept(Exception):
    """A list of paths could not be written on the manager (its disk)."""

    def __init__(self, error):
        super().__init__(str(error))
        self.reason = str(error)


class _BadListing(Exception):
    """A host's list of files is not what LIST_SORTED_SH writes."""

    def __init__(self, listing):
        super().__init__(listing.directory)
        self.listing = listing


class _PathList:
    """NUL-terminated paths in an anonymous temporary file on the manager,
    counted: however many, they cost disk, not the worker's memory."""

    def __init__(self):
        self.count = 0
        self.file = None

    def __enter__(self):
        try:
            self.file = tempfile.TemporaryFile()
        except OSError as error:
            raise _ListNotKept(error) from error
        return self

    def __exit__(self, *exc_info):
        self.file.close()

    def add(self, path):
        try:
            self.file.write(path + b"\0")
        except OSError as error:
            raise _ListNotKept(error) from error
        self.count += 1

    def batches(self):
        """The paths in pieces of about LIST_BATCH bytes, each cut after a NUL."""
        rest = b""
        try:
            self.file.seek(0)
            while data := self.file.read(LIST_BATCH):
                data = rest + data
                end = data.rfind(b"\0") + 1
                rest = data[end:]
                if end:
                    yield data[:end]
        except OSError as error:
            raise _ListNotKept(error) from error


class _Listing:
    """One host's files, listed by LIST_SORTED_SH and read as they stream.

    A thread of its own reads the command's output into a queue of at most
    two chunks, so that the operation's thread never waits on a host for
    more than HEARTBEAT_INTERVAL: no output comes until the host has read
    and sorted all its files, which takes minutes on a large filestore, and
    meanwhile ``waiting()`` keeps the journal's heartbeat and notices a
    cancel, as ``ctx.run`` would.
    """

    def __init__(self, transport, directory, waiting):
        self.directory = directory
        self.waiting = waiting
        self.count = 0
        self.result = None
        self.command = transport.start(["sh", "-c", LIST_SORTED_SH, "sh", directory])
        self._chunks = queue.Queue(maxsize=2)
        self._stopped = threading.Event()
        self._reader = threading.Thread(
            target=self._read, name="dm-list-read", daemon=True
        )
        self._reader.start()

    def _read(self):
        try:
            while data := self.command.stdout_read(LIST_READ_CHUNK):
                self._put(data)
            self._put(b"")
        except (RemoteError, OSError, EOFError, ValueError) as error:
            self._put(error)  # raised again in the operation's thread

    def _put(self, item):
        while not self._stopped.is_set():
            with contextlib.suppress(queue.Full):
                self._chunks.put(item, timeout=0.2)
                return

    def _next_chunk(self):
        while True:
            try:
                item = self._chunks.get(timeout=HEARTBEAT_INTERVAL)
            except queue.Empty:
                self.waiting()
                continue
            if isinstance(item, Exception):
                raise item
            return item

    def records(self):
        """(path, size, whole seconds of mtime) of each file, in path order.

        tar keeps whole seconds only: comparing finer would move every file
        again at the next replication. Raises _BadListing on a record that
        is malformed, out of order or cut short: merged as it is, it would
        delete or skip files.
        """
        rest = b""
        last = b""
        while data := self._next_chunk():
            records = (rest + data).split(b"\0")
            rest = records.pop()
            self.count += len(records)
            for record in records:
                try:
                    size, mtime, path = record.split(b" ", 2)
                except ValueError:
                    raise _BadListing(self) from None
                if path <= last or not size.isdigit():
                    raise _BadListing(self)
                last = path
                yield path, size, mtime.partition(b".")[0]
            self.waiting()
        if rest:
            raise _BadListing(self)

    def kill(self, timed_out):
        """Stop the command; its result then says why."""
        command = self.command
        if not command.exited():
            if timed_out:
                command.result.timed_out = True
                command.result.timeout_kind = "total"
            command.kill()

    def finish(self):
        """The command's result, once its output has been read to the end
        (what the merge did not read is dropped)."""
        self._stopped.set()
        while self._reader.is_alive():
            self._reader.join(HEARTBEAT_INTERVAL)
            self.waiting()
        self.result = self.command.wait()
        return self.result

    def stop(self):
        """After a failure: the command killed if it still runs."""
        if self.result is not None:
            return
        self._stopped.set()
        # The original error matters more than one from the stop.
        with contextlib.suppress(RemoteError, OSError, EOFError):
            self.kill(timed_out=False)
            self.command.wait()


def _merge(source, target, changed, remove):
    """Compare two iterators of (path, size, seconds) sorted by path.

    A source file the target lacks, or has with another size or mtime, goes
    to ``changed`` (and to ``remove`` when the target has it); a target file
    the source lacks goes to ``remove``. Returns the number of source files,
    the bytes of the changed ones and the number of files only the target
    has.
    """
    total = bytes_moved = deleted = 0
    theirs = next(target, None)
    for mine in source:
        path = mine[0]
        while theirs is not None and theirs[0] < path:
            remove.add(theirs[0])
            deleted += 1
            theirs = next(target, None)
        total += 1
        if theirs is not None and theirs[0] == path:
            if theirs[1] != mine[1] or theirs[2] != mine[2]:
                changed.add(path)
                remove.add(path)
                bytes_moved += int(mine[1])
            theirs = next(target, None)
        else:
            changed.add(path)
            bytes_moved += int(mine[1])
    while theirs is not None:
        remove.add(theirs[0])
        deleted += 1
        theirs = next(target, None)
    return total, bytes_moved, deleted


def _rsync_stats(text):
    """The counters of ``rsync --stats`` (``Number of …: 1,234`` lines)."""
    stats = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        words = value.strip().split()
        if not words:
            continue
        number = words[0].replace(",", "")
        if number.isdigit():
            stats[name.strip()] = int(number)
        # Number of files: 1,108 (reg: 1,100, dir: 8)
        regular = REGULAR_FILES_RE.search(value)
        if name.strip() == "Number of files" and regular:
            stats["reg"] = int(regular.group(1).replace(",", ""))
    return stats
