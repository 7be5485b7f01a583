"""Benchmark of the manager at rest: 50 environments under scheduled log
checks every 5 minutes and recovery-site watches, the CPU it uses between
two rounds of checks.

Creates a fresh database (``dm_bench_at_rest``, marked by a comment; a
database of that name that is not the benchmark's is refused), installs the
addon, starts one manager server on it (``--max-cron-threads``, default 2)
and, over XML-RPC as admin, a local host and ``--envs`` environments, each
with a small Odoo log of its own (``--lines`` lines, warnings and errors
with tracebacks among them) and *Check the log regularly* every
``--interval`` minutes; ``--dr`` of them are disaster recovery sites with a
recovery point limit of one hour (the watch). Then, with nothing but SQL and
/proc from the benchmark's side (no request to the server while it
measures):

(a) a first round of log checks: the scheduled action woken as Odoo wakes it
    (``nextcall`` due, ``NOTIFY cron_trigger``), until every check ended;
(b) the recovery-site watch (*scheduled replications and recovery points*),
    first run (it notifies the stale recovery points) and a later one;
(c) ``--window`` seconds at rest between two rounds;
(d) a routine round: each log grown by ``--grow`` lines, then checked again.

For each: the CPU time of the server process (and its children) and of its
PostgreSQL backends (``application_name`` ``odoo-<pid>``, sampled every
0.1 s during the rounds, 0.5 s at rest, with the statements seen running),
as a percentage of one core over the wall time, and the scheduled actions
that ran (from the server's log); for the rounds, what each check cost the
database (transactions, rows, chatter messages and e-mails). The server is
stopped and the database dropped at the end, unless ``--keep``. Run from
the repository root, as root (the /proc of PostgreSQL's backends) and a
PostgreSQL superuser (peer authentication):

    python3 bench/at_rest_bench.py [--envs 50] [--window 120] [--threads 2]
"""

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter

import _manager
import psutil
import psycopg2
from logcheck_bench import generate

MARKER = "deployment_manager at-rest bench"
TARGET_PERCENT = 1.0
# How many of the statements seen running are printed.
STATEMENTS = 6
JOB_LINE = re.compile(
    r"^(\S+ \S+) \d+ INFO \S+ odoo\.addons\.base\.models\.ir_cron: "
    r"Job '(.+)' \(\d+\) done in ([\d.]+)s"
)


def record_pool(work, count):
    """``count`` records of an Odoo 18 log (``logcheck_bench``'s: requests,
    crons, about 1 % warnings, 0.1 % errors with their traceback)."""
    path = os.path.join(work, "pool.log")
    generate(path, count * 200)
    records = []
    with open(path) as handle:
        for line in handle:
            if _manager.LOG_HEAD.match(line) or not records:
                records.append(line)
            else:
                records[-1] += line
    os.remove(path)
    if len(records) < count:
        raise SystemExit(f"only {len(records)} log records generated")
    return records[:count]


