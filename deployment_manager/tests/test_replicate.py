# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import hashlib
import os
from datetime import timedelta

from odoo import fields
from odoo.tests import TransactionCase, tagged

from .common import DeploymentTestMixin, drop_databases, make_environment_copy, query

MAIL_SERVER = (
    "INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_encryption, "
    "smtp_authentication, active, sequence) "
    "VALUES ('Company SMTP', 'smtp.example.com', 25, 'none', 'login', true, 10)"
)


def tree_digest(path):
    digests = {}
    for folder, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(folder, name)
            with open(full, "rb") as handle:
                digests[os.path.relpath(full, path)] = hashlib.sha256(
                    handle.read()
                ).hexdigest()
    return digests


@tagged("post_install", "-at_install")
class TestReplicate(DeploymentTestMixin, TransactionCase):
    """Production replicated into a derived environment (D1, S1, C2), two hosts."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.source = make_environment_copy("dm_repl_production")
        cls.addClassCleanup(drop_databases, "dm_repl_production")
        query("dm_repl_production", MAIL_SERVER)
        query(
            "dm_repl_production",
            "INSERT INTO res_partner (name, active) "
            "VALUES ('Only in production', true)",
        )
        cls.production_host = cls._create_ssh_host(
            cls._start_sshd("127.0.0.15"), "Prod"
        )
        cls.target_host = cls._create_ssh_host(cls._start_sshd("127.0.0.16"), "Preprod")
        cls.production = cls._environment(
            "Production", "production", cls.production_host, cls.source
        )

    @classmethod
    def _environment(cls, name, kind, host, fixture, **vals):
        return cls.env["deployment.environment"].create(
            {
                "name": name,
                "environment_type": kind,
                "host_id": host.id,
                "odoo_command": fixture["odoo_command"],
                "odoo_config_path": fixture["config_path"],
                "db_name": fixture["db_name"],
                "data_dir": fixture["data_dir"],
                "backup_dir": fixture["backup_dir"],
                "odoo_stop_command": "true",
                **vals,
            }
        )

    def _target(self, name, kind):
        fixture = make_environment_copy(name)
        self.addCleanup(drop_databases, name)
        marker = os.path.join(fixture["root"], "started")
        environment = self._environment(
            name,
            kind,
            self.target_host,
            fixture,
            production_id=self.production.id,
            # Starting this Odoo leaves a mark the test can see.
            odoo_start_command=f"touch {marker}",
        )
        return environment, fixture, marker

    def _replicate(self, environment):
        environment.with_user(self.manager).action_replicate()
        self.run_queue()
        operation = self.last_operation(environment_id=environment.id)
        self.assertEqual(operation.state, "done", operation.error_message)
        return operation

    def test_replica_has_production_data_and_is_neutralized(self):
        """Pre-production gets production's rows and files, neutralized before Odoo
        starts on it; its previous database is kept."""
        environment, fixture, marker = self._target(
            "dm_repl_preproduction", "preproduction"
        )
        operation = self._replicate(environment)
        db = "dm_repl_preproduction"
        self.assertEqual(
            query(
                db, "SELECT count(*) FROM res_partner WHERE name = 'Only in production'"
            ),
            [(1,)],
        )
        self.assertEqual(
            tree_digest(os.path.join(fixture["data_dir"], "filestore", db)),
            tree_digest(
                os.path.join(self.source["data_dir"], "filestore", "dm_repl_production")
            ),
        )
        # Odoo's neutralization leaves only its own dummy server active.
        self.assertEqual(
            query(db, "SELECT name, smtp_host FROM ir_mail_server WHERE active"),
            [("neutralization - disable emails", "invalid")],
        )
        neutralized = (
            "SELECT value FROM ir_config_parameter "
            "WHERE key = 'database.is_neutralized'"
        )
        self.assertEqual(query(db, neutralized), [("true",)])
        previous = operation.result_data["previous_database"]
        self.assertTrue(previous.startswith(f"{db}_before_"))
        self.assertEqual(
            query(
                previous,
                "SELECT count(*) FROM res_partner WHERE name = 'Only in production'",
            ),
            [(0,)],
        )
        self.assertTrue(os.path.exists(marker), "Odoo started once neutralized")
        self.assertEqual(environment.replication_state, "neutralized")
        self.assertTrue(operation.result_data["neutralization"]["ok"])

    def test_recovery_site_is_not_neutralized_and_stays_in_standby(self):
        """The recovery site is an exact replica: not neutralized, not started."""
        environment, _fixture, marker = self._target(
            "dm_repl_recovery", "disaster_recovery"
        )
        self._replicate(environment)
        db = "dm_repl_recovery"
        self.assertEqual(
            query(db, "SELECT count(*) FROM ir_mail_server WHERE active"), [(1,)]
        )
        self.assertFalse(os.path.exists(marker), "the recovery site stays in standby")
        self.assertEqual(environment.replication_state, "standby")

    def test_user_cannot_replicate(self):
        """Replication reads production: a Deployment User may not start it."""
        environment, _fixture, _marker = self._target("dm_repl_denied", "development")
        with self.assertRaises(Exception) as caught:
            environment.with_user(self.user).action_replicate()
        self.assertIn("Only deployment managers", str(caught.exception))

    def test_stale_recovery_point_notifies_once(self):
        """A recovery site whose last copy is older than its limit is told once, with
        its age; a fresh copy clears it."""
        environment, _fixture, _marker = self._target(
            "dm_repl_stale", "disaster_recovery"
        )
        environment.sudo().write(
            {
                "recovery_point_limit": 24,
                "last_replication_at": fields.Datetime.now() - timedelta(hours=30),
            }
        )
        self.assertAlmostEqual(environment.recovery_point_age, 30, delta=0.1)
        self.assertTrue(environment.recovery_point_stale)
        stale = self.env.ref("deployment_manager.mt_recovery_point_stale")
        Environment = self.env["deployment.environment"]
        Environment._cron_replication_schedule()
        Environment._cron_replication_schedule()
        told = environment.message_ids.filtered(lambda m: m.subtype_id == stale)
        self.assertEqual(len(told), 1)
        self.assertIn("30", told.body)
        environment.sudo().last_replication_at = fields.Datetime.now()
        self.assertFalse(environment.recovery_point_stale)

    def test_scheduled_replication_is_queued_when_due(self):
        """A scheduled replication is queued when due and set for its next time."""
        environment, _fixture, _marker = self._target(
            "dm_repl_scheduled", "development"
        )
        environment.write({"replication_scheduled": True, "replication_interval": 6})
        self.env["deployment.environment"]._cron_replication_schedule()
        operation = self.last_operation(environment_id=environment.id)
        self.assertEqual((operation.kind, operation.state), ("replicate", "queued"))
        self.assertGreater(environment.replication_next_at, fields.Datetime.now())
