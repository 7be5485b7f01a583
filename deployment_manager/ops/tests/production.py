"""A simulated production Odoo 18 for the deployment tests, made for real.

* Its own PostgreSQL cluster ``15/dmprod`` on port 5439, so restarting "the
  database service" (J4) never cuts the connections of the test runner or
  of another Odoo: created on first use (``pg_createcluster``, with a
  ``root`` superuser role) and **left running afterwards** for the next run.
  Remove it with ``pg_dropcluster 15 dmprod --stop``.
* A template database ``dmprod_template`` with Odoo's ``base`` installed
  (built once, about 15 s, kept in that cluster with its filestore under
  ``/var/tmp/deployment_manager-dmprod``); each production is a
  ``CREATE DATABASE … TEMPLATE`` copy of it, taken in a second.
* A configuration file, a data directory, a custom addons directory, a log
  file and a free HTTP port in a temporary directory.
* ``prodctl CONFIG PIDFILE start|stop|restart|status``, a tiny service
  manager (written next to the configuration) that starts and stops a real
  ``odoo -c CONFIG`` server; ``status`` answers like ``systemctl
  is-active``.

Teardown stops the server and drops the production's database and every
copy made under its name (``_rb_`` rollback points, ``_failed_`` ones).
"""

import contextlib
import dataclasses
import fcntl
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

from ..spec import EnvironmentSpec
from . import pg

PG_VERSION = "15"
CLUSTER = "dmprod"
PORT = 5439
TEMPLATE = "dmprod_template"
ODOO = "/opt/odoo-venv/bin/odoo"
PYTHON = "/opt/odoo-venv/bin/python"
ODOO_ADDONS = "/opt/odoo/addons"
TEMPLATE_HOME = "/var/tmp/deployment_manager-dmprod"
SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample_addons")

PRODCTL = r"""#!/bin/sh
# prodctl CONFIG PIDFILE start|stop|restart|status
# The test production's service manager: a real `odoo -c CONFIG` server in a
# session of its own, its pid in PIDFILE, its output in PIDFILE.out.
set -u
odoo=${PRODCTL_ODOO:-/opt/odoo-venv/bin/odoo}
conf=$1
pidfile=$2
action=$3

# Alive and not a zombie (nobody may reap it soon in a container).
running() {
  [ -s "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -r "/proc/$pid/stat" ] || return 1
  state=$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f1)
  [ "$state" != Z ]
}

start() {
  if running; then return 0; fi
  rm -f "$pidfile"
  setsid -f sh -c 'echo $$ > "$1"; exec "$2" -c "$3" >> "$1.out" 2>&1 < /dev/null' \
    sh "$pidfile" "$odoo" "$conf"
  i=0
  while [ ! -s "$pidfile" ]; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then echo "odoo did not start" >&2; return 1; fi
    sleep 0.05
  done
  sleep 0.5
  if ! running; then
    echo "odoo exited at once:" >&2
    tail -n 20 "$pidfile.out" >&2
    return 1
  fi
}

stop() {
  if ! running; then rm -f "$pidfile"; return 0; fi
  kill -TERM "$pid"
  i=0
  while running; do
    i=$((i + 1))
    if [ "$i" -gt 300 ]; then kill -KILL "$pid"; sleep 0.5; break; fi
    sleep 0.1
  done
  rm -f "$pidfile"
}

case $action in
  start) start ;;
  stop) stop ;;
  restart) stop && start ;;
  status) if running; then echo active; else echo inactive; exit 3; fi ;;
  *) echo "usage: prodctl CONFIG PIDFILE start|stop|restart|status" >&2; exit 2 ;;
esac
"""


