"""Benchmark of a deployment's downtime against the same steps done by hand.

Uses the deployment tests' simulated production (see
``deployment_manager/ops/tests/production.py``): a real Odoo 18 server with
``base`` installed, on its own PostgreSQL cluster 15/dmprod (port 5439),
driven by a ``prodctl`` service script. Each measure takes a fresh copy of
that production (its server started and healthy), then installs the sample
addon ``dm_sample_good``:

(a) by hand, as an administrator would type it, the module's sources copied
    into the custom addons directory beforehand (the tool stages them beside
    it before its stop, and moves them in, a few renames, once Odoo is
    stopped: in its downtime, shown as "sources moved in"): ``prodctl
    stop``, ``odoo -c conf -d db -i dm_sample_good --stop-after-init
    --no-http``, ``pg_ctlcluster 15 dmprod restart``,
    ``prodctl start``, then ``/web/health`` fetched every 0.1 s until it
    answers 200. Downtime: from the stop to healthy.
(b) ``deployment_run()`` with a ``SimpleContext`` and a ``LocalTransport``,
    source a zip of dm_sample_good, ``install=["dm_sample_good"]``, no backup,
    no log check, PostgreSQL restarted: the ``downtime`` it reports (from its
    stop to healthy) and its total wall time. It starts the install's Odoo
    before its stop, held until the rollback point is made: its install
    command is counted from the point on.

Both are repeated ``--repeat`` times, in alternating order, and the medians
are compared: "tool downtime / by hand". Each production (server, database,
rollback point, files) is removed after its measure; the cluster and its
template database are left running for the tests, as the tests leave them.
The measures restart that cluster: before each one, the script waits until
no other session or database is on it (``--wait`` seconds at most). Run
from the repository root, as root (the cluster's superuser role):

    /opt/odoo-venv/bin/python bench/deploy_bench.py [--repeat 3]
"""

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import _addon  # noqa: F401 - before the addon is imported

from deployment_manager.ops.context import SimpleContext
from deployment_manager.ops.deploy import LABELS, deployment_run
from deployment_manager.ops.odoo_control import QUICK_HEALTH_POLL
from deployment_manager.ops.tests.production import (
    CLUSTER,
    ODOO,
    PORT,
    TEMPLATE,
    copy_module,
    ensure_cluster,
    ensure_template,
    http_status,
    make_production,
    make_zip,
    psql,
    remove_production,
    sample,
)
from deployment_manager.remote.local import LocalTransport

MODULE = "dm_sample_good"
VERSION = "18.0.1.0.0"
PHASES = (
    ("stop", "stop Odoo"),
    ("deploy", "sources moved in"),
    ("rollback_point", "rollback point"),
    ("install", "odoo -i --stop-after-init"),
    ("restart_database", "restart PostgreSQL"),
    ("start", "start Odoo"),
    ("health", "until /web/health is 200"),
)
STEP_NAMES = {label: name for name, label in LABELS.items()}


class TimedContext(SimpleContext):
    """SimpleContext that times each phase, and the commands in each."""

    def __init__(self, work_dir):
        super().__init__(work_dir=work_dir)
        self.phase = None
        self.step_times = {}  # phase: seconds
        self.short = {}  # phase: seconds in commands run and waited for
        self.detached = []  # (phase, key, wall seconds, command's own seconds)
        self.ahead = {}  # key: run directory of a command launched ahead

    def _run_dirs(self):
        return set(os.listdir(self.work_dir)) if os.path.isdir(self.work_dir) else set()

    def launch_detached(self, transport, argv, key, **kwargs):
        before = self._run_dirs()
        super().launch_detached(transport, argv, key, **kwargs)
        for name in self._run_dirs() - before:
            self.ahead[key] = os.path.join(self.work_dir, name)

    @contextlib.contextmanager
    def step(self, label):
        outer, self.phase = self.phase, STEP_NAMES.get(label, label)
        start = time.perf_counter()
        try:
            with super().step(label):
                yield
        finally:
            seconds = time.perf_counter() - start
            self.step_times[self.phase] = self.step_times.get(self.phase, 0) + seconds
            self.phase = outer

    def run(self, transport, argv, keep_output=True, **kwargs):
        start = time.perf_counter()
        try:
            return super().run(transport, argv, keep_output=keep_output, **kwargs)
        finally:
            seconds = time.perf_counter() - start
            self.short[self.phase] = self.short.get(self.phase, 0) + seconds

    def run_detached(self, transport, argv, key, **kwargs):
        before = self._run_dirs()
        start = time.perf_counter()
        status = super().run_detached(transport, argv, key, **kwargs)
        wall = time.perf_counter() - start
        own = None
        ahead = self.ahead.pop(key, None)
        for run_dir in (
            [ahead]
            if ahead
            else [
                os.path.join(self.work_dir, name) for name in self._run_dirs() - before
            ]
        ):
            # The runner writes pgid when the command starts and exit_code
            # when it ends: their mtimes give the command's own duration.
            with contextlib.suppress(OSError):
                own = os.path.getmtime(f"{run_dir}/exit_code") - os.path.getmtime(
                    f"{run_dir}/pgid"
                )
        if ahead and own is not None:
            # Started before the stop (its imports ran meanwhile, then it
            # waited for the rollback point): what counts here is its part
            # after the point, the wait, its end seen at once.
            own = min(own, wall)
        self.detached.append((self.phase, key, wall, own))
        return status


