"""Benchmark of replicate() against pg_dump | pg_restore + tar or rsync by hand.

Generates, on the local PostgreSQL cluster, a source database of a realistic
size and an Odoo filestore of many small files, with the generators of
``backup_bench.py`` (journal items, chatter messages, products; random files
laid out ``filestore/<db>/xx/<sha1>``), then times on that same data, page
cache warm, in two settings:

one host, through a ``LocalTransport`` for both sides:
(a) by hand: ``createdb``, ``pg_dump -Fc src | pg_restore -d new``,
    ``rsync -a`` of the filestore into the target's data directory;
(b) ``replicate()``: the dump streamed through the manager, loaded into a
    new database as it comes and kept in a file, from which the indexes are
    then built in parallel; ``rsync`` of the filestore into a new directory,
    then the swap.

two hosts, the source through an sshd on 127.0.0.40 and the target through
another on 127.0.0.41 (both this machine):
(a) by hand with the OpenSSH client: ``ssh dst createdb``,
    ``ssh src pg_dump -Fc | ssh dst pg_restore -d new``, then
    ``ssh src tar -cf - | ssh dst tar -xf -`` of the filestore;
(b) ``replicate()`` with an ``SshTransport`` on each side: the same stream
    between the hosts (two OpenSSH clients whose pipes the manager joins with
    ``splice``, never copying the data), a parallel ``pg_restore``, a ``tar``
    of the files found on the source host, streamed the same way, the swap.

Then, unless ``--no-second``, ``--new-files`` files are added to the source
filestore (new attachments) and each setting is replicated again: by hand
into another new database, the filestore refreshed with ``rsync -a
--delete`` (across hosts run on the target, pulling from the source over
SSH); ``replicate()`` seeds the new filestore with hard links of the
previous copy and moves only the new files.

Each copy, by hand or not, is vacuumed and analyzed once made, outside
the measures, and each measure waits for autovacuum to be done with this
benchmark's databases: else autovacuum's work on the copies just made (by
hand first) ran during the next measure, replicate()'s.

It also times ``pg_dump -Fc -f`` alone, the floor of any copy. It prints
each time, the tool's steps (commands run and waited for, detached commands
with their own duration, what streamed between the hosts) and the ratios
"replicate / by hand", and checks every copy (row counts, number and size of
the files). The target's Odoo stop and start commands are left empty: no
Odoo runs, and neutralization is not part of replicate(). The databases and
the files are removed at the end unless ``--keep``. Run from the repository
root, as root (sshd, and a PostgreSQL superuser through peer authentication):

    /opt/odoo-venv/bin/python bench/replicate_bench.py [--db-mb 500] [--files 10000]
"""

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

# Its bootstrap makes the addon's plain-Python parts importable without Odoo.
import backup_bench as bb
from _openssh import Ssh, write_known_hosts

from deployment_manager.ops.replicate import replicate
from deployment_manager.ops.spec import EnvironmentSpec
from deployment_manager.remote import LocalTransport, SshTransport
from deployment_manager.remote.tests.sshd_rig import SshdHost

MB = bb.MB
MARKER = "deployment_manager replicate bench"
PREFIX = "dm_replbench"
SOURCE = f"{PREFIX}_src"
STAMP_FILE = ".replicate-bench.json"
STAMPS = ("20260101000001", "20260101000002")
SOURCE_HOST, TARGET_HOST = "127.0.0.40", "127.0.0.41"
COUNT_SQL = (
    "SELECT (SELECT count(*) FROM account_move_line) || ' ' || "
    "(SELECT count(*) FROM mail_message) || ' ' || "
    "(SELECT count(*) FROM product_template)"
)
# replicate()'s steps, as the parts of the table.
STEP_PARTS = {
    "Stream the database into a new database": "database",
    "Copy the filestore into a new directory": "filestore",
}
PARTS = ("database", "filestore", "other")
# Every database a run makes: the source, and the copies (with replicate()'s
# _replica_<stamp> and _before_<stamp> suffixes).
MADE = (SOURCE, f"{PREFIX}_hand_", f"{PREFIX}_tool_")


