# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import os
import tempfile
import threading
from datetime import datetime

from odoo import SUPERUSER_ID, api
from odoo.tests import HttpCase, tagged

from .common import (
    development_environment_vals,
    ensure_fixture_environment,
    make_tested_development,
    production_environment_vals,
)


def _start_worker(case):
    """The cron worker, as a thread sharing the test's cursor; returns its stop."""
    stop = threading.Event()

    def worker():
        while not stop.wait(1.0):
            with case.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["deployment.operation"]._cron_run_operations()

    thread = threading.Thread(target=worker, name="deployment-test-worker", daemon=True)
    thread.start()

    def halt():
        stop.set()
        thread.join(60)

    return halt


@tagged("post_install", "-at_install")
class TestDiscoverTour(HttpCase):
    def test_create_host_and_environment_then_discover(self):
        """In the browser: register a host and an environment, run Discover, see the
        result.
        """
        fixture = ensure_fixture_environment()
        defaults = self.env["ir.default"]
        # What an administrator would type on the Odoo tab, set as defaults so
        # the tour stays short.
        for field, value in (
            ("odoo_command", fixture["odoo_command"]),
            ("odoo_config_path", fixture["config_path"]),
            ("backup_dir", fixture["backup_dir"]),
            ("odoo_status_command", "sh -c 'echo inactive; exit 3'"),
            ("pg_status_command", "pg_isready -q"),
        ):
            defaults.set("deployment.environment", field, value)

        stop = _start_worker(self)
        try:
            self.start_tour(
                "/odoo", "deployment_manager_discover_tour", login="admin", timeout=180
            )
        finally:
            stop()
        environment = self.env["deployment.environment"].search(
            [("name", "=", "Tour production")]
        )
        self.assertTrue(environment.odoo_version.startswith("18.0"))
        self.assertTrue(environment.module_ids)


@tagged("post_install", "-at_install")
class TestDeploymentTour(HttpCase):
    def _production(self):
        """A production served by its own Odoo, a git repository with tag v1
        of a sample module (the deployment form's default), its environment."""
        from ..ops.tests.production import (
            ensure_cluster,
            ensure_template,
            make_git_repo,
            make_production,
            remove_production,
            sample,
        )

        ensure_cluster()
        ensure_template()
        root = tempfile.mkdtemp(prefix="dm_deploy_tour_")
        prod = make_production(os.path.join(root, "production"))
        self.addCleanup(remove_production, prod)
        repo = make_git_repo(
            os.path.join(root, "repo"), [("v1", [sample("v1", "dm_sample_good")])]
        )
        host = self.env["deployment.host"].create(
            {"name": "This server", "kind": "local"}
        )
        environment = self.env["deployment.environment"].create(
            production_environment_vals(prod, host.id, "Tour production")
        )
        self.env["ir.default"].set("deployment.run.wizard", "git_url", repo)
        return prod, environment

    def _tour(self, environment, tour):
        stop = _start_worker(self)
        try:
            self.start_tour(
                f"/odoo/action-deployment_manager.action_deployment_environment/{environment.id}",
                tour,
                login="admin",
                timeout=300,
            )
        finally:
            stop()

    def test_run_a_deployment_and_watch_its_steps(self):
        """In the browser: deploy a module from a git tag into production and watch
        the run's steps complete."""
        prod, environment = self._production()
        self._tour(environment, "deployment_manager_deploy_tour")
        self.assertEqual(
            prod.module_state("dm_sample_good"), ("installed", "18.0.1.0.0")
        )

    def test_schedule_a_deployment_then_cancel_it(self):
        """In the browser: a deployment set for a later time waits in the
        queue (the runner, running all along, leaves it), shows when it may
        start, and is cancelled before it ever ran."""
        prod, environment = self._production()
        # The time typed is the user's: UTC here, as the test browser's.
        self.env.ref("base.user_admin").tz = "UTC"
        self._tour(environment, "deployment_manager_scheduled_deploy_tour")
        operation = self.env["deployment.operation"].search(
            [("environment_id", "=", environment.id)]
        )
        self.assertEqual(operation.kind, "deployment_run")
        self.assertEqual(operation.state, "cancelled")
        self.assertFalse(operation.started_at, "it never started")
        self.assertFalse(operation.step_ids)
        self.assertEqual(operation.scheduled_at, datetime(2099, 12, 31, 2, 0))
        self.assertIn(prod.module_state("dm_sample_good")[0], (None, "uninstalled"))


@tagged("post_install", "-at_install")
class TestModuleTestsTour(HttpCase):
    def test_run_module_tests_and_record_a_manual_test(self):
        """In the browser: run the new module's tests from the development
        environment, read each result, then record a test done by hand."""
        root = tempfile.mkdtemp(prefix="dm_module_tests_tour_")
        dev = make_tested_development(root, self.addCleanup)
        host = self.env["deployment.host"].create(
            {"name": "This server", "kind": "local"}
        )
        # A production elsewhere (never reached here): only its link matters.
        production_host = self.env["deployment.host"].create(
            {"name": "Production server", "kind": "ssh", "hostname": "127.0.0.99"}
        )
        production = self.env["deployment.environment"].create(
            {
                **production_environment_vals(
                    dev, production_host.id, "Tour production"
                ),
                "db_name": "dm_tour_production_elsewhere",
            }
        )
        environment = self.env["deployment.environment"].create(
            development_environment_vals(
                dev, host.id, "Tour development", production_id=production.id
            )
        )
        stop = _start_worker(self)
        try:
            self.start_tour(
                f"/odoo/action-deployment_manager.action_deployment_environment/{environment.id}",
                "deployment_manager_module_tests_tour",
                login="admin",
                timeout=300,
            )
        finally:
            stop()
        run = self.env["deployment.test.run"].search(
            [("environment_id", "=", environment.id)]
        )
        self.assertEqual((run.passed_count, run.failed_count), (1, 1))
        case = self.env["deployment.test.case"].search(
            [("name", "=", "Create a partner by hand")]
        )
        self.assertEqual(case.result, "passed")
        self.assertEqual(case.environment_id, environment)
        self.assertEqual(case.tester_id.login, "admin")
