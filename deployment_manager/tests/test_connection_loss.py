# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import subprocess
import threading

from odoo.tests import TransactionCase, tagged

from ..remote.tests.sshd_rig import _children
from .common import DeploymentTestMixin


@tagged("post_install", "-at_install")
class TestConnectionLoss(DeploymentTestMixin, TransactionCase):
    """The SSH link dropped for real (the sshd process serving it killed)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.sshd = cls._start_sshd("127.0.0.6")
        cls.host = cls._create_ssh_host(cls.sshd)
        cls.environment = cls.env["deployment.environment"].create(
            {
                "name": "Development",
                "environment_type": "development",
                "host_id": cls.host.id,
                "odoo_config_path": False,
                "odoo_status_command": "sh -c 'sleep 5; echo active'",
                "pg_status_command": False,
            }
        )

    def _drop_link_after(self, seconds):
        """Kill the sshd processes serving the open sessions after a while; return their
        pids.
        """
        dropped = []

        def drop():
            dropped.extend(_children(self.sshd.process.pid))
            self.sshd.kill_sessions()

        timer = threading.Timer(seconds, drop)
        timer.start()
        self.addCleanup(timer.cancel)
        return dropped

    def test_link_dropped_mid_command_fails_the_operation_cleanly(self):
        """A command cut by a dropped link fails its operation with the reason; nothing
        stays running.
        """
        # "odoo --version" that takes a while: the link drops while it runs.
        self.environment.odoo_command = "sh -c 'sleep 6; echo Odoo Server 18.0'"
        self.environment.with_user(self.user).action_discover()
        dropped = self._drop_link_after(2.5)
        self.run_queue()
        operation = self.last_operation(environment_id=self.environment.id)
        self.assertTrue(dropped)
        self.assertEqual(operation.state, "failed")
        self.assertEqual(operation.error_reason, "connection_lost")
        self.assertIn("lost", operation.error_message)
        failed_step = operation.step_ids.filtered(lambda s: s.state == "failed")
        self.assertEqual(failed_step.name, "Read the Odoo version")
        self.assertFalse(operation.step_ids.filtered(lambda s: s.state == "running"))
        self.assertEqual(self.environment.health_state, "error")
        leftovers = subprocess.run(
            ["pgrep", "-f", "sleep 6; echo Odoo Server"],
            capture_output=True,
            check=False,
        )
        self.assertEqual(leftovers.stdout, b"", "the cut command must not run on")

    def test_link_dropped_while_waiting_on_detached_command_reconnects(self):
        """Waiting on a detached command survives a dropped link: it reconnects and gets
        the result.
        """
        self.environment.with_user(self.user).action_service_status()
        dropped = self._drop_link_after(2.0)
        self.run_queue()
        operation = self.last_operation(environment_id=self.environment.id)
        self.assertEqual(operation.state, "done", operation.error_message)
        command = operation.command_ids.filtered(
            lambda c: c.detached_key == "status-odoo"
        )
        self.assertTrue(dropped, "a session was open and was killed while waiting")
        self.assertEqual(command.exit_code, 0)
        self.assertEqual(self.environment.odoo_service_state, "active")
