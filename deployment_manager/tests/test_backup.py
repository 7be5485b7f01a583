# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import hashlib
import io
import json
import os
import subprocess
import tarfile
import time

from odoo.exceptions import UserError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged
from odoo.tools import mute_logger

from .common import DeploymentTestMixin, drop_databases, make_environment_copy, query

DB = "dm_backup_production"


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@tagged("post_install", "-at_install")
class TestBackupRestore(DeploymentTestMixin, TransactionCase):
    """Backup bundles (J1, J2) and restore, on a real Odoo database over SSH."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.fixture = make_environment_copy(DB)
        cls.addClassCleanup(drop_databases, DB)
        cls.sshd = cls._start_sshd("127.0.0.11")
        cls.host = cls._create_ssh_host(cls.sshd)
        cls.environment = cls.env["deployment.environment"].create(
            {
                "name": "Production",
                "environment_type": "production",
                "host_id": cls.host.id,
                "odoo_command": cls.fixture["odoo_command"],
                "odoo_config_path": cls.fixture["config_path"],
                "db_name": DB,
                "data_dir": cls.fixture["data_dir"],
                "backup_dir": cls.fixture["backup_dir"],
                # No server runs for this copy: stopping and starting it is a no-op.
                "odoo_stop_command": "true",
                "odoo_start_command": "true",
            }
        )

    def backup(self):
        self.environment.with_user(self.manager).action_backup()
        self.run_queue()
        operation = self.last_operation(environment_id=self.environment.id)
        self.assertEqual(operation.state, "done", operation.error_message)
        return operation.backup_id

    def test_bundle_holds_every_part_with_matching_checksums(self):
        """A backup is a verified bundle: database, filestore, config, matching sums."""
        backup = self.backup()
        self.assertEqual(backup.state, "verified", backup.verification_message)
        kinds = set(backup.part_ids.mapped("kind"))
        self.assertTrue({"database", "filestore", "config"} <= kinds, kinds)
        for part in backup.part_ids:
            path = os.path.join(backup.bundle_dir, part.file)
            self.assertEqual(sha256(path), part.sha256, part.name)
            self.assertEqual(os.path.getsize(path), part.size)
        self.assertEqual(backup.size, sum(backup.part_ids.mapped("size")))
        self.assertTrue(backup.odoo_version.startswith("18.0"))
        self.assertIn("full", backup.verification_message)

    def test_restore_gives_back_the_data_and_keeps_the_previous_database(self):
        """A restore brings back the rows and files; the replaced database is kept."""
        filestore = os.path.join(self.fixture["data_dir"], "filestore", DB, "0a")
        before = {
            name: sha256(os.path.join(filestore, name))
            for name in os.listdir(filestore)
        }
        backup = self.backup()
        query(
            DB,
            "INSERT INTO res_partner (name, active) "
            "VALUES ('Written after the backup', true)",
        )
        with open(os.path.join(filestore, "file0"), "wb") as handle:
            handle.write(b"changed after the backup")

        wizard = (
            self.env["deployment.restore.wizard"]
            .with_user(self.manager)
            .create({"backup_id": backup.id, "confirmation": "production"})
        )
        with self.assertRaises(UserError):
            wizard.action_confirm()  # production: its exact name must be typed
        wizard.confirmation = "Production"
        wizard.action_confirm()
        self.run_queue()
        operation = self.last_operation(environment_id=self.environment.id)
        self.assertEqual(
            (operation.kind, operation.state),
            ("restore", "done"),
            operation.error_message,
        )

        names = (
            "SELECT count(*) FROM res_partner WHERE name = 'Written after the backup'"
        )
        self.assertEqual(query(DB, names)[0][0], 0)
        previous = operation.result_data["previous_database"]
        self.assertEqual(
            query(previous, names)[0][0], 1, "the replaced database is kept"
        )
        after = {
            name: sha256(os.path.join(filestore, name))
            for name in os.listdir(filestore)
        }
        self.assertEqual(after, before)
        told = self.environment.message_ids.filtered(
            lambda m: "Restored from backup" in (m.body or "")
        )
        self.assertIn(previous, told.body, "the chatter says where the old database is")

    def test_retention_deletes_old_bundles_but_never_a_kept_one(self):
        """Beyond the newest N, old bundles are deleted; one marked Keep stays."""
        self.environment.write({"backup_keep_count": 1, "backup_keep_days": 0})
        first = self.backup()
        first.keep = True
        second = self.backup()
        third = self.backup()
        self.assertEqual(second.state, "deleted")
        self.assertFalse(os.path.exists(second.bundle_dir))
        self.assertEqual(first.state, "verified")
        self.assertTrue(os.path.exists(first.bundle_dir))
        self.assertEqual(third.state, "verified")

    def test_deployer_cannot_restore_production(self):
        """Restoring production is for deployment managers only, not deployers."""
        backup = self.backup()
        wizard = (
            self.env["deployment.restore.wizard"]
            .with_user(self.deployer)
            .create({"backup_id": backup.id, "confirmation": "Production"})
        )
        with self.assertRaises(Exception) as caught:
            wizard.action_confirm()
        self.assertIn("Only deployment managers", str(caught.exception))


@tagged("post_install", "-at_install")
class TestBackupDownload(DeploymentTestMixin, HttpCase):
    """Downloading a bundle through the manager."""

    def test_manager_downloads_the_bundle_as_a_tar(self):
        """A manager downloads the bundle, streamed from its host; a user may not."""
        self._setup_users()
        name = "dm_download_production"
        fixture = make_environment_copy(name)
        self.addCleanup(drop_databases, name)
        host = self.env["deployment.host"].create({"name": "Local", "kind": "local"})
        environment = self.env["deployment.environment"].create(
            {
                "name": "Development",
                "environment_type": "development",
                "host_id": host.id,
                "odoo_command": fixture["odoo_command"],
                "odoo_config_path": fixture["config_path"],
                "db_name": name,
                "data_dir": fixture["data_dir"],
                "backup_dir": fixture["backup_dir"],
            }
        )
        environment.with_user(self.manager).action_backup()
        self.run_queue()
        backup = environment.backup_ids
        self.assertEqual(backup.state, "verified", backup.verification_message)
        url = f"/deployment_manager/backup/{backup.id}/download"

        self.authenticate("dm_manager", "dm_manager")
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200)
        with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
            members = {member.name: member for member in archive.getmembers()}
            manifest = archive.extractfile(f"{backup.name}/manifest.json").read()
        self.assertIn(f"{backup.name}/database.dump", members)
        self.assertEqual(json.loads(manifest)["database"], name)

        self.authenticate("dm_deploy_user", "dm_deploy_user")
        with mute_logger("odoo.http"):
            self.assertEqual(self.url_open(url).status_code, 403)

        # A manager of another company only: the bundle is not theirs to see.
        other = self.env["res.company"].create({"name": "Other Company"})
        new_test_user(
            self.env,
            login="dm_other_manager",
            groups="deployment_manager.group_deployment_manager",
            company_id=other.id,
            company_ids=[(6, 0, other.ids)],
        )
        self.authenticate("dm_other_manager", "dm_other_manager")
        with mute_logger("odoo.http"):
            self.assertEqual(self.url_open(url).status_code, 404)

        # A download abandoned before its first byte leaves no tar behind.
        self.authenticate("dm_manager", "dm_manager")
        abandoned = self.opener.get(self.base_url() + url, stream=True, timeout=30)
        self.assertEqual(abandoned.status_code, 200)
        abandoned.close()
        for _attempt in range(50):
            tars = subprocess.run(
                ["pgrep", "-f", f"tar -C .* -cf - -- {backup.name}$"],
                capture_output=True,
                check=False,
            )
            if tars.returncode:
                break
            time.sleep(0.1)
        self.assertEqual(tars.returncode, 1, "a tar of the bundle still runs")
