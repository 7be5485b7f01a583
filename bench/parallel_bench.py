"""Benchmark of operations in parallel: N operations on N environments, on
one manager server then on two, against the longest single operation.

Creates a fresh database (``dm_bench_parallel``, marked by a comment; a
database of that name that is not the benchmark's is refused), installs the
addon, starts a manager server on it (``--max-cron-threads T``) and drives it
over XML-RPC as admin: a local host, N development environments whose Odoo
status command sleeps S seconds (and writes when it starts and ends), as
many runners as environments (the shipped ones duplicated with
``ir.cron.copy``). Then it times, from the requests to the last operation
seen done:

(a) one ``service_status`` operation alone: the longest single operation;
(b) N at once (one per environment) with one server, T cron threads;
(c) N at once with two servers on the database, T cron threads each;

and prints the wall times, the ratios "wall / longest", and how many ran at
once (from the status commands' own start and end times). The servers are
stopped and the database dropped at the end, unless ``--keep``. Run from the
repository root, as a PostgreSQL superuser (peer authentication):

    python3 bench/parallel_bench.py [--n 6] [--sleep 5] [--threads 3] [--keep]
"""

import argparse
import math
import os
import shutil
import sys
import tempfile
import time

import _manager

MARKER = "deployment_manager parallel bench"
STATUS_SH = """\
#!/bin/sh
# $1: the environment's label. Journals its start and end, sleeps between.
echo "$1 start $(date +%s.%N)" >> {log}
sleep {sleep}
echo "$1 end $(date +%s.%N)" >> {log}
echo active
"""
FIELDS = ["state", "worker", "started_at", "finished_at", "duration", "error_message"]


def setup(rpc, work, n, sleep):
    """A local host, N environments, N runners; return the environments' ids."""
    events = os.path.join(work, "events.log")
    script = os.path.join(work, "status.sh")
    with open(script, "w") as handle:
        handle.write(STATUS_SH.format(log=events, sleep=sleep))
    os.chmod(script, 0o755)
    host = rpc(
        "deployment.host",
        "create",
        {"name": "This server", "kind": "local", "work_dir": f"{work}/host"},
    )
    environments = {}
    for index in range(1, n + 1):
        label = f"env{index}"
        environments[label] = rpc(
            "deployment.environment",
            "create",
            {
                "name": label,
                "environment_type": "development",
                "host_id": host,
                "odoo_status_command": f"{script} {label}",
            },
        )
    runners = rpc("ir.cron", "search", [("code", "ilike", "_cron_run_operations")])
    shipped = len(runners)
    for index in range(n - len(runners)):
        runners.append(rpc("ir.cron", "copy", runners[index % shipped]))
    return environments, events, shipped, len(runners)


def wait_cron_threads(port, servers, timeout=120):
    """Until every cron thread listens (its connection to ``postgres``)."""
    names = ",".join(f"'odoo-{server.pid}'" for server in servers)
    want = sum(server.threads for server in servers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = int(
            _manager.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'postgres' "
                f"AND application_name IN ({names})",
                port,
            )
        )
        if count >= want:
            return
        time.sleep(0.3)
    raise SystemExit("the cron threads never connected")


