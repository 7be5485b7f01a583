# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Deployment day through the models, on a real production Odoo server."""

import base64
import os
import tempfile

from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, tagged

from ..ops.tests.production import (
    databases_like,
    ensure_cluster,
    ensure_template,
    http_status,
    make_production,
    make_zip,
    remove_production,
    sample,
)
from .common import DeploymentTestMixin, production_environment_vals


@tagged("post_install", "-at_install")
class TestDeployment(DeploymentTestMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        ensure_cluster()
        ensure_template()
        cls.sshd = cls._start_sshd("127.0.0.12")
        cls.host = cls._create_ssh_host(cls.sshd)

    def setUp(self):
        super().setUp()
        self.root = tempfile.mkdtemp(prefix="dm_deploy_")
        self.prod = make_production(os.path.join(self.root, "production"))
        self.addCleanup(remove_production, self.prod)
        self.environment = self.env["deployment.environment"].create(
            production_environment_vals(self.prod, self.host.id, "Production")
        )

    def deploy(self, modules, install, backup=False, upgrade=""):
        archive = make_zip(os.path.join(self.root, "release.zip"), modules)
        with open(archive, "rb") as handle:
            data = base64.b64encode(handle.read())
        wizard = (
            self.env["deployment.run.wizard"]
            .with_user(self.manager)
            .create(
                {
                    "environment_id": self.environment.id,
                    "source_kind": "zip",
                    "zip_file": data,
                    "zip_filename": "release.zip",
                    "addons_path": self.prod.addons,
                    "install_modules": install,
                    "upgrade_modules": upgrade,
                    "take_backup": backup,
                }
            )
        )
        wizard.action_confirm()
        self.run_queue()
        return self.last_operation(environment_id=self.environment.id)

    def test_zip_deployment_installs_with_backup_and_measures_downtime(self):
        """A zip deployed from the form is installed after a verified backup;
        the server is healthy and the downtime is measured."""
        operation = self.deploy(
            [sample("v1", "dm_sample_good")], "dm_sample_good", True
        )
        self.assertEqual(operation.state, "done", operation.error_message)
        self.assertEqual(
            self.prod.module_state("dm_sample_good"), ("installed", "18.0.1.0.0")
        )
        self.assertIn("dm_sample_good 18.0.1.0.0", operation.result_summary)
        self.assertGreater(operation.downtime, 0)
        self.assertEqual(operation.backup_id.state, "verified")
        self.assertTrue(
            operation.backup_id.keep, "a deployment's backup is never expired"
        )
        self.assertTrue(operation.step_ids)
        self.assertFalse(operation.step_ids.filtered(lambda s: s.state != "done"))
        self.assertEqual(http_status(self.prod.health_url), 200)

    def test_rollback_points_kept_by_retention(self):
        """Each healthy deployment keeps its rollback point and drops older ones beyond
        the environment's setting; a failed deployment drops nothing."""
        db = self.prod.db
        first = self.deploy([sample("v1", "dm_sample_good")], "dm_sample_good")
        self.assertEqual(first.state, "done", first.error_message)
        first_point = self.environment.rollback_point_ids
        self.assertEqual(len(first_point), 1)
        self.assertTrue(first_point.name.startswith(f"{db}_rb_"))
        self.assertGreater(first_point.database_size, 0)
        self.assertGreater(first_point.filestore_size, 0)
        self.assertIn(first_point.name, databases_like(f"{db}_rb"))
        self.assertTrue(os.path.isdir(first_point.filestore))

        second = self.deploy(
            [sample("v1.1", "dm_sample_good")], "", upgrade="dm_sample_good"
        )
        self.assertEqual(second.state, "done", second.error_message)
        self.assertEqual(first_point.state, "dropped")
        self.assertNotIn(first_point.name, databases_like(f"{db}_rb"))
        self.assertFalse(os.path.exists(first_point.filestore))
        second_point = self.environment.rollback_point_ids
        self.assertEqual(len(second_point), 1)
        self.assertEqual(second_point.operation_id, second)

        failed = self.deploy([sample("broken", "dm_sample_broken")], "dm_sample_broken")
        self.assertEqual(failed.state, "failed")
        self.assertEqual(second_point.state, "kept")
        self.assertIn(second_point.name, databases_like(f"{db}_rb"))

        # A manager drops the last one by hand; a user may not.
        with self.assertRaises(UserError):
            second_point.with_user(self.user).action_drop()
        second_point.with_user(self.manager).action_drop()
        self.run_queue()
        self.assertEqual(second_point.state, "dropped")
        self.assertNotIn(second_point.name, databases_like(f"{db}_rb"))

    def test_failed_install_rolls_back_without_losing_data(self):
        """A module failing to install rolls production back: rows written
        before the stop stay, nothing is installed, the server is healthy, and
        the operation says so."""
        self.prod.rows(
            "INSERT INTO res_partner (name, complete_name, active, type) "
            "VALUES ('Written before the stop', 'Written before the stop', true, "
            "'contact') RETURNING id"
        )
        operation = self.deploy(
            [sample("v1", "dm_sample_good"), sample("broken", "dm_sample_broken")],
            "dm_sample_good,dm_sample_broken",
        )
        self.assertEqual(operation.state, "failed")
        self.assertIn("Rolled back", operation.error_message)
        self.assertIn("view_that_does_not_exist", operation.error_message)
        written = (
            "SELECT count(*) FROM res_partner WHERE name = 'Written before the stop'"
        )
        self.assertEqual(self.prod.rows(written), [["1"]])
        self.assertIn(
            self.prod.module_state("dm_sample_broken")[0], (None, "uninstalled")
        )
        self.assertFalse(
            os.path.exists(os.path.join(self.prod.addons, "dm_sample_broken"))
        )
        self.assertEqual(http_status(self.prod.health_url), 200)
        failed_steps = operation.step_ids.filtered(lambda s: s.state == "failed")
        self.assertTrue(failed_steps, "the failed step shows as failed")

    def test_manager_decides_the_rollback(self):
        """With the decision left to a manager, a failed install waits; Roll back then
        restores production and leaves it healthy."""
        self.environment.rollback_policy = "confirm"
        failed = self.deploy([sample("broken", "dm_sample_broken")], "dm_sample_broken")
        self.assertEqual(failed.state, "failed")
        self.assertEqual(failed.decision, "pending")
        with self.assertRaises(AccessError):
            failed.with_user(self.user).action_rollback()
        failed.with_user(self.manager).action_rollback()
        self.assertEqual(failed.decision, "rolled_back")
        self.run_queue()
        rollback = failed.follow_up_id
        self.assertEqual(
            (rollback.kind, rollback.state),
            ("rollback", "done"),
            rollback.error_message,
        )
        self.assertEqual(http_status(self.prod.health_url), 200)
        self.assertIn(
            self.prod.module_state("dm_sample_broken")[0], (None, "uninstalled")
        )
        # The point was swapped in: production is that database now, and
        # there is no rollback point left to list (or to drop later).
        self.assertIn("Rolled back", rollback.result_summary)
        self.assertFalse(self.environment.rollback_point_ids)