def _run(argv, check=True, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run(argv, check=check, **kwargs)


def psql(db, sql):
    """Rows of a query as lists of text, on the production cluster."""
    return pg.psql(db, sql, PORT)


def databases_like(prefix):
    return pg.databases_like(prefix, PORT)


def drop_database(name):
    pg.drop_database(name, PORT)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


# ----------------------------------------------------------------------
# The cluster and the template, made once and kept
# ----------------------------------------------------------------------
def ensure_cluster():
    """The dmprod cluster, running, with a superuser role for root."""
    listed = _run(["pg_lsclusters", "-h"]).stdout.split("\n")
    ours = [
        line.split() for line in listed if line.split()[:2] == [PG_VERSION, CLUSTER]
    ]
    if not ours:
        _run(
            [
                "pg_createcluster",
                PG_VERSION,
                CLUSTER,
                "--port",
                str(PORT),
                "--start",
            ]
        )
    elif ours[0][3] != "online":
        _run(["pg_ctlcluster", PG_VERSION, CLUSTER, "start"])
    deadline = time.monotonic() + 30
    while _run(["pg_isready", "-q", "-p", str(PORT)], check=False).returncode:
        if time.monotonic() > deadline:
            raise RuntimeError("the dmprod cluster does not accept connections")
        time.sleep(0.2)
    role = _run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-p",
            str(PORT),
            "-tAc",
            "SELECT 1 FROM pg_roles WHERE rolname = 'root'",
        ]
    ).stdout.strip()
    if role != "1":
        _run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                "createuser",
                "-p",
                str(PORT),
                "-s",
                "root",
            ]
        )


def _odoo_version():
    return _run([ODOO, "--version"]).stdout.strip()