def wait_no_cron_due(rpc, timeout=180):
    """Until Odoo's own scheduled actions due since the install have run (the
    runners, due every minute, are left out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        due = rpc(
            "ir.cron",
            "search_count",
            [
                ("nextcall", "<=", time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())),
                ("code", "not ilike", "_cron_run_operations"),
            ],
        )
        if not due:
            return
        time.sleep(1)
    raise SystemExit("scheduled actions stayed due")


def read_events(path, since):
    """{label: (start, end)} of the status commands that started after ``since``."""
    marks = {}
    if os.path.exists(path):
        with open(path) as handle:
            for line in handle:
                label, event, stamp = line.split()
                if float(stamp) >= since:
                    marks.setdefault(label, {})[event] = float(stamp)
    return {label: (m["start"], m.get("end")) for label, m in marks.items()}


def most_at_once(intervals):
    """The largest number of intervals open at the same instant."""
    points = sorted(
        [(start, 1) for start, _end in intervals]
        + [(end, -1) for _start, end in intervals]
    )
    best = current = 0
    for _stamp, step in points:
        current += step
        best = max(best, current)
    return best


def run_batch(rpc, environments, events, labels, servers):
    """Queue service_status on ``labels`` at once; wait until all ended."""
    offsets = [_manager.log_size(server.log_path) for server in servers]
    t0 = time.time()
    start = time.perf_counter()
    ids = [
        rpc(
            "deployment.environment",
            "queue_operation",
            [environments[label]],
            "service_status",
        )
        for label in labels
    ]
    queued = time.perf_counter() - start
    deadline = start + 600
    while True:
        ops = rpc("deployment.operation", "read", ids, FIELDS)
        if all(op["state"] not in ("queued", "running") for op in ops):
            wall = time.perf_counter() - start
            break
        if time.perf_counter() > deadline:
            raise SystemExit(f"operations still running after 600 s: {ops}")
        time.sleep(0.1)
    failed = [op for op in ops if op["state"] != "done"]
    if failed:
        raise SystemExit(f"operations did not end done: {failed}")
    commands = rpc(
        "deployment.operation.command",
        "search_read",
        [("operation_id", "in", ids)],
        ["duration"],
    )
    marks = read_events(events, t0)
    intervals = [marks[label] for label in labels]
    return {
        "wall": wall,
        "queued": queued,
        "ops": ops,
        "own": [end - begin for begin, end in intervals],
        "command": max(c["duration"] for c in commands),
        "at_once": most_at_once(intervals),
        "first_start": min(begin for begin, _end in intervals) - t0,
        "last_start": max(begin for begin, _end in intervals) - t0,
        "last_end": max(end for _begin, end in intervals) - t0,
        "workers": sorted({op["worker"].rsplit(":", 1)[-1] for op in ops}),
        # Runner jobs that failed on their claim (see README).
        "serialization": sum(
            _manager.count_in_log(server.log_path, offset, _manager.SERIALIZATION)
            for server, offset in zip(servers, offsets, strict=True)
        ),
    }


def describe(label, batch, longest, slots, n):
    rounds = math.ceil(n / slots)
    ops = batch["ops"]
    print(f"{label}:")
    print(
        f"  wall {batch['wall']:6.2f} s (requests {batch['queued']:.2f} s), "
        f"{batch['at_once']} at once, by {len(batch['workers'])} server process(es)"
    )
    print(
        f"  status commands: first started {batch['first_start']:.2f} s after the "
        f"first request, last started {batch['last_start']:.2f} s, last ended "
        f"{batch['last_end']:.2f} s; each {min(batch['own']):.2f}-"
        f"{max(batch['own']):.2f} s"
    )
    print(
        "  operations' own durations (whole seconds): "
        + ", ".join(f"{op['duration']:.0f}" for op in ops)
    )
    print(f"  runner jobs failed on a serialization error: {batch['serialization']}")
    print(
        f"  wall / longest single: {batch['wall'] / longest:.2f}x "
        f"(expected about {rounds}x: {n} operations, {slots} at once); "
        f"from the last request: {(batch['wall'] - batch['queued']) / longest:.2f}x"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=6, help="environments, operations")
    parser.add_argument("--sleep", type=float, default=5, help="each operation's wait")
    parser.add_argument("--threads", type=int, default=3, help="cron threads/server")
    _manager.common_arguments(parser, "dm_bench_parallel")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="dm-parallel-bench-")
    database = _manager.BenchDatabase(args.db, MARKER, args.port)
    servers = []
    try:
        print(f"installing deployment_manager in {args.db}...", flush=True)
        took = database.create(os.path.join(work, "install.log"))
        print(f"  done in {took:.0f} s")
        servers.append(_manager.ManagerServer(database, "a", work, args.threads))
        servers[0].start().wait_ready()
        wait_cron_threads(args.port, servers)
        rpc = servers[0].rpc()
        environments, events, shipped, runners = setup(rpc, work, args.n, args.sleep)
        labels = list(environments)
        print(
            f"{args.n} environments on a local host, status command 'sleep "
            f"{args.sleep:g}'; {runners} runners ({shipped} shipped); "
            f"{args.threads} cron threads per server; {os.cpu_count()} CPUs"
        )
        # Warm-up, not measured: Odoo's own scheduled actions due since the
        # install run at the first wake-up, and the code paths are loaded.
        run_batch(rpc, environments, events, labels, servers)
        wait_no_cron_due(rpc)

        single = run_batch(rpc, environments, events, labels[:1], servers)
        longest = single["wall"]
        print(
            f"(a) one operation alone: {longest:.2f} s from its request to done "
            f"seen (its status command {single['own'][0]:.2f} s, its journaled "
            f"command {single['command']:.2f} s, its own duration "
            f"{single['ops'][0]['duration']:.0f} s in whole seconds)"
        )
        one = run_batch(rpc, environments, events, labels, servers)
        describe(
            f"(b) {args.n} at once, 1 server",
            one,
            longest,
            min(runners, args.threads),
            args.n,
        )
        servers.append(_manager.ManagerServer(database, "b", work, args.threads))
        servers[1].start().wait_ready()
        wait_cron_threads(args.port, servers)
        servers[1].rpc()  # its registry loaded before the measure
        two = run_batch(rpc, environments, events, labels, servers)
        describe(
            f"(c) {args.n} at once, 2 servers",
            two,
            longest,
            min(runners, 2 * args.threads),
            args.n,
        )
        print(
            f"2 servers / 1 server: {two['wall'] / one['wall']:.2f}x the wall time; "
            f"sum of the {args.n} / longest: {args.n}x"
        )
    finally:
        for server in servers:
            server.stop()
        problems = 0
        for path, label in [(os.path.join(work, "install.log"), "install")] + [
            (server.log_path, f"server {server.name}") for server in servers
        ]:
            problems += _manager.print_log_problems(path, label)
        if not problems:
            print("no WARNING or ERROR in the servers' logs")
        if args.keep:
            print(f"kept: database {args.db}, logs in {work}")
        else:
            database.drop()
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