class Meter:
    """CPU of the server's process tree and of its PostgreSQL backends."""

    def __init__(self, server, port, db):
        self.server = server
        self.backends = _manager.BackendMeter(port, [server.pid], db)

    def start(self):
        self.t0 = time.monotonic()
        self.server0 = _manager.tree_cpu(self.server.pid)
        self.machine0 = _manager.machine_busy()
        self.threads0 = self._threads()
        self.log0 = _manager.log_size(self.server.log_path)
        self.backends.reset()

    def _threads(self):
        return {
            t.id: t.user_time + t.system_time
            for t in psutil.Process(self.server.pid).threads()
        }

    def sample(self):
        self.backends.sample()

    def stop(self):
        self.backends.sample()
        wall = time.monotonic() - self.t0
        threads = self._threads()
        busy = sorted(
            (
                (cpu - self.threads0.get(tid, 0.0), tid)
                for tid, cpu in threads.items()
                if cpu - self.threads0.get(tid, 0.0) >= 0.005
            ),
            reverse=True,
        )
        return {
            "wall": wall,
            "server": _manager.tree_cpu(self.server.pid) - self.server0,
            "pg": self.backends.total(),
            "backends": len(self.backends.last),
            "machine": (_manager.machine_busy() - self.machine0) / wall,
            "threads": busy,
            "by_backend": self.backends.by_backend(),
            "statements": self.backends.active.most_common(),
            "samples": self.backends.samples,
            "jobs": self._jobs(),
        }

    def _jobs(self):
        """{scheduled action: (runs, seconds)} from the server's log."""
        jobs = Counter()
        seconds = Counter()
        with open(self.server.log_path, "rb") as handle:
            handle.seek(self.log0)
            for raw in handle:
                line = raw.decode(errors="replace")
                match = JOB_LINE.match(line)
                if match:
                    jobs[match.group(2)] += 1
                    seconds[match.group(2)] += float(match.group(3))
                elif _manager.SERIALIZATION in line:
                    jobs["(runner jobs failed on their claim)"] += 1
        return {name: (jobs[name], seconds[name]) for name in jobs}

    def wait(self, predicate, timeout, what, every=0.1):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit(f"{what}: not after {timeout} s")
            self.sample()
            time.sleep(every)

    def close(self):
        self.backends.close()


def report(label, measure, per=None):
    total = measure["server"] + measure["pg"]
    wall = measure["wall"]
    print(f"{label}:")
    print(
        f"  wall {wall:.1f} s; CPU: server {measure['server']:.2f} s, "
        f"PostgreSQL {measure['pg']:.2f} s ({measure['backends']} backends), "
        f"together {total:.2f} s = {100 * total / wall:.2f} % of one core"
        + (f"; {total / per[0] * 1000:.0f} ms per {per[1]}" if per else "")
    )
    print(
        f"  the whole machine was busy {measure['machine']:.2f} of its "
        f"{os.cpu_count()} cores meanwhile (others' work included)"
    )
    if measure["jobs"]:
        print(
            "  scheduled actions that ran: "
            + "; ".join(
                f"{name} x{runs} ({seconds:.2f} s)"
                for name, (runs, seconds) in sorted(measure["jobs"].items())
            )
        )
    top = measure["threads"][:4]
    if top:
        print(
            "  busiest server threads (CPU s): "
            + ", ".join(f"{tid}: {cpu:.2f}" for cpu, tid in top)
        )
    top = [b for b in measure["by_backend"] if b[0] >= 0.01][:4]
    if top:
        print(
            "  busiest backends (CPU s): "
            + ", ".join(f"{pid} on {db}: {cpu:.2f}" for cpu, pid, db in top)
        )
    if measure["statements"]:
        print(
            f"  statements seen running in {measure['samples']} samples "
            "(every 0.1 s while waiting, 0.5 s at rest):"
        )
        for statement, count in measure["statements"][:STATEMENTS]:
            print(f"    {count:4d} x {statement}")
    return total


