# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from datetime import timedelta

import psycopg2

from odoo import fields
from odoo.tests import TransactionCase, tagged
from odoo.tools import config

from ..models.deployment_operation_runner import ADVISORY_NAMESPACE
from ..remote import LocalTransport, start_detached
from .common import DeploymentTestMixin


@tagged("post_install", "-at_install")
class TestReconcile(DeploymentTestMixin, TransactionCase):
    """Operations whose worker died are found and settled, never left running."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.env["ir.config_parameter"].sudo().set_param(
            "deployment_manager.heartbeat_grace_seconds", "0"
        )
        cls.host = cls.env["deployment.host"].create(
            {
                "name": "This server",
                "kind": "local",
                "work_dir": "/tmp/dm_reconcile_test",
            }
        )
        cls.environment = cls.env["deployment.environment"].create(
            {
                "name": "Pre-production",
                "environment_type": "preproduction",
                "host_id": cls.host.id,
                "odoo_status_command": "sh -c 'echo active'",
                "pg_status_command": "sh -c 'echo active'",
            }
        )

    def _orphan(self, **vals):
        """An operation as a worker killed mid-way leaves it."""
        return (
            self.env["deployment.operation"]
            .sudo()
            .create(
                {
                    "kind": "service_status",
                    "host_id": self.host.id,
                    "environment_id": self.environment.id,
                    "requested_by_id": self.user.id,
                    "state": "running",
                    "worker": "gone-host:4242",
                    "started_at": fields.Datetime.now() - timedelta(minutes=5),
                    "heartbeat_at": fields.Datetime.now() - timedelta(minutes=4),
                    **vals,
                }
            )
        )

    def test_orphan_without_detached_command_is_interrupted(self):
        """A running operation whose worker is gone is marked interrupted, with the
        worker and the reason.
        """
        operation = self._orphan()
        self.env["deployment.operation"]._reconcile_orphans()
        self.assertEqual(operation.state, "interrupted")
        self.assertIn("gone-host:4242", operation.error_message)
        self.assertTrue(operation.finished_at)
        self.assertIn("interrupted", self.environment.message_ids[0].body)

    def test_orphan_reattaches_to_its_detached_command(self):
        """The detached command a dead worker started is re-attached, and its real exit
        code recorded.
        """
        operation = self._orphan()
        run_dir = (
            f"{self.host.work_dir}/{self.env.cr.dbname}-op{operation.id}-status-odoo"
        )
        with LocalTransport() as transport:
            start_detached(
                transport, ["sh", "-c", "sleep 1; echo inactive; exit 5"], run_dir
            )
        self.env["deployment.operation.command"].sudo().create(
            {
                "operation_id": operation.id,
                "host": "local",
                "command": "sh -c 'sleep 1; echo inactive; exit 5'",
                "detached": True,
                "detached_key": "status-odoo",
                "run_dir": run_dir,
                "detached_state": "running",
                "started_at": fields.Datetime.now(),
            }
        )
        self.env["deployment.operation"]._reconcile_orphans()
        self.assertEqual(operation.state, "done", operation.error_message)
        self.assertEqual(operation.attempt, 1)
        reattached = operation.command_ids.filtered(
            lambda c: c.detached_key == "status-odoo"
        )
        self.assertEqual(
            len(reattached), 1, "the command is re-attached, not started again"
        )
        self.assertEqual(reattached.exit_code, 5)
        self.assertEqual(reattached.detached_state, "done")
        self.assertIn("inactive", reattached.stdout_excerpt)
        self.assertEqual(self.environment.odoo_service_state, "inactive")
        self.assertEqual(self.environment.pg_service_state, "active")

    def test_live_worker_is_left_alone(self):
        """An operation whose worker still holds its lock is not touched, however old
        its heartbeat.
        """
        operation = self._orphan()
        connection = psycopg2.connect(
            dbname=self.env.cr.dbname,
            **{
                k: config[o]
                for k, o in (
                    ("host", "db_host"),
                    ("port", "db_port"),
                    ("user", "db_user"),
                    ("password", "db_password"),
                )
                if config.get(o)
            },
        )
        try:
            with connection.cursor() as cr:
                cr.execute(
                    "SELECT pg_advisory_lock(%s, %s)",
                    (ADVISORY_NAMESPACE, operation.id),
                )
            self.env["deployment.operation"]._reconcile_orphans()
            self.assertEqual(operation.state, "running")
        finally:
            connection.close()