class StepContext(bb.TimedContext):
    """backup_bench's TimedContext (step times, detached commands with their
    own duration), plus the time spent in the commands it ran and waited for,
    step by step."""

    def __init__(self, work_dir):
        super().__init__(work_dir)
        self.current = None
        self.short = {}  # step label: seconds in ctx.run commands

    @contextlib.contextmanager
    def step(self, label):
        self.current = label
        try:
            with super().step(label):
                yield
        finally:
            self.current = None

    def run(self, transport, argv, keep_output=True, **kwargs):
        start = time.perf_counter()
        try:
            return super().run(transport, argv, keep_output=keep_output, **kwargs)
        finally:
            seconds = time.perf_counter() - start
            self.short[self.current] = self.short.get(self.current, 0) + seconds

    def run_detached(self, transport, argv, key, **kwargs):
        status = super().run_detached(transport, argv, key, **kwargs)
        # Which step it belongs to, for the breakdown.
        self.detached[-1] = (*self.detached[-1], self.current)
        return status


# -- databases ---------------------------------------------------------------


def psql(db, sql, port):
    return bb.psql(db, sql, port)


def ours(comment):
    # An interrupted generation leaves backup_bench's marker on the source.
    return comment.startswith((MARKER, bb.MARKER))


def our_databases(port):
    """{name: comment} of the databases named with this benchmark's prefix."""
    rows = psql(
        "postgres",
        "SELECT datname || '|' || coalesce(shobj_description(oid, 'pg_database'), "
        f"'') FROM pg_database WHERE starts_with(datname, '{PREFIX}')",
        port,
    )
    found = {}
    for row in rows.splitlines():
        name, _sep, comment = row.partition("|")
        found[name] = comment
    return found


def mark(db, port, what="copy"):
    psql("postgres", f"COMMENT ON DATABASE {db} IS '{MARKER}: {what}'", port)


def drop(db, port):
    subprocess.run(
        ["dropdb", "-p", str(port), "--if-exists", "--force", "--", db], check=True
    )


def counts(db, port):
    return psql(db, COUNT_SQL, port)


def settle(db, port):
    """Vacuum and analyze a copy just made, outside the measures.

    A database just restored gets autovacuum's VACUUM ANALYZE of every
    table it loaded (inserts trigger it since PostgreSQL 13): left to
    autovacuum, those of the copy made by hand ran during the measure of
    replicate() that follows it, and in the second round those of the first
    round's copies too (seen in pg_stat_activity), slowing its database
    part by up to a fifth."""
    subprocess.run(
        ["vacuumdb", "-p", str(port), "--analyze", "--quiet", "-d", db], check=True
    )


def autovacuum_running(port):
    return psql(
        "postgres",
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE backend_type = 'autovacuum worker' "
        f"AND starts_with(datname, '{PREFIX}')",
        port,
    ).strip() not in ("", "0")


def quiet(port):
    """Nothing left to write back from an earlier measure, and no
    autovacuum at work on this benchmark's databases (waited for, at most
    two minutes)."""
    deadline = time.monotonic() + 120
    while autovacuum_running(port) and time.monotonic() < deadline:
        time.sleep(1)
    psql("postgres", "CHECKPOINT", port)
    subprocess.run(["sync"], check=True)


# -- data --------------------------------------------------------------------


