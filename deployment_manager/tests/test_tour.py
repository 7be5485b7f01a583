# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import threading

from odoo import SUPERUSER_ID, api
from odoo.tests import HttpCase, tagged

from .common import ensure_fixture_environment


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

        # The cron worker, as a thread sharing the test's cursor.
        stop = threading.Event()

        def worker():
            while not stop.wait(1.0):
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    env["deployment.operation"]._cron_run_operations()

        thread = threading.Thread(
            target=worker, name="deployment-test-worker", daemon=True
        )
        thread.start()
        try:
            self.start_tour(
                "/odoo", "deployment_manager_discover_tour", login="admin", timeout=180
            )
        finally:
            stop.set()
            thread.join(30)
        environment = self.env["deployment.environment"].search(
            [("name", "=", "Tour production")]
        )
        self.assertTrue(environment.odoo_version.startswith("18.0"))
        self.assertTrue(environment.module_ids)