class Bench:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.database = _manager.BenchDatabase(args.db, MARKER, args.port)
        self.server = None
        self.sql = self.notifier = None
        self.meter = None

    # -- SQL on the bench's database (no request to the server) --------------
    def query(self, sql, params=()):
        with self.sql.cursor() as cr:
            cr.execute(sql, params)
            return cr.fetchall() if cr.description else None

    def cron_id(self, xmlid):
        [(res_id,)] = self.query(
            "SELECT res_id FROM ir_model_data WHERE module = 'deployment_manager' "
            "AND name = %s",
            (xmlid,),
        )
        return res_id

    def wake(self, cron_id):
        """Make the scheduled action due and wake the cron threads, as Odoo's
        own ``_trigger`` does."""
        self.query(
            "UPDATE ir_cron SET nextcall = (now() AT TIME ZONE 'UTC') "
            "- interval '1 second' WHERE id = %s",
            (cron_id,),
        )
        self.notify()

    def notify(self):
        """NOTIFY on the ``postgres`` database, where Odoo's cron threads listen."""
        with self.notifier.cursor() as cr:
            cr.execute("SELECT pg_notify('cron_trigger', %s)", (self.args.db,))

    def ran(self, cron_id):
        """Whether the woken scheduled action ran: Odoo moved its next call on."""
        [(later,)] = self.query(
            "SELECT nextcall > (now() AT TIME ZONE 'UTC') FROM ir_cron WHERE id = %s",
            (cron_id,),
        )
        return later

    def checks_pending(self, after_id):
        [(total, pending)] = self.query(
            "SELECT count(*), count(*) FILTER (WHERE state IN ('queued', 'running'))"
            " FROM deployment_operation WHERE kind = 'log_check' AND id > %s",
            (after_id,),
        )
        return total, pending

    def last_operation_id(self):
        return self.query("SELECT coalesce(max(id), 0) FROM deployment_operation")[0][0]

    # -- the scene ------------------------------------------------------------
    def setup(self):
        args = self.args
        print(f"installing deployment_manager in {args.db}...", flush=True)
        took = self.database.create(os.path.join(self.work, "install.log"))
        print(f"  done in {took:.0f} s")
        self.sql = psycopg2.connect(dbname=args.db, port=args.port)
        self.sql.autocommit = True
        self.notifier = psycopg2.connect(dbname="postgres", port=args.port)
        self.notifier.autocommit = True
        self.log_cron = self.cron_id("ir_cron_schedule_log_checks")
        self.watch_cron = self.cron_id("ir_cron_replication_schedule")
        # Not before the environments exist: the bench wakes them.
        self.query(
            "UPDATE ir_cron SET nextcall = (now() AT TIME ZONE 'UTC') "
            "+ interval '1 day' WHERE id IN %s",
            ((self.log_cron, self.watch_cron),),
        )
        self.server = _manager.ManagerServer(
            self.database, "a", self.work, args.threads, log_level="info"
        )
        self.server.start().wait_ready()
        rpc = self.server.rpc()
        host = rpc(
            "deployment.host",
            "create",
            {"name": "This server", "kind": "local", "work_dir": f"{self.work}/host"},
        )
        os.mkdir(f"{self.work}/logs")
        pool = record_pool(self.work, args.envs * (args.lines + args.grow))
        self.grown = []
        values = []
        self.logs = []
        for index in range(args.envs):
            path = f"{self.work}/logs/env{index + 1}.log"
            mine = pool[index * (args.lines + args.grow) :][: args.lines + args.grow]
            with open(path, "w") as handle:
                handle.write("".join(mine[: args.lines]))
            self.logs.append(path)
            self.grown.append("".join(mine[args.lines :]))
            recovery = index < args.dr
            values.append(
                {
                    "name": f"{'Recovery' if recovery else 'Dev'} {index + 1}",
                    "environment_type": "disaster_recovery"
                    if recovery
                    else "development",
                    "host_id": host,
                    "log_file": path,
                    "log_check_scheduled": True,
                    "log_check_interval": args.interval,
                    "recovery_point_limit": 1.0,
                }
            )
        rpc("deployment.environment", "create", values)
        size = sum(os.path.getsize(path) for path in self.logs) / args.envs
        print(
            f"{args.envs} environments ({args.dr} recovery sites, recovery point "
            f"limit 1 h) on a local host, logs of {args.lines} records "
            f"({size / 1000:.0f} kB), checked every {args.interval} min; "
            f"{args.threads} cron threads; {os.cpu_count()} CPUs"
        )
        # Odoo's own scheduled actions, due since the install, run now.
        self.notify()
        deadline = time.monotonic() + 180
        while self.query(
            "SELECT 1 FROM ir_cron WHERE active AND nextcall <= "
            "(now() AT TIME ZONE 'UTC') AND id NOT IN %s "
            "AND ir_actions_server_id NOT IN (SELECT id FROM ir_act_server "
            "WHERE code LIKE '%%_cron_run_operations%%')",
            ((self.log_cron, self.watch_cron),),
        ):
            if time.monotonic() > deadline:
                raise SystemExit("scheduled actions stayed due")
            time.sleep(1)
        # And the auto-vacuum Odoo triggers a minute after an install.
        while pending := self.query(
            "SELECT bool_or(t.call_at <= (now() AT TIME ZONE 'UTC')) FROM "
            "ir_cron_trigger t JOIN ir_cron c ON c.id = t.cron_id WHERE c.active "
            "AND c.ir_actions_server_id NOT IN (SELECT id FROM ir_act_server "
            "WHERE code LIKE '%%_cron_run_operations%%') HAVING count(*) > 0"
        ):
            if time.monotonic() > deadline + 120:
                raise SystemExit("scheduled actions stayed triggered")
            if pending[0][0]:
                self.notify()
            time.sleep(1)
        self.meter = Meter(self.server, self.args.port, self.args.db)
        time.sleep(5)

    def activity(self):
        """What the database has done so far: transactions, rows, messages."""
        [row] = self.query(
            "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, "
            "(SELECT count(*) FROM mail_message), (SELECT count(*) FROM mail_mail) "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
        return row

    def round_of_checks(self, label):
        first = self.last_operation_id()
        before = self.activity()
        self.meter.start()
        self.wake(self.log_cron)
        self.meter.wait(
            lambda: self.ran(self.log_cron) and self.checks_pending(first)[1] == 0,
            900,
            "the round of log checks did not end",
        )
        measure = self.meter.stop()
        time.sleep(2)  # the backends report their statistics when idle
        after = self.activity()
        total, _pending = self.checks_pending(first)
        states = dict(
            self.query(
                "SELECT state, count(*) FROM deployment_operation "
                "WHERE kind = 'log_check' AND id > %s GROUP BY state",
                (first,),
            )
        )
        [(span, read)] = self.query(
            "SELECT extract(epoch FROM max(finished_at) - min(started_at)), "
            "sum((result_data->>'bytes_read')::bigint) "
            "FROM deployment_operation WHERE kind = 'log_check' AND id > %s",
            (first,),
        )
        cpu = report(label, measure, per=(max(total, 1), "check"))
        print(
            f"  {total} log checks {states}, from the first start to the last "
            f"end {float(span or 0):.0f} s, {int(read or 0) / 1000:.0f} kB read"
        )
        commits, inserted, updated, deleted, messages, mails = (
            (b - a) / max(total, 1) for a, b in zip(before, after, strict=True)
        )
        print(
            f"  per check: {commits:.0f} transactions committed, rows "
            f"{inserted:.0f} inserted, {updated:.0f} updated, {deleted:.0f} "
            f"deleted; {messages:.1f} chatter messages, {mails:.1f} e-mails queued"
        )
        return measure, cpu, total

    def watch(self, label):
        self.meter.start()
        self.wake(self.watch_cron)
        self.meter.wait(lambda: self.ran(self.watch_cron), 300, "the watch")
        measure = self.meter.stop()
        return measure, report(label, measure)

    def schedule(self):
        """When the next round is due, by the cron and by the environments."""
        [(nextcall, due, lastcall)] = self.query(
            "SELECT c.nextcall, min(e.log_check_next_at), c.lastcall FROM ir_cron c, "
            "deployment_environment e WHERE c.id = %s GROUP BY c.id",
            (self.log_cron,),
        )
        return nextcall, due, lastcall

    def keep_clear(self, seconds):
        """Move the scheduled log checks and the watch after the window."""
        [(moved,)] = self.query(
            "WITH m AS (UPDATE ir_cron SET nextcall = (now() AT TIME ZONE 'UTC') "
            "+ make_interval(secs => %s) WHERE id IN %s AND nextcall < "
            "(now() AT TIME ZONE 'UTC') + make_interval(secs => %s) RETURNING id) "
            "SELECT count(*) FROM m",
            (seconds + 60, (self.log_cron, self.watch_cron), seconds + 10),
        )
        return moved

    def at_rest(self, seconds):
        self.meter.start()
        notices = Counter()
        listen = psycopg2.connect(dbname="postgres", port=self.args.port)
        listen.autocommit = True
        with listen.cursor() as cr:
            cr.execute("LISTEN cron_trigger")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.meter.sample()
            listen.poll()
            while listen.notifies:
                notices[listen.notifies.pop().payload] += 1
            time.sleep(0.5)
        listen.close()
        measure = self.meter.stop()
        cpu = report(f"(c) at rest, {seconds:.0f} s between two rounds", measure)
        others = {db: n for db, n in notices.items() if db != self.args.db}
        print(
            f"  cron wake-ups (NOTIFY cron_trigger): {notices[self.args.db]} for "
            f"this database, {sum(others.values())} for others on the cluster "
            "(each wakes this server's cron threads too)"
        )
        return measure, cpu

    def grow_logs(self):
        for path, text in zip(self.logs, self.grown, strict=True):
            with open(path, "a") as handle:
                handle.write(text)
        self.query("UPDATE deployment_environment SET log_check_next_at = NULL")

    def run(self):
        args = self.args
        self.setup()
        _m, first_cpu, _n = self.round_of_checks("(a) first round of log checks")
        nextcall, due, lastcall = self.schedule()
        print(
            f"  next round: the scheduled action at {nextcall} (UTC), the "
            f"environments due from {due}: "
            + (
                f"{(due - nextcall).total_seconds():.1f} s after it (it ran at "
                f"{lastcall}, late on its time by its cron thread's wake-up)"
                if due > nextcall
                else "in time for it"
            )
        )
        self.watch("(b) recovery-site watch, first run (notifies stale points)")
        _m, watch_cpu = self.watch("(b) recovery-site watch, a later run")
        moved = self.keep_clear(args.window)
        if moved:
            print(
                f"(the next round and watch moved after the {args.window:.0f} s "
                "window: they were due within it)"
            )
        rest, rest_cpu = self.at_rest(args.window)
        rest_percent = 100 * rest_cpu / rest["wall"]
        self.grow_logs()
        routine, routine_cpu, checks = self.round_of_checks(
            f"(d) routine round, each log grown by {args.grow} records"
        )
        cycle = args.interval * 60
        average = (
            routine_cpu
            + watch_cpu * cycle / 900
            + rest_cpu / rest["wall"] * max(cycle - routine["wall"], 0)
        ) / cycle
        print(
            f"at rest between checks: {rest_percent:.2f} % of one core "
            f"(target < {TARGET_PERCENT:g} %: "
            + ("met" if rest_percent < TARGET_PERCENT else "NOT met")
            + ")"
        )
        print(
            f"over a whole {args.interval}-minute cycle (a routine round of "
            f"{checks} checks, the watch every 15 min, at rest otherwise): "
            f"{100 * average:.2f} % of one core; first round: "
            f"{first_cpu:.1f} s of CPU"
        )
        return 0

    def close(self):
        if self.meter:
            self.meter.close()
        for connection in (self.sql, self.notifier):
            if connection:
                connection.close()
        if self.server:
            self.server.stop()
            if not _manager.print_log_problems(self.server.log_path, "server"):
                print("no WARNING or ERROR in the server's log")
        _manager.print_log_problems(os.path.join(self.work, "install.log"), "install")
        if self.args.keep:
            print(f"kept: database {self.args.db}, logs in {self.work}")
        else:
            self.database.drop()
            shutil.rmtree(self.work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=50, help="environments")
    parser.add_argument("--dr", type=int, default=5, help="of which recovery sites")
    parser.add_argument("--lines", type=int, default=300, help="records per log")
    parser.add_argument("--grow", type=int, default=30, help="records added per log")
    parser.add_argument("--interval", type=int, default=5, help="minutes")
    parser.add_argument("--window", type=float, default=120, help="seconds at rest")
    parser.add_argument("--threads", type=int, default=2, help="cron threads")
    _manager.common_arguments(parser, "dm_bench_at_rest")
    args = parser.parse_args()
    bench = Bench(args, tempfile.mkdtemp(prefix="dm-at-rest-bench-"))
    try:
        return bench.run()
    finally:
        bench.close()


if __name__ == "__main__":
    sys.exit(main())
