"""Real manager servers for the benchmarks: a fresh database with the addon
installed, Odoo server processes on it, XML-RPC as a CI pipeline uses it,
and the CPU time of processes and of their PostgreSQL backends.

Only the standard library, psycopg2 and psutil (both in Odoo's virtualenv);
Odoo itself runs in the server processes, never in the benchmark's.
"""

import collections
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client

import psutil
import psycopg2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ODOO = os.path.join(os.path.dirname(sys.executable), "odoo")
ADDONS_PATH = f"/opt/odoo/addons,/opt/odoo/odoo/addons,{ROOT}"
ADMIN = ("admin", "admin")
# What a runner job that failed on its claim leaves in the server's log.
SERIALIZATION = "psycopg2.errors.SerializationFailure"
# An Odoo log record's head: date, time, pid, level.
LOG_HEAD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \d+ (\w+) ")


def psql(sql, port, db="postgres"):
    """One statement through psql as this user (peer authentication)."""
    return subprocess.run(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-p", str(port)]
        + ["-d", db, "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


class BenchDatabase:
    """A database of the benchmark's own, marked by a comment.

    A database of that name without the marker is someone else's: it is
    refused, never dropped.
    """

    def __init__(self, name, marker, port=5432):
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"not a plain database name: {name!r}")
        self.name, self.marker, self.port = name, marker, port

    def comment(self):
        """The database's comment ('' if none), None if it does not exist."""
        out = psql(
            "SELECT coalesce(shobj_description(oid, 'pg_database'), '') "
            f"FROM pg_database WHERE datname = '{self.name}'",
            self.port,
        )
        return out if out else ("" if self._exists() else None)

    def _exists(self):
        return bool(
            psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.name}'", self.port)
        )

    def ours(self):
        return (self.comment() or "").startswith(self.marker)

    def create(self, log_path):
        """Drop a previous run's database, make a new one, install the addon."""
        comment = self.comment()
        if comment is not None and not comment.startswith(self.marker):
            raise SystemExit(
                f"database {self.name} exists and is not this benchmark's "
                f"(its comment is {comment!r}): nothing was done"
            )
        if comment is not None:
            self.drop()
        subprocess.run(["createdb", "-p", str(self.port), self.name], check=True)
        self._mark("installing")
        start = time.monotonic()
        result = subprocess.run(
            [
                ODOO,
                *self.odoo_args(),
                "-i",
                "deployment_manager",
                "--stop-after-init",
                "--no-http",
                "--log-level=warn",
                "--logfile",
                log_path,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=1800,
        )
        if result.returncode:
            print_log_problems(log_path, "install")
            raise SystemExit(f"the install failed (exit {result.returncode})")
        self._mark("installed")
        return time.monotonic() - start

    def _mark(self, what):
        psql(f"COMMENT ON DATABASE {self.name} IS '{self.marker}: {what}'", self.port)

    def odoo_args(self):
        args = [
            "-d",
            self.name,
            "--db-filter",
            f"^{self.name}$",
            "--addons-path",
            ADDONS_PATH,
            "--without-demo=all",
        ]
        if self.port != 5432:
            args += ["--db_port", str(self.port)]
        return args

    def drop(self):
        if self.ours():
            subprocess.run(
                ["dropdb", "--force", "-p", str(self.port), self.name], check=True
            )


def common_arguments(parser, db):
    """The options every manager benchmark has: database, port, --keep."""
    parser.add_argument("--db", default=db, help="database name")
    parser.add_argument("--port", type=int, default=5432, help="PostgreSQL port")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database and the logs"
    )


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ManagerServer:
    """One Odoo server process on the benchmark's database, in its own session."""

    def __init__(self, database, name, log_dir, threads, log_level="warn"):
        self.database, self.name, self.threads = database, name, threads
        self.port = free_port()
        self.log_path = os.path.join(log_dir, f"server-{name}.log")
        self.log_level = log_level
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                ODOO,
                *self.database.odoo_args(),
                "--http-port",
                str(self.port),
                "--http-interface",
                "127.0.0.1",
                "--max-cron-threads",
                str(self.threads),
                f"--log-level={self.log_level}",
                "--logfile",
                self.log_path,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    @property
    def pid(self):
        return self.process.pid

    def rpc(self):
        return Rpc(self.port, self.database.name)

    def wait_ready(self, timeout=180):
        common = xmlrpc.client.ServerProxy(
            f"http://127.0.0.1:{self.port}/xmlrpc/2/common"
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                print_log_problems(self.log_path, f"server {self.name}")
                raise SystemExit(
                    f"server {self.name} exited ({self.process.returncode})"
                )
            with contextlib.suppress(OSError):
                common.version()
                return self
            time.sleep(0.3)
        raise SystemExit(f"server {self.name} did not answer in {timeout} s")

    def stop(self):
        """SIGTERM to the server's own process group, SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)


class Rpc:
    """XML-RPC as admin, as a CI pipeline drives the manager."""

    def __init__(self, port, db):
        url = f"http://127.0.0.1:{port}/xmlrpc/2/"
        self.db = db
        self.object = xmlrpc.client.ServerProxy(url + "object", allow_none=True)
        common = xmlrpc.client.ServerProxy(url + "common")
        self.uid = common.authenticate(db, *ADMIN, {})
        if not self.uid:
            raise SystemExit("admin/admin was refused")

    def __call__(self, model, method, *args, **kwargs):
        return self.object.execute_kw(
            self.db, self.uid, ADMIN[1], model, method, list(args), kwargs
        )


def print_log_problems(path, label, limit=20):
    """Print the WARNING, ERROR and CRITICAL records of an Odoo log, alike
    ones (digits aside) once with their count and the first lines of the
    first one's traceback; return how many there were."""
    if not os.path.exists(path):
        return 0
    records, keep = [], False
    with open(path, errors="replace") as handle:
        for line in handle:
            head = LOG_HEAD.match(line)
            if head:
                keep = head.group(1) in ("WARNING", "ERROR", "CRITICAL")
                if keep:
                    records.append([line.rstrip("\n")])
            elif keep:
                records[-1].append(line.rstrip("\n"))
    groups = {}
    for record in records:
        # The message without its date, time and pid, digits masked.
        shape = re.sub(r"\d+", "N", record[0].split(" ", 3)[3][:160])
        groups.setdefault(shape, []).append(record)
    if records:
        print(f"{label}: {len(records)} WARNING/ERROR record(s) in {path}:")
        for alike in list(groups.values())[:limit]:
            first = alike[0]
            print(f"  {len(alike)} x {first[0][:240]}")
            for line in first[1:][-3:]:
                print(f"      {line[:240]}")
        if len(groups) > limit:
            print(f"  ... and {len(groups) - limit} more kinds")
    return len(records)


def log_size(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def count_in_log(path, offset, text):
    """How many lines from byte ``offset`` on hold ``text``."""
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as handle:
        handle.seek(offset)
        return sum(1 for line in handle if text.encode() in line)


def tree_cpu(pid):
    """CPU seconds of a process and its descendants: its own, its reaped
    children's (cutime, cstime) and those of its live descendants."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = process.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def process_cpu(pid):
    with contextlib.suppress(psutil.NoSuchProcess):
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    return None


class BackendMeter:
    """CPU time of the PostgreSQL backends that serve the given server
    processes (application_name ``odoo-<pid>``, whatever their database,
    e.g. the cron threads' LISTEN connections to ``postgres``) or that work
    on the given database (autovacuum workers), sampled at each ``sample()``:
    a backend that comes and goes between two samples is missed. Each sample
    also notes the statements the backends are running (``active``)."""

    def __init__(self, port, server_pids, db):
        self.connection = psycopg2.connect(dbname="postgres", port=port)
        self.connection.autocommit = True
        self.names = [f"odoo-{pid}" for pid in server_pids]
        self.db = db
        self.reset(baseline=False)

    def sample(self, baseline=False):
        with self.connection.cursor() as cr:
            cr.execute(
                "SELECT pid, datname, state, query FROM pg_stat_activity"
                " WHERE application_name = ANY(%s)"
                " OR (datname = %s AND backend_type = 'autovacuum worker')",
                (self.names, self.db),
            )
            rows = cr.fetchall()
        self.samples += 1
        for pid, datname, state, query in rows:
            cpu = process_cpu(pid)
            if cpu is None:
                continue
            # Seen first after the start: it began within the measure.
            self.first.setdefault(pid, cpu if baseline else 0.0)
            self.last[pid] = cpu
            self.databases[pid] = datname
            if state == "active" and query:
                self.active[" ".join(query.split())[:150]] += 1
        return len(rows)

    def total(self):
        return sum(self.last[pid] - self.first[pid] for pid in self.last)

    def by_backend(self):
        """[(cpu, pid, database)], busiest first."""
        return sorted(
            (
                (self.last[pid] - self.first[pid], pid, self.databases[pid])
                for pid in self.last
            ),
            reverse=True,
        )

    def reset(self, baseline=True):
        self.first, self.last, self.databases = {}, {}, {}
        self.active = collections.Counter()
        self.samples = 0
        if baseline:
            self.sample(baseline=True)

    def close(self):
        self.connection.close()


def machine_busy():
    """CPU seconds all CPUs spent busy so far (from /proc/stat)."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")
