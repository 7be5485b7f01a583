# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The demo, built from scratch by ``setup/demo`` as README says, checked.

It is built where it collides with nothing (a temporary directory, databases
and ports of its own) and served; then, over XML-RPC as ``admin``: the three
environments are healthy, a deployment of the sample module on Development
ends done, and so do the tests of ``dm_sample_tested`` there; then Ctrl-C
(SIGINT to the demo's process group, as a terminal sends it) must stop the
manager and the three environments' Odoo servers. Whatever happens, what it
started is stopped and its databases dropped.

Plain Python, no Odoo import: ``test_first_look.py`` runs it, and so can a
person::

    python3 deployment_manager/tests/demo_check.py [--no-deploy] [--keep]
"""

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import xmlrpc.client

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(REPO, "setup", "demo")
ENVIRONMENTS = ("production", "preproduction", "development")
BUILD_TIMEOUT = 900  # seconds: a fresh build takes one to three minutes
OPERATION_TIMEOUT = 300
STOP_TIMEOUT = 120


def _say(message):
    sys.stdout.write(f"{message}\n")
    sys.stdout.flush()


class DemoCheckFailed(AssertionError):
    """The demo did not end as README says; the message says where and why."""


def free_ports(count):
    """Ports nobody listens on now, all different."""
    sockets = []
    try:
        for _index in range(count):
            sock = socket.socket()
            sock.bind(("", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def listening(port):
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class DemoCheck:
    def __init__(self, deploy=True, keep=False, say=None):
        self.deploy = deploy
        self.keep = keep
        self.say = say or _say
        tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.prefix = f"dm_democheck_{tag}"
        self.database = f"{self.prefix}_manager"
        self.root = tempfile.mkdtemp(prefix="dm_democheck_")
        self.demo_dir = os.path.join(self.root, "demo")
        self.log_path = os.path.join(self.root, "demo.log")
        self.port, *self.env_ports = free_ports(4)
        self.process = None

    # ------------------------------------------------------------------
    def run(self):
        try:
            self._start()
            models, uid = self._wait_for_manager()
            self._check_healthy(models, uid)
            if self.deploy:
                self._deploy_on_development(models, uid)
                self._run_tests_on_development(models, uid)
            self._interrupt()
        finally:
            self._clean_up()

    def _environ(self):
        return dict(
            os.environ,
            DM_DEMO_DIR=self.demo_dir,
            DM_DEMO_DB=self.database,
            DM_DEMO_PORT=str(self.port),
            DM_DEMO_ENV_PORTS=" ".join(map(str, self.env_ports)),
            DM_DEMO_ENV_PREFIX=self.prefix,
        )

    def _start(self):
        self.say(f"demo check: setup/demo into {self.demo_dir}, manager on {self.port}")
        with open(self.log_path, "wb") as log:
            # Its own process group, as a terminal's foreground job.
            self.process = subprocess.Popen(
                [DEMO],
                cwd=REPO,
                env=self._environ(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _log_tail(self, lines=40):
        try:
            with open(self.log_path, errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return ""

    def _fail(self, message):
        raise DemoCheckFailed(f"{message}\n--- setup/demo said:\n{self._log_tail()}")

    def _wait_for_manager(self):
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + BUILD_TIMEOUT
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                self._fail(f"setup/demo ended (exit {code}) before serving")
            uid = False
            with contextlib.suppress(OSError, xmlrpc.client.Error):  # not yet up
                common = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/common")
                uid = common.authenticate(self.database, "admin", "admin", {})
            if uid:
                break
            if time.monotonic() > deadline:
                self._fail(f"the manager did not answer within {BUILD_TIMEOUT} s")
            time.sleep(2)
        models = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/object", allow_none=True)
        return models, uid

    def _call(self, models, uid, model, method, *args, **kwargs):
        return models.execute_kw(
            self.database, uid, "admin", model, method, list(args), kwargs
        )

    def _check_healthy(self, models, uid):
        found = self._call(
            models,
            uid,
            "deployment.environment",
            "search_read",
            [],
            fields=["name", "environment_type", "health_state", "discovery_notes"],
        )
        kinds = sorted(env["environment_type"] for env in found)
        if kinds != sorted(ENVIRONMENTS):
            self._fail(f"the manager holds {kinds}, not the three environments")
        unhealthy = [env for env in found if env["health_state"] != "ok"]
        if unhealthy:
            self._fail(
                "not healthy: "
                + "; ".join(
                    f"{env['name']} {env['health_state']} ({env['discovery_notes']})"
                    for env in unhealthy
                )
            )
        self.say("demo check: the three environments are healthy")

    def _deploy_on_development(self, models, uid):
        """What Deploy on Development does, with the form's defaults."""
        [development] = self._call(
            models,
            uid,
            "deployment.environment",
            "search",
            [("environment_type", "=", "development")],
        )
        context = {"default_environment_id": development}
        wizard = "deployment.run.wizard"
        values = self._call(
            models,
            uid,
            wizard,
            "default_get",
            [
                "environment_id",
                "source_kind",
                "git_url",
                "git_ref",
                "addons_path",
                "install_modules",
                "upgrade_modules",
                "take_backup",
                "check_log",
            ],
            context=context,
        )
        wizard_id = self._call(models, uid, wizard, "create", values, context=context)
        action = self._call(
            models, uid, wizard, "action_confirm", [wizard_id], context=context
        )
        summary = self._wait_done(models, uid, action["res_id"], "Deploy")
        self.say(f"demo check: Deploy on Development: {summary}")

    def _run_tests_on_development(self, models, uid):
        """Run tests on Development with the module README names."""
        [development] = self._call(
            models,
            uid,
            "deployment.environment",
            "search",
            [("environment_type", "=", "development")],
        )
        wizard = "deployment.test.wizard"
        wizard_id = self._call(
            models,
            uid,
            wizard,
            "create",
            {"environment_id": development, "module": "dm_sample_tested"},
        )
        action = self._call(models, uid, wizard, "action_confirm", [wizard_id])
        summary = self._wait_done(models, uid, action["res_id"], "Run tests")
        if "1 passed, 1 failed" not in summary:
            self._fail(f"Run tests on Development: {summary}")
        self.say(f"demo check: Run tests on Development: {summary}")

    def _wait_done(self, models, uid, operation_id, label):
        """The operation's summary once it is done; its error otherwise."""
        deadline = time.monotonic() + OPERATION_TIMEOUT
        while True:
            [operation] = self._call(
                models,
                uid,
                "deployment.operation",
                "read",
                [operation_id],
                ["state", "result_summary", "error_message"],
            )
            if operation["state"] not in ("queued", "running"):
                break
            if time.monotonic() > deadline:
                self._fail(f"{label} did not end within {OPERATION_TIMEOUT} s")
            time.sleep(2)
        if operation["state"] != "done":
            self._fail(f"{label} on Development: {operation['error_message']}")
        return operation["result_summary"] or ""

    def _interrupt(self):
        """Ctrl-C: everything the demo started stops."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._fail(f"setup/demo still runs {STOP_TIMEOUT} s after Ctrl-C")
        still = [port for port in (self.port, *self.env_ports) if listening(port)]
        if still:
            self._fail(f"after Ctrl-C, ports {still} still listen")
        self.say("demo check: Ctrl-C stopped the manager and the three environments")

    def _clean_up(self):
        # A check that failed half-way: the demo's group is ended first (its
        # own clean-up stops the environments), then whatever it left.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self.process or self.process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.process.pid, sig)
                self.process.wait(30)
        for env in ENVIRONMENTS:
            service = os.path.join(self.demo_dir, env, "odoo-service")
            if os.path.exists(service):
                subprocess.run(
                    [service, "stop"], capture_output=True, timeout=60, check=False
                )
        if self.keep:
            self.say(f"demo check: kept {self.root} and the {self.prefix}_* databases")
            return
        # The demo's four, and what operations made beside them (a
        # deployment's rollback point, a test run's copy).
        listed = subprocess.run(
            [
                "psql",
                "-d",
                "postgres",
                "-XtAc",
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s)"
                % f"'{self.prefix}_'",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        for name in listed.stdout.split():
            subprocess.run(
                ["dropdb", "--if-exists", "--force", name],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--no-deploy", action="store_true", help="skip the deployment and the tests"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the databases and the directory"
    )
    args = parser.parse_args(argv)
    try:
        DemoCheck(deploy=not args.no_deploy, keep=args.keep).run()
    except DemoCheckFailed as failure:
        sys.stderr.write(f"demo check FAILED: {failure}\n")
        return 1
    sys.stdout.write("demo check: passed\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
