# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from datetime import timedelta

import psycopg2

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..ops.tests.pg import databases_like, drop_database
from .common import DeploymentTestMixin


@tagged("post_install", "-at_install")
class TestOperations(DeploymentTestMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.host = cls.env["deployment.host"].create(
            {"name": "This server", "kind": "local"}
        )
        cls.environment = cls.env["deployment.environment"].create(
            {
                "name": "Development",
                "environment_type": "development",
                "host_id": cls.host.id,
                "odoo_status_command": "sh -c 'echo active'",
                "pg_status_command": "sh -c 'echo inactive; exit 3'",
            }
        )

    def test_one_operation_at_a_time_per_environment(self):
        """A second request on a busy environment is refused, saying what is running."""
        env_as_user = self.environment.with_user(self.manager)
        env_as_user.action_service_status()
        first = self.last_operation(environment_id=self.environment.id)
        with self.assertRaises(UserError) as caught:
            env_as_user.action_discover()
        self.assertIn(first.name, str(caught.exception))
        self.assertIn("Service status", str(caught.exception))
        self.assertIn("Deployment Manager Test", str(caught.exception))
        self.run_queue()
        self.assertEqual(first.state, "done")
        env_as_user.action_discover()  # free again
        self.assertEqual(
            self.last_operation(environment_id=self.environment.id).kind, "discover"
        )

    def test_database_refuses_two_running_operations(self):
        """Even bypassing the runner's claim, the database keeps one running
        operation per environment; several may wait in its queue.
        """
        Operation = self.env["deployment.operation"].sudo()
        vals = {
            "kind": "service_status",
            "host_id": self.host.id,
            "environment_id": self.environment.id,
        }
        Operation.create([vals, vals])  # two queued: allowed
        Operation.create(dict(vals, state="running"))
        with (
            self.assertRaises(psycopg2.errors.UniqueViolation),
            self.env.cr.savepoint(),
            mute_logger("odoo.sql_db"),
        ):
            Operation.create(dict(vals, state="running"))
            self.env.flush_all()

    def test_service_status_runs_detached_and_records_states(self):
        """Service status runs the environment's commands detached and records each
        state and exit code.
        """
        self.environment.with_user(self.manager).action_service_status()
        self.run_queue()
        operation = self.last_operation(environment_id=self.environment.id)
        self.assertEqual(operation.state, "done", operation.error_message)
        self.assertEqual(self.environment.odoo_service_state, "active")
        self.assertEqual(self.environment.pg_service_state, "inactive")
        self.assertEqual(self.environment.health_state, "error")
        commands = operation.command_ids.filtered("detached")
        self.assertEqual(commands.mapped("exit_code"), [0, 3])
        cleanups = operation.command_ids - commands
        self.assertEqual(
            len(cleanups), 2, "each run directory is removed once collected"
        )
        self.assertTrue(all(c.command.startswith("rm -rf -- ") for c in cleanups))
        self.assertFalse(any(os.path.exists(c.run_dir) for c in commands))
        self.assertTrue(all(commands.mapped("detached")))
        self.assertTrue(
            all(c.run_dir.startswith("/var/lib/deployment_manager/") for c in commands)
        )
        self.assertEqual(operation.progress, 100)
        self.assertEqual(operation.step_ids.mapped("state"), ["done", "done"])

    def test_cancel_queued_operation(self):
        """A queued operation can be cancelled by who may run it; it never runs."""
        self.environment.with_user(self.manager).action_service_status()
        operation = self.last_operation(environment_id=self.environment.id)
        with self.assertRaises(AccessError):
            operation.with_user(self.stranger).action_cancel()
        operation.with_user(self.manager).action_cancel()
        self.assertEqual(operation.state, "cancelled")
        self.run_queue()
        self.assertFalse(operation.command_ids)

    def test_command_that_cannot_start_is_journaled(self):
        """A status command that cannot start is journaled with exit code 127 and its
        error message.
        """
        self.environment.write(
            {
                "odoo_status_command": "/nonexistent/statusctl",
                "pg_status_command": False,
            }
        )
        self.environment.with_user(self.manager).action_service_status()
        self.run_queue()
        operation = self.last_operation(environment_id=self.environment.id)
        self.assertEqual(operation.state, "done")
        status = operation.command_ids.filtered("detached")
        self.assertEqual(status.exit_code, 127)
        self.assertIn("statusctl", status.stderr_excerpt)
        self.assertIn("exit code 127", self.environment.odoo_service_state)

    def test_daily_cleanup_removes_old_leftovers_only(self):
        """The daily cleanup removes, on each host, what operations left there longer
        than the host's retention (install logs, modules set aside) and, on the
        manager, the zips uploaded for deployments that ended as long ago."""
        root = tempfile.mkdtemp(prefix="dm_leftovers_")
        self.addCleanup(shutil.rmtree, root, True)
        work = os.path.join(root, "work")
        addons = os.path.join(root, "addons")
        os.makedirs(work, mode=0o700)
        old_log = os.path.join(work, "install-dev-20261001.log")
        old_module = os.path.join(addons, ".previous", "sale_custom-20261001")
        new_log = os.path.join(work, "install-dev-20261129.log")
        for path, days in ((old_log, 30), (old_module, 30), (new_log, 1)):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as handle:
                handle.write("leftover")
            stamp = time.time() - days * 86400
            os.utime(path, (stamp, stamp))
        self.host.work_dir = work
        self.environment.addons_paths = addons
        # The copies a restore and a rollback set aside: the one older than
        # the environment's 30 days goes, the recent one stays.
        db = f"dm_copies_{secrets.token_hex(3)}"
        old_copy = (
            f"{db}_before_{fields.Datetime.now() - timedelta(days=40):%Y%m%d%H%M%S}"
        )
        new_copy = (
            f"{db}_failed_{fields.Datetime.now() - timedelta(days=2):%Y%m%d%H%M%S}"
        )
        for name in (old_copy, new_copy):
            subprocess.run(["createdb", "--", name], check=True, capture_output=True)
            self.addCleanup(drop_database, name)
        self.environment.db_name = db
        attachment = self.env["ir.attachment"].create(
            {"name": "release.zip", "raw": b"PK", "res_model": "deployment.environment"}
        )
        self.env["deployment.operation"].sudo().create(
            {
                "kind": "deployment_run",
                "host_id": self.host.id,
                "environment_id": self.environment.id,
                "state": "done",
                "finished_at": fields.Datetime.now() - timedelta(days=30),
                "params": {"source": {"kind": "zip", "attachment_id": attachment.id}},
            }
        )
        self.env["deployment.host"]._cron_remove_leftovers()
        self.run_queue()
        operation = self.last_operation(host_id=self.host.id, kind="remove_leftovers")
        self.assertEqual(operation.state, "done", operation.error_message)
        self.assertFalse(os.path.exists(old_log))
        self.assertFalse(os.path.exists(old_module))
        self.assertTrue(os.path.exists(new_log))
        self.assertFalse(attachment.exists())
        self.assertIn("2 leftover(s) older than 14 days", operation.result_summary)
        self.assertEqual(databases_like(db), [new_copy])
        self.assertEqual(operation.result_data["databases_dropped"], [old_copy])
        self.assertIn("1 old database copy(ies) dropped", operation.result_summary)

    def test_health_changes_only_on_health_evidence(self):
        """A failed drift report or a cancelled operation says nothing of the
        environment's health and leaves it as it was; a failed service status does
        change it."""
        self.environment.sudo().health_state = "ok"
        # No production to compare with: the drift report fails.
        self.environment.with_user(self.manager).action_drift_report()
        self.run_queue()
        drift = self.last_operation(environment_id=self.environment.id)
        self.assertEqual(drift.state, "failed")
        self.assertEqual(self.environment.health_state, "ok")

        self.environment.with_user(self.manager).action_service_status()
        queued = self.last_operation(environment_id=self.environment.id)
        queued.with_user(self.manager).action_cancel()
        self.assertEqual(queued.state, "cancelled")
        self.assertEqual(self.environment.health_state, "ok")

        self.environment.odoo_status_command = "sh -c 'exit 7'"
        self.environment.pg_status_command = False
        self.environment.with_user(self.manager).action_service_status()
        self.run_queue()
        self.assertNotEqual(self.environment.health_state, "ok")