def prepare(args, data_dir, existing):
    """The source database and filestore: generated, or kept by --keep."""
    filestore = f"{data_dir}/filestore/{SOURCE}"
    stamp = {"db_mb": args.db_mb, "files": args.files}
    try:
        with open(f"{data_dir}/{STAMP_FILE}") as handle:
            kept = json.load(handle) == stamp
    except (OSError, ValueError):
        kept = False
    wanted = f"{MARKER}: source, {args.db_mb} MB"
    if (
        existing.get(SOURCE) == wanted
        and kept
        and bb.tree_size(filestore)[0] == args.files
    ):
        print("reusing the source kept by a previous run (--keep)")
        return filestore
    if SOURCE in existing:
        drop(SOURCE, args.port)
    shutil.rmtree(data_dir, ignore_errors=True)
    start = time.perf_counter()
    print(f"generating a database of about {args.db_mb} MB...", flush=True)
    bb.generate_database(SOURCE, args.port, args.db_mb)
    psql("postgres", f"COMMENT ON DATABASE {SOURCE} IS '{wanted}'", args.port)
    db_time = time.perf_counter() - start
    print(f"  done in {db_time:.0f} s; generating {args.files:,} files...")
    bb.generate_filestore(filestore, args.files)
    with open(f"{data_dir}/{STAMP_FILE}", "w") as handle:
        json.dump(stamp, handle)
    print(f"  done in {time.perf_counter() - start - db_time:.0f} s")
    return filestore


def add_files(filestore, count):
    """``count`` new attachments in the source filestore; their paths."""
    rng = random.Random(40)
    added = []
    for _index in range(count):
        data = rng.randbytes(rng.randint(1024, 64 * 1024))
        digest = hashlib.sha1(data).hexdigest()
        path = os.path.join(filestore, digest[:2], digest)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
        added.append(path)
    return added


# -- by hand -----------------------------------------------------------------


def timed(argv):
    return bb.timed(argv, stdin=subprocess.DEVNULL)