def ensure_template():
    """``dmprod_template``: Odoo's base installed, built once per Odoo version."""
    os.makedirs(TEMPLATE_HOME, exist_ok=True)
    with open(os.path.join(TEMPLATE_HOME, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        version = _odoo_version()
        marker = os.path.join(TEMPLATE_HOME, "built-for")
        built = None
        if os.path.exists(marker):
            with open(marker) as handle:
                built = handle.read().strip()
        if TEMPLATE in databases_like(TEMPLATE) and built == version:
            return
        drop_database(TEMPLATE)
        shutil.rmtree(os.path.join(TEMPLATE_HOME, "data"), ignore_errors=True)
        _run(
            [
                ODOO,
                "-d",
                TEMPLATE,
                "--db_port",
                str(PORT),
                "--addons-path",
                ODOO_ADDONS,
                "--data-dir",
                os.path.join(TEMPLATE_HOME, "data"),
                "-i",
                "base",
                "--without-demo=all",
                "--stop-after-init",
                "--no-http",
                "--logfile",
                os.path.join(TEMPLATE_HOME, "build.log"),
            ]
        )
        with open(marker, "w") as handle:
            handle.write(version + "\n")


# ----------------------------------------------------------------------
# One production
# ----------------------------------------------------------------------
@dataclasses.dataclass
class Production:
    spec: EnvironmentSpec
    db: str
    root: str
    config: str
    data_dir: str
    addons: str
    log: str
    pidfile: str
    prodctl: str
    http_port: int

    @property
    def filestore(self):
        return os.path.join(self.data_dir, "filestore", self.db)

    @property
    def health_url(self):
        return self.spec.health_url

    def rows(self, sql, db=None):
        return psql(db or self.db, sql)

    def ctl(self, action, check=True):
        return _run([self.prodctl, self.config, self.pidfile, action], check=check)

    def start(self, timeout=60):
        """Start the server and wait until it answers its health URL."""
        self.ctl("start")
        deadline = time.monotonic() + timeout
        while http_status(self.health_url) != 200:
            if time.monotonic() > deadline:
                with open(self.pidfile + ".out", errors="replace") as handle:
                    output = handle.read()[-3000:]
                raise RuntimeError(f"the production server is not healthy:\n{output}")
            time.sleep(0.2)

    def stop(self):
        self.ctl("stop", check=False)

    def is_active(self):
        return self.ctl("status", check=False).returncode == 0

    def module_state(self, name):
        rows = self.rows(
            f"SELECT state, COALESCE(latest_version, '') FROM ir_module_module "
            f"WHERE name = '{name}'"
        )
        return tuple(rows[0]) if rows else (None, None)


def _write_config(path, db, data_dir, addons, log, http_port):
    lines = [
        "[options]",
        f"db_port = {PORT}",
        f"db_name = {db}",
        f"dbfilter = ^{db}$",
        "list_db = False",
        f"data_dir = {data_dir}",
        f"addons_path = {ODOO_ADDONS},{addons}",
        f"logfile = {log}",
        "http_interface = 127.0.0.1",
        f"http_port = {http_port}",
        f"gevent_port = {free_port()}",
        "max_cron_threads = 0",
        "workers = 0",
        "without_demo = all",
        "admin_passwd = not-a-real-admin-password",
    ]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def make_production(root, *, start=True):
    """A production of its own in ``root``: database, filestore, config,
    custom addons directory, service commands; its server started."""
    root = str(root)
    db = f"dmprod_{secrets.token_hex(4)}"
    data_dir = os.path.join(root, "data")
    filestore = os.path.join(data_dir, "filestore", db)
    template_store = os.path.join(TEMPLATE_HOME, "data", "filestore", TEMPLATE)
    if os.path.isdir(template_store):
        shutil.copytree(template_store, filestore, symlinks=True)
    os.makedirs(filestore, exist_ok=True)
    addons = os.path.join(root, "custom_addons")
    os.makedirs(addons)
    # Made once its files are: a root already used fails above, leaving no
    # database behind on the shared cluster (which would hold the benches).
    psql("postgres", f'CREATE DATABASE "{db}" TEMPLATE "{TEMPLATE}"')
    config = os.path.join(root, "odoo.conf")
    log = os.path.join(root, "odoo.log")
    http_port = free_port()
    _write_config(config, db, data_dir, addons, log, http_port)
    prodctl = os.path.join(root, "prodctl")
    with open(prodctl, "w") as handle:
        handle.write(PRODCTL)
    os.chmod(prodctl, 0o755)
    pidfile = os.path.join(root, "odoo.pid")
    service = [prodctl, config, pidfile]
    spec = EnvironmentSpec(
        name="production",
        odoo_argv=[ODOO],
        config_path=config,
        db_name=db,
        db_port=PORT,
        data_dir=data_dir,
        addons_paths=[addons],
        log_file=log,
        backup_dir=os.path.join(root, "backups"),
        odoo_status_argv=[*service, "status"],
        odoo_stop_argv=[*service, "stop"],
        odoo_start_argv=[*service, "start"],
        odoo_restart_argv=[*service, "restart"],
        pg_status_argv=["pg_isready", "-p", str(PORT)],
        pg_restart_argv=["pg_ctlcluster", PG_VERSION, CLUSTER, "restart"],
        health_url=f"http://127.0.0.1:{http_port}/web/health",
        work_dir=os.path.join(root, "work"),
    )
    production = Production(
        spec=spec,
        db=db,
        root=root,
        config=config,
        data_dir=data_dir,
        addons=addons,
        log=log,
        pidfile=pidfile,
        prodctl=prodctl,
        http_port=http_port,
    )
    if start:
        try:
            production.start()
        except BaseException:
            remove_production(production)
            raise
    return production


def remove_production(production):
    """Stop its server; drop its database and every copy made under its name."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        production.stop()
    for name in databases_like(production.db):
        drop_database(name)


# ----------------------------------------------------------------------
# Sources to deploy
# ----------------------------------------------------------------------
def sample(variant, module):
    """The directory of a sample addon: ``sample("v1", "dm_sample_good")``."""
    return os.path.join(SAMPLES, variant, module)


def make_zip(path, modules):
    """A zip of module directories (each its top-level directory)."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for module_dir in modules:
            name = os.path.basename(module_dir)
            for folder, dirs, files in os.walk(module_dir):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for file in sorted(files):
                    full = os.path.join(folder, file)
                    archive.write(
                        full, os.path.join(name, os.path.relpath(full, module_dir))
                    )
    return str(path)


def git(path, *args):
    return _run(
        [
            "git",
            "-C",
            str(path),
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            *args,
        ]
    ).stdout.strip()


def copy_module(module_dir, target_dir):
    shutil.copytree(
        module_dir,
        os.path.join(target_dir, os.path.basename(module_dir)),
        ignore=shutil.ignore_patterns("__pycache__"),
        dirs_exist_ok=True,
    )


def make_git_repo(path, versions):
    """A repository whose commits hold the given module directories, each
    commit tagged: ``versions`` is [(tag, [module_dir, …]), …]."""
    path = str(path)
    os.makedirs(path)
    git(path, "init", "-q", "-b", "main")
    for tag, modules in versions:
        for module_dir in modules:
            target = os.path.join(path, os.path.basename(module_dir))
            shutil.rmtree(target, ignore_errors=True)
            copy_module(module_dir, path)
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", f"Release {tag}")
        git(path, "tag", tag)
    return path