def check_installed(prod, what):
    state = prod.module_state(MODULE)
    if state != ("installed", VERSION) or http_status(prod.health_url) != 200:
        raise RuntimeError(f"{what}: {MODULE} is {state}, or the server is unhealthy")


def by_hand(prod, poll, timeout):
    """(a): {"downtime", "phases": {phase: seconds}}."""
    copy_module(sample("v1", MODULE), prod.addons)
    spec = prod.spec
    commands = [
        ("stop", spec.odoo_stop_argv),
        (
            "install",
            [ODOO, "-c", prod.config, "-d", prod.db, "-i", MODULE]
            + ["--stop-after-init", "--no-http"],
        ),
        ("restart_database", spec.pg_restart_argv),
        ("start", spec.odoo_start_argv),
    ]
    phases = {}
    begin = mark = time.perf_counter()
    for name, argv in commands:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode:
            raise RuntimeError(f"{argv} failed: {result.stderr.strip()[-2000:]}")
        now = time.perf_counter()
        phases[name], mark = now - mark, now
    deadline = mark + timeout
    while http_status(spec.health_url) != 200:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"not healthy within {timeout} s")
        time.sleep(poll)
    end = time.perf_counter()
    phases["health"] = end - mark
    check_installed(prod, "by hand")
    return {"downtime": end - begin, "phases": phases}


def with_tool(prod, archive, timeout):
    """(b): {"downtime", "wall", "phases", "command", "poll", "other"}."""
    ctx = TimedContext(os.path.join(prod.root, "runs"))
    start = time.perf_counter()
    with LocalTransport() as transport:
        state = deployment_run(
            ctx,
            transport,
            prod.spec,
            source={"kind": "zip", "path": archive, "addons_path": prod.addons},
            install=[MODULE],
            backup=None,
            log_check=None,
            auto_rollback=True,
            restart_database=True,
            health_timeout=timeout,
        )
    wall = time.perf_counter() - start
    if state["phase"] != "done":
        raise RuntimeError(f"the deployment ended in phase {state['phase']}")
    check_installed(prod, "tool")
    own, poll = {}, {}
    for phase, _key, seconds, command in ctx.detached:
        if command is not None:
            own[phase] = own.get(phase, 0) + command
            poll[phase] = poll.get(phase, 0) + seconds - command
    return {
        "downtime": state["downtime"],
        "wall": wall,
        "phases": ctx.step_times,
        "command": own,
        "poll": poll,
        "other": ctx.short,
        "commands": len(ctx.commands),
        # Whether the install started before the stop did the install (or,
        # ended before its gate opened, left it to a plain one after the point).
        "ahead": "/install-ahead-" in state["install_result"]["log_file"],
    }


def others_on_cluster():
    """What others have on the cluster: their client sessions and their
    databases (another run's production), or None if it cannot be reached."""
    try:
        sessions = psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
            "'client backend' AND pid <> pg_backend_pid()",
        )
        databases = psql(
            "postgres",
            "SELECT datname FROM pg_database WHERE datname NOT IN "
            f"('postgres', 'template0', 'template1', '{TEMPLATE}') ORDER BY 1",
        )
    except subprocess.CalledProcessError:
        return None
    return int(sessions[0][0]), [row[0] for row in databases]