def timed_pipeline(left, right):
    """``left | right``; seconds."""
    start = time.perf_counter()
    first = subprocess.Popen(left, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    procs = [first]
    try:
        procs.append(subprocess.Popen(right, stdin=first.stdout))
        first.stdout.close()
        codes = tuple(proc.wait() for proc in procs)
    except BaseException:
        # Interrupted: neither side is left running.
        for proc in procs:
            proc.kill()
            proc.wait()
        raise
    if any(codes):
        raise RuntimeError(f"{left} | {right} failed: exit codes {codes}")
    return time.perf_counter() - start


def hand_local(port, src_fs, db, target_fs):
    """(a) on one host: {part: seconds}."""
    createdb = timed(["createdb", "-p", str(port), db])
    mark(db, port)
    stream = timed_pipeline(
        ["pg_dump", "-Fc", "-p", str(port), "-d", SOURCE],
        ["pg_restore", "-p", str(port), "-d", db],
    )
    os.makedirs(os.path.dirname(target_fs), exist_ok=True)
    rsync = timed(["rsync", "-a", "--delete", "--", f"{src_fs}/", target_fs])
    return {"database": createdb + stream, "filestore": rsync, "other": 0.0}


def hand_ssh(port, src, dst, src_fs, db, target_fs, refresh):
    """(a) across hosts: {part: seconds}. The first time the filestore goes
    as a tar through this machine; a refresh is an rsync run on the target,
    pulling from the source."""
    createdb = timed(dst(["createdb", "-p", str(port), db]))
    mark(db, port)
    stream = timed_pipeline(
        src(["pg_dump", "-Fc", "-p", str(port), "-d", SOURCE]),
        dst(["pg_restore", "-p", str(port), "-d", db]),
    )
    if refresh:
        files = timed(
            dst(
                ["rsync", "-a", "--delete", "-e", src.rsync_shell(), "--"]
                + [f"{src.rig.address}:{src_fs}/", target_fs]
            )
        )
    else:
        files = timed(dst(["mkdir", "-p", "--", target_fs]))
        files += timed_pipeline(
            src(["tar", "-C", src_fs, "-cf", "-", "."]),
            dst(["tar", "-C", target_fs, "-xf", "-"]),
        )
    return {"database": createdb + stream, "filestore": files, "other": 0.0}


# -- replicate() -------------------------------------------------------------


def with_tool(transports, specs, stamp, runs):
    """(b): {part: seconds}, the result and the context."""
    ctx = StepContext(runs)
    start = time.perf_counter()
    # Neutralization is not part of the comparison (nothing by hand does it).
    result = replicate(
        ctx,
        transports[0],
        specs[0],
        transports[1],
        specs[1],
        stamp=stamp,
        neutralize=False,
    )
    wall = time.perf_counter() - start
    parts = dict.fromkeys(PARTS, 0.0)
    for label, seconds in ctx.step_times:
        parts[STEP_PARTS.get(label, "other")] += seconds
    parts["other"] += wall - sum(parts.values())
    return parts, result, ctx


def step_details(ctx):
    """Each step: wall, commands waited for, detached (wall, own), the rest
    (the manager's own work: the streams through it)."""
    lines = []
    for label, seconds in ctx.step_times:
        short = ctx.short.get(label, 0.0)
        detached = [d for d in ctx.detached if d[3] == label]
        waited = sum(d[1] for d in detached)
        line = f"    {label:<44} {seconds:6.2f} s: commands {short:5.2f} s"
        for key, wall, own, _label in detached:
            name = key.rsplit("-", 1)[0].removeprefix("replicate-")
            own_text = f"{own:.2f}" if own is not None else "?"
            line += f", detached {name} {wall:.2f} s (own {own_text} s)"
        rest = seconds - short - waited
        if rest > 0.05:
            line += f", streamed {rest:.2f} s"
        lines.append(line)
    return lines


# -- checks and report ---------------------------------------------------------


def check_copy(what, db, target_fs, port, expected):
    """Problems of one copy against the source (row counts, files, bytes)."""
    rows, tree = expected
    problems = []
    if counts(db, port) != rows:
        problems.append(f"{what}: rows {counts(db, port)} != {rows}")
    if bb.tree_size(target_fs) != tree:
        problems.append(f"{what}: files {bb.tree_size(target_fs)} != {tree}")
    return problems


def print_setting(title, hand, tool, hand_labels):
    print(title)
    print(f"  {'':<22} {'by hand':>9} {'replicate()':>12} {'ratio':>7}")
    for part in PARTS:
        ratio = f"{tool[part] / hand[part]:.2f}x" if hand[part] else ""
        label = f"{part} ({hand_labels[part]})" if part in hand_labels else part
        print(f"  {label:<22} {hand[part]:8.2f}s {tool[part]:11.2f}s {ratio:>7}")
    total_hand, total_tool = sum(hand.values()), sum(tool.values())
    print(
        f"  {'total':<22} {total_hand:8.2f}s {total_tool:11.2f}s "
        f"{total_tool / total_hand:6.2f}x"
    )
    return total_tool / total_hand


# -- main ----------------------------------------------------------------------


def plain_path(value):
    # Reaches rsync's -e and remote commands: no spaces or shell characters.
    path = os.path.abspath(value)
    if not re.fullmatch(r"/[A-Za-z0-9._/-]*", path):
        raise argparse.ArgumentTypeError("letters, digits, . _ - and / only")
    return path


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-mb", type=int, default=500, help="database (MB)")
    parser.add_argument("--files", type=int, default=10000, help="filestore files")
    parser.add_argument(
        "--new-files",
        type=int,
        default=None,
        help="files added before the second replication (default 1 %% of --files)",
    )
    parser.add_argument(
        "--no-second", action="store_true", help="skip the second replication"
    )
    parser.add_argument("--port", type=int, default=5432, help="PostgreSQL port")
    parser.add_argument(
        "--dir", type=plain_path, default=None, help="where to write the files"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the source and the copies (a later run reuses the source)",
    )
    args = parser.parse_args()
    if args.port == 5439:
        parser.error("port 5439 is the test-suite's cluster (dmprod)")
    if args.new_files is None:
        args.new_files = max(1, args.files // 100)
    return args


class Bench:
    def __init__(self, args, base):
        self.args = args
        self.port = args.port
        self.data_dir = f"{base}/replicate-bench-data"
        self.copies = f"{base}/replicate-bench-copies"
        self.src_fs = None
        self.expected = None
        self.problems = []
        self.ratios = []
        self.source_tree = None  # (files, bytes) before any was added
        self.dump_alone = None
        self.added = []  # files added to the source, removed at the end

    def target(self, name):
        """(database, data directory, filestore, work directory) of a copy."""
        db = f"{PREFIX}_{name}"
        data = f"{self.copies}/{name}"
        return db, data, f"{data}/filestore/{db}", f"{self.copies}/{name}-work"

    def spec(self, name):
        db, data, _fs, work = self.target(name)
        # No Odoo runs on the copies: stopping it is a no-op, but replicate()
        # refuses a target it could not stop.
        return EnvironmentSpec(
            name=name,
            db_name=db,
            db_port=self.port,
            data_dir=data,
            work_dir=work,
            odoo_stop_argv=["true"],
        )

    def source_spec(self):
        return EnvironmentSpec(
            name="production",
            db_name=SOURCE,
            db_port=self.port,
            data_dir=self.data_dir,
            work_dir=f"{self.copies}/source-work",
        )

    def measure(self, title, hand_run, hand_names, tool_run, tool_name, hand_labels):
        """One setting: by hand, then replicate(); both checked."""
        hand_db, hand_fs = hand_names
        quiet(self.port)
        hand = hand_run()
        settle(hand_db, self.port)
        quiet(self.port)
        tool, result, ctx = tool_run()
        db, _data, tool_fs, _work = self.target(tool_name)
        mark(db, self.port)
        settle(db, self.port)
        if result["previous_database"]:
            mark(result["previous_database"], self.port)
        self.problems += check_copy(
            f"{title} by hand", hand_db, hand_fs, self.port, self.expected
        )
        self.problems += check_copy(
            f"{title} replicate()", db, tool_fs, self.port, self.expected
        )
        ratio = print_setting(title, hand, tool, hand_labels)
        self.ratios.append((title, ratio))
        fs = result["filestore"]
        print(
            f"  replicate(): {result['bytes_streamed'] / MB:,.0f} MB of dump streamed, "
            f"filestore by {fs['method']}: {fs['files_moved']:,} of "
            f"{fs['files_total']:,} files moved ({fs['bytes_moved'] / MB:,.0f} MB), "
            f"{len(ctx.commands)} commands"
        )
        if fs["files_total"] != self.expected[1][0]:
            print(
                f"  NOTE: replicate() reports files_total {fs['files_total']:,}, "
                f"the source holds {self.expected[1][0]:,} files"
            )
        print("\n".join(step_details(ctx)), flush=True)

    def run(self, one, two):
        args, port = self.args, self.port
        known_hosts = write_known_hosts(f"{self.copies}/known_hosts", one, two)
        src, dst = Ssh(one, known_hosts), Ssh(two, known_hosts)
        source = self.source_spec()
        local_spec, ssh_spec = self.spec("tool_local"), self.spec("tool_ssh")
        hand_local_db, _d, hand_local_fs, _w = self.target("hand_local")
        hand_ssh_db, _d, hand_ssh_fs, _w = self.target("hand_ssh")
        rounds = [(0, "")] if args.no_second else [(0, ""), (1, "_2")]
        # The floor of any copy: the dump alone, to a file, on one host.
        quiet(port)
        dump = f"{self.copies}/alone.dump"
        self.dump_alone = timed(["pg_dump", "-Fc", "-p", str(port), "-f", dump, SOURCE])
        os.unlink(dump)
        with (
            LocalTransport() as local,
            SshTransport(one.ssh_config()) as src_t,
            SshTransport(two.ssh_config()) as dst_t,
        ):
            for index, suffix in rounds:
                if index:
                    added = add_files(self.src_fs, args.new_files)
                    self.added += added
                    self.expected = (self.expected[0], bb.tree_size(self.src_fs))
                    print(
                        f"\nsecond replication, {len(added):,} files added to the "
                        "source; by hand into another new database, filestore "
                        "refreshed by rsync:"
                    )
                stamp = STAMPS[index]
                self.measure(
                    "one host" + (", again" if index else ""),
                    lambda s=suffix: hand_local(
                        port, self.src_fs, hand_local_db + s, hand_local_fs
                    ),
                    (hand_local_db + suffix, hand_local_fs),
                    lambda st=stamp: with_tool(
                        (local, local),
                        (source, local_spec),
                        st,
                        f"{self.copies}/runs-local-{st}",
                    ),
                    "tool_local",
                    {"filestore": "rsync"},
                )
                self.measure(
                    "two hosts" + (", again" if index else ""),
                    lambda s=suffix, i=index: hand_ssh(
                        port, src, dst, self.src_fs, hand_ssh_db + s, hand_ssh_fs, i
                    ),
                    (hand_ssh_db + suffix, hand_ssh_fs),
                    lambda st=stamp: with_tool(
                        (src_t, dst_t),
                        (source, ssh_spec),
                        st,
                        f"{self.copies}/runs-ssh-{st}",
                    ),
                    "tool_ssh",
                    {"filestore": "rsync" if index else "tar"},
                )


def summary(bench, port):
    rows = bench.expected[0].split()
    db_size = int(psql(SOURCE, "SELECT pg_database_size(current_database())", port))
    files, size = bench.source_tree
    print(
        f"\nsource: database {db_size / MB:,.0f} MB ({int(rows[0]) + int(rows[1]):,} "
        f"rows), filestore {files:,} files, {size / MB:,.0f} MB"
        + (f" (then {len(bench.added):,} added)" if bench.added else "")
        + f"; {os.cpu_count()} CPUs"
    )
    print(f"pg_dump -Fc alone, to a file: {bench.dump_alone:.2f} s")
    for title, ratio in bench.ratios:
        print(f"replicate / by hand, {title}: {ratio:.2f}x")
    for problem in bench.problems:
        print(f"WRONG: {problem}")
    print("all copies checked: ok" if not bench.problems else "copies differ")


def interrupted(signum, _frame):
    # Killed like interrupted: what was made is removed on the way out.
    raise KeyboardInterrupt(f"signal {signum}")


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, interrupted)
    base = args.dir or tempfile.gettempdir()
    bench = Bench(args, base)
    existing = our_databases(args.port)
    foreign = [name for name, comment in existing.items() if not ours(comment)]
    if foreign:
        raise SystemExit(
            f"databases {', '.join(sorted(foreign))} are not marked as this "
            "benchmark's: drop them if a killed run left them, then run again"
        )
    for name in existing:
        if name != SOURCE:
            drop(name, args.port)  # copies kept by an earlier --keep
    existing = {n: c for n, c in existing.items() if n == SOURCE}
    shutil.rmtree(bench.copies, ignore_errors=True)
    os.makedirs(bench.copies)
    try:
        bench.src_fs = prepare(args, bench.data_dir, existing)
        bb.warm_up(SOURCE, args.port, bench.src_fs)
        bench.source_tree = bb.tree_size(bench.src_fs)
        bench.expected = (counts(SOURCE, args.port), bench.source_tree)
        with SshdHost(SOURCE_HOST) as one, SshdHost(TARGET_HOST) as two:
            bench.run(one, two)
        summary(bench, args.port)
    finally:
        for path in bench.added:
            with contextlib.suppress(OSError):
                os.unlink(path)
        for name, comment in our_databases(args.port).items():
            # Marked: kept with --keep. Unmarked: a half-made replica of this
            # run (dropped even with --keep), or not ours (left alone).
            keep = args.keep if ours(comment) else not name.startswith(MADE)
            if not keep:
                drop(name, args.port)
        if not args.keep:
            shutil.rmtree(bench.copies, ignore_errors=True)
            shutil.rmtree(bench.data_dir, ignore_errors=True)
        else:
            print(f"kept: database {SOURCE} and its copies, {base}/replicate-bench-*")
    return 1 if bench.problems else 0


if __name__ == "__main__":
    sys.exit(main())
