# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A real manager (an Odoo server of its own) killed while an operation runs:
its commands re-attached to, and a restore or a replication interrupted around
the swap of databases left wholly old or wholly new."""

import base64
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import xmlrpc.client
from datetime import timedelta

from odoo import fields
from odoo.tests import BaseCase, TransactionCase, tagged
from odoo.tools import config

from ..ops.tests.production import (
    databases_like,
    ensure_cluster,
    ensure_template,
    http_status,
    make_production,
    make_zip,
    psql,
    remove_production,
    sample,
)
from ..remote import LocalTransport, poll_detached, start_detached
from .common import (
    DeploymentTestMixin,
    development_environment_vals,
    drop_databases,
    make_environment_copy,
    make_tested_development,
    odoo_command,
    production_environment_vals,
)
from .test_replicate import tree_digest

MANAGER_DB = os.environ.get("DM_E2E_DB", "dm_e2e_manager")
ADMIN = ("admin", "admin")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ManagerServerCase(BaseCase):
    """Drives a separate manager server through XML-RPC, as a CI pipeline would.

    Each class installs the addon in a fresh manager database; the server
    is started by the tests and stopped at the end of the class.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.workdir = tempfile.mkdtemp(prefix="dm_e2e_")
        cls.port = _free_port()
        cls.base_args = [
            odoo_command(),
            "-d",
            MANAGER_DB,
            "--db-filter",
            f"^{MANAGER_DB}$",
            "--addons-path",
            config["addons_path"],
            "--without-demo=all",
        ]
        for option in ("db_host", "db_port", "db_user", "db_password"):
            if config.get(option):
                cls.base_args += [f"--{option.replace('_', '-')}", str(config[option])]
        subprocess.run(["dropdb", "--if-exists", MANAGER_DB], check=True)
        subprocess.run(
            [
                *cls.base_args,
                "-i",
                "deployment_manager",
                "--stop-after-init",
                "--no-http",
                "--log-level=warn",
                "--logfile",
                os.path.join(cls.workdir, "install.log"),
            ],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=900,
        )
        cls.server = None
        cls.addClassCleanup(cls._stop_server)
        # The manager finds this setsid first: the real one, except that the
        # next launch can be made to hang on the host (_hang_next_launch).
        cls.gate = os.path.join(cls.workdir, "hang-next-launch")
        cls.hung = os.path.join(cls.workdir, "launch-hung")
        cls.release = os.path.join(cls.workdir, "release-launch")
        cls.bin_dir = bin_dir = os.path.join(cls.workdir, "bin")
        os.mkdir(bin_dir)
        with open(os.path.join(bin_dir, "setsid"), "w") as handle:
            handle.write(
                "#!/bin/sh\n"
                f"if mv -- {cls.gate} {cls.gate}.taken 2> /dev/null; then\n"
                f"  echo $$ > {cls.hung}\n"
                f"  while [ ! -e {cls.release} ]; do sleep 0.1; done\n"
                "fi\n"
                f'exec {shutil.which("setsid")} "$@"\n'
            )
        os.chmod(os.path.join(bin_dir, "setsid"), 0o755)
        cls.server_env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")

    @classmethod
    def _start_server(cls):
        if cls.server:
            return
        cls._proxies()
        cls.server = subprocess.Popen(
            [
                *cls.base_args,
                "--http-port",
                str(cls.port),
                "--http-interface",
                "127.0.0.1",
                "--max-cron-threads",
                "1",
                "--log-level=warn",
                "--logfile",
                os.path.join(cls.workdir, "server.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=cls.server_env,
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                cls.common.version()
                return
            except OSError:
                time.sleep(0.5)
        raise AssertionError("the manager server did not start")

    @classmethod
    def _kill_server(cls):
        os.killpg(cls.server.pid, signal.SIGKILL)
        cls.server.wait(30)
        cls.server = None

    @classmethod
    def _stop_server(cls):
        if cls.server:
            os.killpg(cls.server.pid, signal.SIGTERM)
            cls.server.wait(60)
            cls.server = None

    @classmethod
    def _proxies(cls):
        url = f"http://127.0.0.1:{cls.port}/xmlrpc/2/"
        cls.common = xmlrpc.client.ServerProxy(url + "common")
        cls.object = xmlrpc.client.ServerProxy(url + "object", allow_none=True)

    def call(self, model, method, *args, **kwargs):
        uid = self.common.authenticate(MANAGER_DB, *ADMIN, {})
        return self.object.execute_kw(
            MANAGER_DB, uid, ADMIN[1], model, method, list(args), kwargs
        )

    def wait_for(self, predicate, timeout, message):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(message)

    def _start_manager(self):
        """Start the manager server; a worker gone is judged so after 1 s."""
        self._start_server()
        self.call(
            "ir.config_parameter",
            "set_param",
            "deployment_manager.heartbeat_grace_seconds",
            "1",
        )

    def _local_host(self, name):
        return self.call(
            "deployment.host",
            "create",
            {"name": name, "kind": "local", "work_dir": self.workdir},
        )

    def wait_until_ended(self, operation_id, timeout, message, *fields):
        """The operation (state, attempt, error_message and ``fields``) once it
        is neither queued nor running."""

        def ended():
            [operation] = self.call(
                "deployment.operation",
                "read",
                [operation_id],
                ["state", "attempt", "error_message", *fields],
            )
            return (
                operation if operation["state"] not in ("queued", "running") else None
            )

        return self.wait_for(ended, timeout, message)


@tagged("post_install", "-at_install")
class TestWorkerKilled(ManagerServerCase):
    """A manager killed while an operation's command runs or is launched."""

    def test_detached_command_survives_and_operation_reattaches(self):
        """Killing the manager mid-operation leaves the detached command running;
        after restart the operation re-attaches to it and records its real exit code.
        """
        self._proxies()
        self._start_manager()
        host_id = self._local_host("This server")
        environment_id = self.call(
            "deployment.environment",
            "create",
            {
                "name": "Development",
                "environment_type": "development",
                "host_id": host_id,
                "odoo_status_command": "sh -c 'sleep 6; echo inactive; exit 3'",
                "pg_status_command": "sh -c 'echo active'",
            },
        )
        action = self.call(
            "deployment.environment", "action_service_status", [environment_id]
        )
        operation_id = action["res_id"]

        def running_command():
            commands = self.call(
                "deployment.operation.command",
                "search_read",
                [
                    ("operation_id", "=", operation_id),
                    ("detached_key", "=", "status-odoo"),
                ],
                ["run_dir", "detached_state"],
            )
            return commands and commands[0]

        command = self.wait_for(
            running_command, 60, "the worker never started the detached command"
        )
        self.assertEqual(command["detached_state"], "running")
        self._kill_server()

        with LocalTransport() as transport:
            self.assertEqual(
                poll_detached(transport, command["run_dir"]).state,
                "running",
                "the detached command must outlive the killed manager",
            )

        self._start_server()

        operation = self.wait_until_ended(
            operation_id, 90, "the operation was never reconciled"
        )
        self.assertEqual(operation["state"], "done", operation["error_message"])
        self.assertEqual(operation["attempt"], 2, "taken up by a second worker")
        commands = self.call(
            "deployment.operation.command",
            "search_read",
            [("operation_id", "=", operation_id), ("detached_key", "=", "status-odoo")],
            ["exit_code", "detached_state", "stdout_excerpt"],
        )
        self.assertEqual(len(commands), 1, "re-attached, not started again")
        self.assertEqual(commands[0]["exit_code"], 3)
        self.assertIn("inactive", commands[0]["stdout_excerpt"])
        [environment] = self.call(
            "deployment.environment", "read", [environment_id], ["odoo_service_state"]
        )
        self.assertEqual(environment["odoo_service_state"], "inactive")

    def _hang_next_launch(self):
        """The next detached launch stops just before setsid, its run
        directory made, until the test creates self.release."""
        _touch(self.gate)
        self.addCleanup(_touch, self.release)
        self.addCleanup(_remove, self.gate)

    def test_launch_cut_short_by_a_killed_manager_is_launched_again(self):
        """The manager is killed while a launch hangs on the host, before the
        command started: after restart the command is launched again, the
        operation ends done and says so, and the old launch, let go on late,
        never runs it a second time."""
        self._start_manager()
        host_id = self._local_host("Slow launches")
        runs = os.path.join(self.workdir, "status-runs")
        environment_id = self.call(
            "deployment.environment",
            "create",
            {
                "name": "Development with a slow host",
                "environment_type": "development",
                "host_id": host_id,
                "odoo_status_command": (
                    f"sh -c 'echo run >> {runs}; echo inactive; exit 3'"
                ),
                "pg_status_command": "sh -c 'echo active'",
            },
        )
        self._hang_next_launch()
        action = self.call(
            "deployment.environment", "action_service_status", [environment_id]
        )
        operation_id = action["res_id"]
        self.wait_for(lambda: os.path.exists(self.hung), 60, "the launch never started")
        [command] = self.call(
            "deployment.operation.command",
            "search_read",
            [("operation_id", "=", operation_id), ("detached_key", "=", "status-odoo")],
            ["run_dir", "detached_state"],
        )
        self.assertEqual(command["detached_state"], "running", "recorded first")
        self.assertEqual(os.listdir(command["run_dir"]), ["argv.json"])
        self._kill_server()
        self._start_server()

        operation = self.wait_until_ended(
            operation_id, 90, "the operation was never reconciled"
        )
        self.assertEqual(operation["state"], "done", operation["error_message"])
        self.assertEqual(operation["attempt"], 2)
        [relaunched] = self.call(
            "deployment.operation.command",
            "search_read",
            [("operation_id", "=", operation_id), ("detached_key", "=", "status-odoo")],
            ["run_dir", "exit_code", "note", "detached_state"],
        )
        self.assertNotEqual(relaunched["run_dir"], command["run_dir"])
        self.assertEqual(
            (relaunched["detached_state"], relaunched["exit_code"]), ("done", 3)
        )
        self.assertIn("Launched again", relaunched["note"])
        self.assertIn("holds no process group", relaunched["note"])
        steps = self.call(
            "deployment.operation.step",
            "search_read",
            [
                ("operation_id", "=", operation_id),
                ("message", "like", "Launched again"),
            ],
            ["name"],
        )
        self.assertEqual(len(steps), 1, "the journal says the launch was repeated")
        [environment] = self.call(
            "deployment.environment", "read", [environment_id], ["odoo_service_state"]
        )
        self.assertEqual(environment["odoo_service_state"], "inactive")

        # The old launch goes on now: its runner finds the launch closed.
        with open(self.hung) as handle:
            launcher = int(handle.read())
        _touch(self.release)
        self.wait_for(lambda: not _alive(launcher), 30, "the old launch never ended")
        time.sleep(1)
        with open(runs) as handle:
            self.assertEqual(handle.read(), "run\n", "the command ran once")

    def test_backup_interrupted_by_a_killed_manager_completes_after_restart(self):
        """A backup whose manager is killed while the filestore is archived is taken up
        again after restart: the bundle completes and verifies, never half-written."""
        self._start_manager()
        name = "dm_e2e_backup_source"
        fixture = make_environment_copy(name)
        self.addCleanup(drop_databases, name)
        # A filestore big enough that archiving it takes a few seconds.
        big = os.path.join(fixture["data_dir"], "filestore", name, "0a", "big")
        subprocess.run(["fallocate", "-l", "3G", big], check=True)
        self.addCleanup(os.remove, big)
        host_id = self._local_host("Backup host")
        environment_id = self.call(
            "deployment.environment",
            "create",
            {
                "name": "Production to back up",
                "environment_type": "production",
                "host_id": host_id,
                "odoo_command": fixture["odoo_command"],
                "odoo_config_path": fixture["config_path"],
                "db_name": name,
                "data_dir": fixture["data_dir"],
                "backup_dir": fixture["backup_dir"],
            },
        )
        action = self.call("deployment.environment", "action_backup", [environment_id])
        operation_id = action["res_id"]

        def archiving():
            return self.call(
                "deployment.operation.command",
                "search_count",
                [
                    ("operation_id", "=", operation_id),
                    ("detached_key", "=", "backup-filestore"),
                    ("detached_state", "=", "running"),
                ],
            )

        self.wait_for(archiving, 120, "the filestore was never being archived")
        self._kill_server()
        self._start_server()

        operation = self.wait_until_ended(
            operation_id, 300, "the backup was never reconciled", "backup_id"
        )
        self.assertEqual(operation["state"], "done", operation["error_message"])
        self.assertEqual(operation["attempt"], 2)
        [backup] = self.call(
            "deployment.backup",
            "read",
            [operation["backup_id"][0]],
            ["state", "bundle_dir"],
        )
        self.assertEqual(backup["state"], "verified")
        self.assertFalse(
            os.path.exists(os.path.join(backup["bundle_dir"], ".incomplete"))
        )
        archives = self.call(
            "deployment.operation.command",
            "search_count",
            [
                ("operation_id", "=", operation_id),
                ("detached_key", "=", "backup-filestore"),
            ],
        )
        self.assertEqual(
            archives, 1, "the archive was re-attached to, not started again"
        )

    def test_upgrade_interrupted_by_a_killed_manager_is_completed_after_restart(self):
        """A deployment whose manager is killed during the install is taken up again
        after restart: the install it re-attaches to completes, Odoo is started and
        healthy, and production is never left half-done."""
        self._deployment_killed_then_taken_up(
            "install-and-upgrade-the-modules", "the install never started"
        )

    def test_deployment_killed_while_its_install_waits_at_its_gate(self):
        """The manager killed while Odoo stops, the install started ahead held
        before it reads its configuration: after restart the stop is waited for,
        the rollback point taken, and the same install let through, which
        completes; it never ran twice."""
        self._deployment_killed_then_taken_up(
            "stop-odoo", "Odoo's stop never started", slow_stop=True
        )

    def _deployment_killed_then_taken_up(self, step_key, never, slow_stop=False):
        ensure_cluster()
        ensure_template()
        root = os.path.join(self.workdir, f"production-{step_key}")
        prod = make_production(root)
        self.addCleanup(remove_production, prod)
        self._start_manager()
        host_id = self._local_host("Deployment host")
        values = production_environment_vals(prod, host_id, "Production to deploy")
        if slow_stop:
            # Long enough for the manager to be killed while Odoo stops.
            script = os.path.join(root, "slow-stop")
            with open(script, "w") as handle:
                handle.write(
                    "#!/bin/sh\nsleep 4\nexec %s\n" % values["odoo_stop_command"]
                )
            os.chmod(script, 0o755)
            values["odoo_stop_command"] = script
        environment_id = self.call("deployment.environment", "create", values)
        archive = make_zip(
            os.path.join(root, "release.zip"), [sample("v1", "dm_sample_good")]
        )
        with open(archive, "rb") as handle:
            data = base64.b64encode(handle.read()).decode()
        wizard_id = self.call(
            "deployment.run.wizard",
            "create",
            {
                "environment_id": environment_id,
                "source_kind": "zip",
                "zip_file": data,
                "zip_filename": "release.zip",
                "addons_path": prod.addons,
                "install_modules": "dm_sample_good",
                "take_backup": False,
            },
        )
        action = self.call("deployment.run.wizard", "action_confirm", [wizard_id])
        operation_id = action["res_id"]

        def at_the_step():
            return self.call(
                "deployment.operation.step",
                "search_count",
                [
                    ("operation_id", "=", operation_id),
                    ("key", "=", step_key),
                    ("state", "=", "running"),
                ],
            ) and self.call(
                "deployment.operation.command",
                "search_count",
                [
                    ("operation_id", "=", operation_id),
                    ("detached_key", "=", "install-ahead"),
                    ("detached_state", "=", "running"),
                ],
            )

        self.wait_for(at_the_step, 120, never)
        self._kill_server()
        self._start_server()

        operation = self.wait_until_ended(
            operation_id, 300, "the deployment was never reconciled", "downtime"
        )
        self.assertEqual(operation["state"], "done", operation["error_message"])
        self.assertEqual(operation["attempt"], 2)
        self.assertGreater(operation["downtime"], 0)
        self.assertEqual(
            prod.module_state("dm_sample_good"), ("installed", "18.0.1.0.0")
        )
        self.assertEqual(http_status(prod.health_url), 200)

        def installs(key):
            return self.call(
                "deployment.operation.command",
                "search_read",
                [("operation_id", "=", operation_id), ("detached_key", "=", key)],
                ["step_id", "exit_code"],
            )

        ahead = installs("install-ahead")
        self.assertEqual(len(ahead), 1, "the install was re-attached to, not run twice")
        self.assertEqual(ahead[0]["exit_code"], 0)
        self.assertEqual(
            ahead[0]["step_id"][1],
            "Install and upgrade the modules",
            "it is journaled in the step that waited for it",
        )
        self.assertEqual(installs("install-upgrade"), [], "no second install ran")

    def test_module_tests_interrupted_by_a_killed_manager_end_after_restart(self):
        """A module test run whose manager is killed while Odoo runs the tests is
        taken up again after restart: it re-attaches to that same run, records its
        results and drops the throwaway copy."""
        dev = make_tested_development(self.workdir, self.addCleanup)
        self._start_manager()
        host_id = self._local_host("Development host")
        environment_id = self.call(
            "deployment.environment",
            "create",
            development_environment_vals(dev, host_id, "Development to test"),
        )
        wizard_id = self.call(
            "deployment.test.wizard",
            "create",
            {"environment_id": environment_id, "module": "dm_sample_tested"},
        )
        action = self.call("deployment.test.wizard", "action_confirm", [wizard_id])
        operation_id = action["res_id"]
        test_commands = [
            ("operation_id", "=", operation_id),
            ("detached_key", "=like", "module-tests-%"),
        ]

        def testing():
            return self.call(
                "deployment.operation.command",
                "search_count",
                [*test_commands, ("detached_state", "=", "running")],
            )

        self.wait_for(testing, 120, "the tests never started")
        self._kill_server()
        self._start_server()

        operation = self.wait_until_ended(
            operation_id, 300, "the test run was never reconciled"
        )
        self.assertEqual(operation["state"], "done", operation["error_message"])
        self.assertEqual(operation["attempt"], 2)
        [run] = self.call(
            "deployment.test.run",
            "search_read",
            [("operation_id", "=", operation_id)],
            ["passed_count", "failed_count", "verdict"],
        )
        self.assertEqual(
            (run["passed_count"], run["failed_count"], run["verdict"]), (1, 1, "failed")
        )
        self.assertEqual(
            self.call("deployment.operation.command", "search_count", test_commands),
            1,
            "the test run was re-attached to, not run twice",
        )
        self.assertEqual(
            [name for name in databases_like(dev.db) if "_tests_" in name], []
        )


def _touch(path):
    with open(path, "a"):
        pass


def _remove(path):
    if os.path.exists(path):
        os.remove(path)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _write_script(path, text):
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o755)


# Holds a command once, when the test armed the gate ($1): says so in
# $1.held, then waits until the test creates $1.release (5 minutes at most:
# nothing outlives a failed test for long).
HOLD_SH = """\
hold() {
  mv -- "$1.armed" "$1.taken" 2> /dev/null || return 0
  : > "$1.held"
  i=0
  while [ ! -e "$1.release" ] && [ "$i" -lt 3000 ]; do
    sleep 0.1
    i=$((i + 1))
  done
}
"""

# then-hold GATE COMMAND…: runs the command, then is held if GATE is armed.
THEN_HOLD_SH = f"""\
#!/bin/sh
{HOLD_SH}
gate=$1
shift
"$@"
status=$?
if [ "$status" -eq 0 ]; then hold "$gate"; fi
exit "$status"
"""

# hold-then GATE COMMAND…: is held first if GATE is armed, then runs the
# command (a stop still under way); says in GATE.done that it ended.
HOLD_THEN_SH = f"""\
#!/bin/sh
{HOLD_SH}
gate=$1
shift
hold "$gate"
"$@"
status=$?
: > "$gate.done"
exit "$status"
"""

# psql, except that once GATE is armed, a script read from standard input
# ("-f -") that renames databases (the swap) is held after it committed.
HELD_PSQL_SH = """\
#!/bin/sh
{hold}
gate={gate}
real={real}
if [ -e "$gate.armed" ]; then
  case " $* " in
  *" -f - "*)
    sql=$(mktemp)
    cat > "$sql"
    "$real" "$@" < "$sql"
    status=$?
    if [ "$status" -eq 0 ] && grep -q "RENAME TO" "$sql"; then hold "$gate"; fi
    rm -f "$sql"
    exit "$status"
    ;;
  esac
fi
exec "$real" "$@"
"""


class Gate:
    """A command on the host held once at a known point of an operation,
    for the test to kill the manager there."""

    def __init__(self, directory, name):
        self.path = os.path.join(directory, name)

    def arm(self, case):
        for suffix in (".held", ".release", ".taken", ".done"):  # earlier tests'
            _remove(self.path + suffix)
        _touch(self.path + ".armed")
        case.addCleanup(self.release)
        case.addCleanup(_remove, self.path + ".armed")

    def is_done(self):
        return os.path.exists(self.path + ".done")

    def is_held(self):
        return os.path.exists(self.path + ".held")

    def release(self):
        _touch(self.path + ".release")


def _partners(db):
    return [row[0] for row in psql(db, "SELECT name FROM res_partner ORDER BY id")]


@tagged("post_install", "-at_install")
class TestSwapInterrupted(ManagerServerCase):
    """A restore or a replication whose manager is killed around the swap of
    databases, on real production servers: after restart the environment is
    wholly the old one or wholly the new one, its Odoo running and healthy,
    and the operation says which."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ensure_cluster()
        ensure_template()
        cls.stop_gate = Gate(cls.workdir, "stop")
        cls.swap_gate = Gate(cls.workdir, "swap")
        cls.then_hold = os.path.join(cls.bin_dir, "then-hold")
        _write_script(cls.then_hold, THEN_HOLD_SH)
        cls.hold_then = os.path.join(cls.bin_dir, "hold-then")
        _write_script(cls.hold_then, HOLD_THEN_SH)
        _write_script(
            os.path.join(cls.bin_dir, "psql"),
            HELD_PSQL_SH.format(
                hold=HOLD_SH,
                gate=shlex.quote(cls.swap_gate.path),
                real=shlex.quote(shutil.which("psql")),
            ),
        )

    # -- the scene ---------------------------------------------------------
    def _production(self, name, **kwargs):
        root = tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir)
        self.addCleanup(shutil.rmtree, root, ignore_errors=True)
        prod = make_production(os.path.join(root, name), **kwargs)
        self.addCleanup(remove_production, prod)
        return prod

    def _environment(self, prod, host_id, name, hold=None, **vals):
        """An environment operating ``prod``; its stop command can be held
        (``hold``: self.then_hold, the default, or self.hold_then)."""
        hold = hold or self.then_hold
        stop = [hold, self.stop_gate.path, *prod.spec.odoo_stop_argv]
        return self.call(
            "deployment.environment",
            "create",
            {
                **production_environment_vals(prod, host_id, name),
                "odoo_stop_command": shlex.join(stop),
                **vals,
            },
        )

    def _add(self, prod, partner, file_name):
        prod.rows(f"INSERT INTO res_partner (name, active) VALUES ('{partner}', true)")
        path = os.path.join(prod.filestore, "0a", file_name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(os.urandom(1024))

    @staticmethod
    def _contents(prod, db=None):
        """The environment's data: its partners and the digests of its files."""
        db = db or prod.db
        filestore = os.path.join(prod.data_dir, "filestore", db)
        return _partners(db), tree_digest(filestore)

    def call_json(self, model, method, *args, **kwargs):
        """As call(), through JSON-RPC: JSON fields hold nulls XML-RPC cannot
        carry."""
        uid = self.common.authenticate(MANAGER_DB, *ADMIN, {})
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/jsonrpc",
            data=json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "call",
                    "params": {
                        "service": "object",
                        "method": "execute_kw",
                        "args": [
                            MANAGER_DB,
                            uid,
                            ADMIN[1],
                            model,
                            method,
                            list(args),
                            kwargs,
                        ],
                    },
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.load(response)
        if "error" in answer:
            raise AssertionError(answer["error"])
        return answer["result"]

    def _read(self, operation_id, *names):
        [operation] = self.call_json(
            "deployment.operation", "read", [operation_id], list(names)
        )
        return operation

    def _held_at(self, gate, operation_id, phase):
        """The state the operation saved, once ``gate`` holds it at ``phase``."""
        self.wait_for(gate.is_held, 300, f"the operation never reached {phase}")
        saved = self._read(operation_id, "deployment_state")["deployment_state"]
        state = saved["state"]
        self.assertEqual(state["phase"], phase)
        return state

    def _restart_manager(self):
        self._kill_server()
        self._start_server()

    def assert_serving(self, prod):
        """Odoo runs on the environment and answers its health check."""
        self.assertTrue(prod.is_active(), "Odoo is running")
        self.wait_for(
            lambda: http_status(prod.health_url) == 200, 60, "Odoo is not healthy"
        )

    def _stop_commands(self, operation_id):
        return self.call(
            "deployment.operation.command",
            "search_read",
            [
                ("operation_id", "=", operation_id),
                ("detached_key", "=like", "%-stop-odoo-%"),
            ],
            ["detached_state", "exit_code"],
        )

    def _replication_scene(self, hold=None):
        """Production (its server not needed) and a pre-production derived
        from it, running, each with a partner and a file of its own; ``hold``
        as for _environment. Returns (production, pre-production, its
        environment's id)."""
        source = self._production("production", start=False)
        self._add(source, "Only in production", "only-in-production")
        target = self._production("preproduction")
        self._add(target, "Only in pre-production", "only-in-preproduction")
        self._start_manager()
        host_id = self._local_host("Replication host")
        production_id = self.call(
            "deployment.environment",
            "create",
            production_environment_vals(source, host_id, "Production"),
        )
        target_id = self._environment(
            target,
            host_id,
            "Pre-production",
            hold=hold,
            environment_type="preproduction",
            production_id=production_id,
            # Its cluster is production's: never restarted from here.
            pg_restart_command=False,
        )
        return source, target, target_id

    # -- restore -------------------------------------------------------------
    def test_restore_killed_once_odoo_is_stopped_is_run_again_to_its_end(self):
        """A restore whose manager is killed once Odoo is stopped, before the
        swap, is run again after restart, re-attached to its commands (Odoo
        stopped once): the environment is wholly the backed-up one, the
        replaced database and filestore are kept aside, Odoo runs healthy and
        the operation says where the previous database is."""
        prod = self._production("production")
        self._add(prod, "In the backup", "in-the-backup")
        self._start_manager()
        host_id = self._local_host("Production host")
        environment_id = self._environment(prod, host_id, "Production")
        action = self.call("deployment.environment", "action_backup", [environment_id])
        backup = self.wait_until_ended(
            action["res_id"], 300, "the backup never ended", "backup_id"
        )
        self.assertEqual(backup["state"], "done", backup["error_message"])
        new = self._contents(prod)
        self._add(prod, "After the backup", "after-the-backup")
        old = self._contents(prod)

        self.stop_gate.arm(self)
        wizard_id = self.call(
            "deployment.restore.wizard",
            "create",
            {"backup_id": backup["backup_id"][0], "confirmation": "Production"},
        )
        action = self.call("deployment.restore.wizard", "action_confirm", [wizard_id])
        operation_id = action["res_id"]
        state = self._held_at(self.stop_gate, operation_id, "stop")
        restored = f"{prod.db}_restore_{state['stamp']}"
        previous = f"{prod.db}_before_{state['stamp']}"
        self.assertFalse(prod.is_active(), "Odoo is stopped")
        self.assertEqual(self._contents(prod), old, "not swapped yet")
        self.assertEqual(sorted(databases_like(prod.db)), [prod.db, restored])
        self._restart_manager()
        self.wait_for(
            lambda: self._read(operation_id, "attempt")["attempt"] == 2,
            90,
            "the restore was never taken up again",
        )
        self.stop_gate.release()

        operation = self.wait_until_ended(
            operation_id,
            300,
            "the restore was never reconciled",
            "result_summary",
        )
        self.assertEqual(operation["state"], "done", operation["error_message"])
        self.assertEqual(operation["attempt"], 2)
        result = self._read(operation_id, "result_data")["result_data"]
        self.assertEqual(self._contents(prod), new, "wholly the backed-up one")
        self.assertEqual(self._contents(prod, previous), old, "the old one kept")
        self.assertEqual(sorted(databases_like(prod.db)), [prod.db, previous])
        self.assertEqual(
            sorted(os.listdir(os.path.dirname(prod.filestore))), [prod.db, previous]
        )
        self.assertEqual(result["previous_database"], previous)
        self.assertTrue(result["odoo_started"])
        [backup_name] = self.call(
            "deployment.backup", "read", [backup["backup_id"][0]], ["name"]
        )
        self.assertEqual(
            operation["result_summary"], f"Restored from {backup_name['name']}."
        )
        told = self.call(
            "mail.message",
            "search_count",
            [
                ("model", "=", "deployment.environment"),
                ("res_id", "=", environment_id),
                ("body", "ilike", f"previous database is kept as {previous}"),
            ],
        )
        self.assertEqual(told, 1, "the chatter says where the old database is")
        stops = self._stop_commands(operation_id)
        self.assertEqual(
            [(c["detached_state"], c["exit_code"]) for c in stops],
            [("done", 0)],
            "the stop was re-attached to, not run twice",
        )
        self.assert_serving(prod)

    # -- replication -----------------------------------------------------------
    def test_replication_killed_once_odoo_is_stopped_is_undone(self):
        """A replication whose manager is killed once the target's Odoo is
        stopped, before the swap, cannot re-attach to its stream: after
        restart it removes what it made and starts Odoo again. The target is
        wholly as it was, healthy, and the operation's message says so."""
        _source, target, target_id = self._replication_scene()
        old = self._contents(target)
        self.stop_gate.arm(self)
        action = self.call("deployment.environment", "action_replicate", [target_id])
        operation_id = action["res_id"]
        state = self._held_at(self.stop_gate, operation_id, "stop")
        replica = f"{target.db}_replica_{state['stamp']}"
        self.assertFalse(target.is_active(), "Odoo is stopped")
        self.assertEqual(sorted(databases_like(target.db)), [target.db, replica])
        self._restart_manager()
        self.stop_gate.release()

        operation = self.wait_until_ended(
            operation_id, 300, "the replication was never reconciled"
        )
        self.assertEqual(operation["state"], "failed")
        self.assertEqual(operation["attempt"], 2)
        self.assertIn(
            "The replication was interrupted before the swap (its worker stopped).",
            operation["error_message"],
        )
        self.assertIn(
            f"The target's previous database {target.db} is untouched and what "
            "the replication made was removed.",
            operation["error_message"],
        )
        self.assertEqual(self._contents(target), old, "wholly as it was")
        self.assertEqual(databases_like(target.db), [target.db])
        self.assertEqual(os.listdir(os.path.dirname(target.filestore)), [target.db])
        self.assert_serving(target)

    def test_replication_killed_while_odoo_stops_starts_it_once_stopped(self):
        """A replication whose manager is killed while the target's Odoo is
        still stopping is undone after restart once that stop has ended: Odoo
        is started after it, not before (a start while Odoo still runs does
        nothing, and the stop then leaves it stopped)."""
        _source, target, target_id = self._replication_scene(self.hold_then)
        old = self._contents(target)
        self.stop_gate.arm(self)
        action = self.call("deployment.environment", "action_replicate", [target_id])
        operation_id = action["res_id"]
        self._held_at(self.stop_gate, operation_id, "stop")
        self.assertTrue(target.is_active(), "its stop is under way")
        self._restart_manager()
        self.wait_for(
            lambda: self._read(operation_id, "attempt")["attempt"] == 2,
            120,
            "the replication was never taken up again",
        )
        # The stop goes on a little longer (an Odoo finishing its requests):
        # until the operation ended, or for 10 s if it waits for the stop.
        with contextlib.suppress(AssertionError):
            self.wait_until_ended(operation_id, 10, "waiting for the stop")
        self.stop_gate.release()
        self.wait_for(self.stop_gate.is_done, 60, "the stop never ended")

        operation = self.wait_until_ended(
            operation_id, 300, "the replication was never reconciled"
        )
        self.assertEqual(operation["state"], "failed")
        self.assertIn("interrupted before the swap", operation["error_message"])
        self.assertEqual(self._contents(target), old, "wholly as it was")
        self.assertEqual(databases_like(target.db), [target.db])
        self.assertEqual(
            [
                (c["detached_state"], c["exit_code"])
                for c in self._stop_commands(operation_id)
            ],
            [("done", 0)],
            "the stop under way was waited for",
        )
        self.assert_serving(target)

    def test_replication_killed_right_after_the_swap_is_finished(self):
        """A replication whose manager is killed right after the databases
        were swapped, the filestores not yet, is finished after restart: the
        new filestore moved in and Odoo started on production's neutralized
        copy, the previous database and filestore kept aside."""
        source, target, target_id = self._replication_scene()
        old = self._contents(target)
        self.swap_gate.arm(self)
        action = self.call("deployment.environment", "action_replicate", [target_id])
        operation_id = action["res_id"]
        state = self._held_at(self.swap_gate, operation_id, "swap")
        previous = f"{target.db}_before_{state['stamp']}"
        replica = f"{target.db}_replica_{state['stamp']}"
        fs_root = os.path.dirname(target.filestore)
        self.assertFalse(target.is_active(), "Odoo is stopped")
        self.assertEqual(sorted(databases_like(target.db)), [target.db, previous])
        self.assertEqual(sorted(os.listdir(fs_root)), [target.db, replica])
        self._restart_manager()
        self.swap_gate.release()

        operation = self.wait_until_ended(
            operation_id,
            300,
            "the replication was never reconciled",
            "result_summary",
        )
        self.assertEqual(operation["state"], "done", operation["error_message"])
        self.assertEqual(operation["attempt"], 2)
        result = self._read(operation_id, "result_data")["result_data"]
        self.assertEqual(self._contents(target), self._contents(source))
        self.assertEqual(self._contents(target, previous), old, "the old one kept")
        self.assertEqual(sorted(databases_like(target.db)), [target.db, previous])
        self.assertEqual(sorted(os.listdir(fs_root)), [target.db, previous])
        neutralized = target.rows(
            "SELECT value FROM ir_config_parameter "
            "WHERE key = 'database.is_neutralized'"
        )
        self.assertEqual(neutralized, [["true"]])
        self.assertEqual(result["previous_database"], previous)
        self.assertIn(f"into {target.db}", operation["result_summary"])
        [environment] = self.call(
            "deployment.environment", "read", [target_id], ["replication_state"]
        )
        self.assertEqual(environment["replication_state"], "neutralized")
        self.assert_serving(target)


@tagged("post_install", "-at_install")
class TestTakenUpCommands(DeploymentTestMixin, TransactionCase):
    """An operation taken up after its worker died finds each detached command
    as that worker left it: launched again only if it surely never started,
    reported lost if it started and vanished."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.env["ir.config_parameter"].sudo().set_param(
            "deployment_manager.heartbeat_grace_seconds", "0"
        )
        cls.workdir = tempfile.mkdtemp(prefix="dm_taken_up_")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, ignore_errors=True)
        cls.runs = os.path.join(cls.workdir, "status-runs")
        cls.host = cls.env["deployment.host"].create(
            {"name": "This server", "kind": "local", "work_dir": cls.workdir}
        )
        cls.environment = cls.env["deployment.environment"].create(
            {
                "name": "Pre-production",
                "environment_type": "preproduction",
                "host_id": cls.host.id,
                "odoo_status_command": (
                    f"sh -c 'echo run >> {cls.runs}; echo inactive; exit 3'"
                ),
                "pg_status_command": "sh -c 'echo active'",
            }
        )

    def setUp(self):
        super().setUp()
        if os.path.exists(self.runs):
            os.remove(self.runs)

    def _orphan(self, kind="service_status", environment=None, **command):
        """An operation as a worker killed mid-way leaves it: running, its
        heartbeat old, no lock held, its detached command recorded."""
        environment = environment or self.environment
        operation = (
            self.env["deployment.operation"]
            .sudo()
            .create(
                {
                    "kind": kind,
                    "host_id": environment.host_id.id,
                    "environment_id": environment.id,
                    "requested_by_id": self.manager.id,
                    "state": "running",
                    "worker": "gone-host:4242",
                    "started_at": fields.Datetime.now() - timedelta(minutes=5),
                    "heartbeat_at": fields.Datetime.now() - timedelta(minutes=4),
                }
            )
        )
        self.env["deployment.operation.command"].sudo().create(
            {
                "operation_id": operation.id,
                "host": "local",
                "command": "the command",
                "detached": True,
                "detached_key": "status-odoo",
                "detached_state": "running",
                "started_at": fields.Datetime.now() - timedelta(minutes=4),
                **command,
            }
        )
        return operation

    def _command(self, operation, key="status-odoo"):
        return operation.command_ids.filtered(lambda c: c.detached_key == key)

    def _runs(self):
        if not os.path.exists(self.runs):
            return 0
        with open(self.runs) as handle:
            return len(handle.readlines())

    def assert_launched_again(self, operation, old_run_dir, reason):
        self.env["deployment.operation"]._reconcile_orphans()
        self.assertEqual(operation.state, "done", operation.error_message)
        command = self._command(operation)
        self.assertEqual(len(command), 1, "the same command, launched again")
        self.assertNotEqual(command.run_dir, old_run_dir, "in a new run directory")
        self.assertEqual((command.detached_state, command.exit_code), ("done", 3))
        self.assertTrue(command.pgid)
        self.assertIn("Launched again on local", command.note)
        self.assertIn(reason, command.note)
        self.assertIn(
            command.note,
            operation.step_ids.mapped("message"),
            "the journal says why on the command's step",
        )
        self.assertEqual(self.environment.odoo_service_state, "inactive")
        self.assertEqual(self._runs(), 1)
        # The old launch is closed: nothing can start from it any more.
        with LocalTransport() as transport:
            self.assertEqual(poll_detached(transport, old_run_dir).state, "not_started")
        with open(os.path.join(old_run_dir, "pgid")) as handle:
            self.assertEqual(handle.read(), "abandoned\n")

    def test_command_whose_run_dir_was_never_made_is_launched_again(self):
        """The worker died between recording the command and making its run
        directory: the command is launched again, and the journal says why."""
        old_run_dir = os.path.join(self.workdir, "never-made")
        operation = self._orphan(run_dir=old_run_dir)
        self.assert_launched_again(operation, old_run_dir, "was never made")

    def test_command_whose_runner_never_began_is_launched_again(self):
        """The launch made the run directory and argv.json, then died before
        the runner recorded a process group: the command is launched again."""
        old_run_dir = os.path.join(self.workdir, "half-made")
        os.mkdir(old_run_dir, 0o700)
        with open(os.path.join(old_run_dir, "argv.json"), "w") as handle:
            handle.write("{}")
        operation = self._orphan(run_dir=old_run_dir)
        self.assert_launched_again(operation, old_run_dir, "holds no process group")

    def test_command_whose_run_dir_vanished_after_its_launch_is_lost(self):
        """A launch recorded as completed (its process group known) is never
        launched again, even when its run directory is gone: it is lost."""
        run_dir = os.path.join(self.workdir, "removed-behind-our-back")
        operation = self._orphan(run_dir=run_dir, pgid=4242)
        self.env["deployment.operation"]._reconcile_orphans()
        command = self._command(operation)
        self.assertEqual(command.detached_state, "lost")
        self.assertIn(
            "started on local (process group 4242) and was lost", command.note
        )
        self.assertEqual(self._runs(), 0, "not launched again")
        self.assertEqual(self.environment.odoo_service_state, "unknown")

    def test_backup_whose_dump_was_killed_fails_saying_it_started_and_was_lost(self):
        """The dump started (process group recorded) and was killed with its
        worker, leaving no exit code: the backup fails, saying the command
        started and was lost; it is not run again."""
        name = "dm_e2e_taken_up_backup"
        fixture = make_environment_copy(name)
        self.addCleanup(drop_databases, name)
        environment = self.env["deployment.environment"].create(
            {
                "name": "Production to back up",
                "environment_type": "production",
                "host_id": self.host.id,
                "odoo_command": fixture["odoo_command"],
                "odoo_config_path": fixture["config_path"],
                "db_name": name,
                "data_dir": fixture["data_dir"],
                "backup_dir": fixture["backup_dir"],
            }
        )
        run_dir = os.path.join(self.workdir, "killed-dump")
        with LocalTransport() as transport:
            handle = start_detached(transport, ["sleep", "60"], run_dir)
            os.killpg(handle.pgid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while poll_detached(transport, run_dir).state != "lost":
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.1)
        operation = self._orphan(
            kind="backup",
            environment=environment,
            detached_key="backup-database",
            run_dir=run_dir,
            pgid=handle.pgid,
        )
        self.env["deployment.operation"]._reconcile_orphans()
        self.assertEqual(operation.state, "failed")
        self.assertIn("The dump of the database", operation.error_message)
        self.assertIn("lost", operation.error_message)
        command = self._command(operation, "backup-database")
        self.assertEqual(command.detached_state, "lost")
        self.assertEqual(command.run_dir, run_dir, "not launched again")
        expected = f"started on local (process group {handle.pgid}) and was lost"
        self.assertIn(expected, command.note)
        [step] = operation.step_ids.filtered(lambda s: s.state == "failed")
        self.assertIn(expected, step.message)