def wait_quiet(timeout):
    """Wait until nobody else uses the cluster for 3 s in a row: the measures
    restart it, which would cut another run's connections, and another run's
    restarts or load would spoil the figures."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    said = False
    while True:
        others = others_on_cluster()
        now = time.monotonic()
        if others == (0, []):
            quiet_since = quiet_since or now
            if now - quiet_since >= 3:
                return
        else:
            quiet_since = None
            what = (
                f"{others[0]} sessions, databases {', '.join(others[1]) or '-'}"
                if others
                else "unreachable"
            )
            if now > deadline:
                raise SystemExit(
                    f"the cluster {CLUSTER} (port {PORT}) is still in use ({what}): "
                    "run the benchmark when it is free, or drop what a crashed "
                    "run left there"
                )
            if not said:
                print(
                    f"waiting for the cluster {CLUSTER} to be free ({what})...",
                    flush=True,
                )
                said = True
        time.sleep(0.5)


def cleanup(prod, root):
    """Stop the server, drop the database and its copies; remove the files."""
    for attempt in range(3):
        try:
            ensure_cluster()  # up again, should a restart be under way
            remove_production(prod)
            break
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
            time.sleep(2)
    shutil.rmtree(root, ignore_errors=True)


def measure(kind, root, archive, args):
    wait_quiet(args.wait)
    prod = make_production(root)
    try:
        if kind == "hand":
            return by_hand(prod, args.hand_poll, args.timeout)
        return with_tool(prod, archive, args.timeout)
    finally:
        cleanup(prod, root)


def median(runs, *keys):
    values = []
    for run in runs:
        value = run
        for key in keys:
            value = value.get(key, 0) if isinstance(value, dict) else 0
        values.append(value or 0)
    return statistics.median(values)


def report(hand, tool):
    version = subprocess.run(
        [ODOO, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"{len(hand)} runs each, medians; {os.cpu_count()} CPUs; {version}")
    print(
        f"  {'phase':<26} {'by hand':>8} {'tool':>8} {'tool-hand':>9}   "
        "tool: command / launch+poll / other commands"
    )
    for name, label in PHASES:
        by, to = median(hand, "phases", name), median(tool, "phases", name)
        parts = [median(tool, key, name) for key in ("command", "poll", "other")]
        detail = " / ".join(f"{part:5.2f}" for part in parts)
        print(f"  {label:<26} {by:8.2f} {to:8.2f} {to - by:+9.2f}   {detail}")
    down_hand, down_tool = median(hand, "downtime"), median(tool, "downtime")
    print(
        f"  {'downtime':<26} {down_hand:8.2f} {down_tool:8.2f} "
        f"{down_tool - down_hand:+9.2f}"
    )
    before = median(tool, "phases", "precheck")
    print(
        f"tool total wall time {median(tool, 'wall'):.2f} s (precheck, before the "
        f"stop: {before:.2f} s; {median(tool, 'commands'):.0f} commands)"
    )
    ahead = sum(1 for run in tool if run.get("ahead"))
    print(f"the install started ahead did the install in {ahead} of {len(tool)} runs")
    print(f"downtime by hand: {down_hand:.2f} s, tool: {down_tool:.2f} s")
    print(f"tool downtime / by hand: {down_tool / down_hand:.2f}x")
    point = median(tool, "phases", "rollback_point")
    others = [
        name for name, _label in PHASES if name not in ("deploy", "rollback_point")
    ]
    moved = median(tool, "phases", "deploy")
    polls = statistics.median(
        sum(run["poll"].get(name, 0) for name in others) for run in tool
    )
    reads = statistics.median(
        sum(run["other"].get(name, 0) for name in others) for run in tool
    )
    commands = ("stop", "install", "restart_database", "start")
    own_tool = statistics.median(
        sum(run["command"].get(name, 0) for name in commands) for run in tool
    )
    own_hand = statistics.median(
        sum(run["phases"][name] for name in commands) for run in hand
    )
    health = median(tool, "phases", "health") - median(hand, "phases", "health")
    print("where the difference comes from (medians, seconds):")
    print(f"  {point:+6.2f} rollback point taken while stopped (database + filestore)")
    print(f"  {moved:+6.2f} the new sources moved in once Odoo is stopped (renames)")
    print(
        f"  {polls:+6.2f} detached commands: their launch, and their end seen "
        "(waited for on the host, not at the next poll)"
    )
    print(
        f"  {reads:+6.2f} verification reads (install log, module states, pg_isready)"
    )
    print(
        f"  {own_tool - own_hand:+6.2f} the four commands themselves "
        f"(tool {own_tool:.2f}, by hand {own_hand:.2f}; the tool's install "
        "counted from its rollback point: it was started before the stop and "
        "did its imports meanwhile)"
    )
    print(
        f"  {health:+6.2f} health: fetched every {QUICK_HEALTH_POLL} s by the "
        "tool, every 0.1 s by hand (--hand-poll)"
    )
    print("per run (downtime by hand / tool, tool wall time):")
    for index, (one, two) in enumerate(zip(hand, tool, strict=True), 1):
        print(
            f"  {index}: {one['downtime']:6.2f} s / {two['downtime']:6.2f} s, "
            f"{two['wall']:6.2f} s"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each")
    parser.add_argument(
        "--hand-poll",
        type=float,
        default=0.1,
        help="seconds between health fetches by hand",
    )
    parser.add_argument(
        "--timeout", type=int, default=120, help="seconds to wait for health"
    )
    parser.add_argument(
        "--wait",
        type=int,
        default=600,
        help="seconds to wait for others to leave the cluster",
    )
    parser.add_argument("--dir", default=None, help="where to write the files")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    print("preparing the production cluster and template...", flush=True)
    ensure_cluster()
    ensure_template()
    work = tempfile.mkdtemp(prefix="deploy-bench-", dir=args.dir)
    hand, tool = [], []
    try:
        archive = make_zip(f"{work}/{MODULE}.zip", [sample("v1", MODULE)])
        for index in range(args.repeat):
            order = ("hand", "tool") if index % 2 == 0 else ("tool", "hand")
            for kind in order:
                run = measure(kind, f"{work}/{kind}-{index}", archive, args)
                (hand if kind == "hand" else tool).append(run)
                print(
                    f"run {index + 1} {kind}: downtime {run['downtime']:.2f} s",
                    flush=True,
                )
        report(hand, tool)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
