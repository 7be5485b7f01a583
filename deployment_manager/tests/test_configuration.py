# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import os

from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, tagged

from .common import DeploymentTestMixin, drop_databases, make_environment_copy, query

PARAMETER = (
    "INSERT INTO ir_config_parameter (key, value, create_date, write_date) "
    "VALUES ('mail.catchall.domain', %s, now(), now()) "
    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
)


@tagged("post_install", "-at_install")
class TestConfiguration(DeploymentTestMixin, TransactionCase):
    """D2 / S2: production's configuration applied, with drift reports around it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.sshd = cls._start_sshd("127.0.0.19")
        cls.host = cls._create_ssh_host(cls.sshd)
        cls.environments = {}
        for name, limit, domain in (
            ("dm_cfg_production", 300, "example.com"),
            ("dm_cfg_preproduction", 120, "staging.example.com"),
        ):
            fixture = make_environment_copy(name)
            cls.addClassCleanup(drop_databases, name)
            with open(fixture["config_path"], "a") as handle:
                handle.write(f"limit_time_real = {limit}\nhttp_port = {limit + 8000}\n")
            query(name, PARAMETER, (domain,))
            cls.environments[name] = fixture
        production = cls.environments["dm_cfg_production"]
        cls.production = cls._environment("Production", "production", production)
        cls.preproduction = cls._environment(
            "Pre-production",
            "preproduction",
            cls.environments["dm_cfg_preproduction"],
            production_id=cls.production.id,
        )

    @classmethod
    def _environment(cls, name, kind, fixture, **vals):
        return cls.env["deployment.environment"].create(
            {
                "name": name,
                "environment_type": kind,
                "host_id": cls.host.id,
                "odoo_config_path": fixture["config_path"],
                "db_name": fixture["db_name"],
                "data_dir": fixture["data_dir"],
                **vals,
            }
        )

    def _run(self, action):
        action()
        self.run_queue()
        operation = self.last_operation(environment_id=self.preproduction.id)
        self.assertEqual(operation.state, "done", operation.error_message)
        return operation

    def test_drift_is_reported_then_gone_once_applied(self):
        """The drift lists a changed option and parameter; applying production's
        configuration empties it and keeps the environment's own settings."""
        as_manager = self.preproduction.with_user(self.manager)
        self._run(as_manager.action_drift_report)
        self.assertEqual(self.preproduction.drift_count, 2)
        self.assertIn("limit_time_real", self.preproduction.drift_details)
        self.assertIn("mail.catchall.domain", self.preproduction.drift_details)
        self.assertNotIn("http_port", self.preproduction.drift_details, "its own")

        operation = self._run(as_manager.action_apply_configuration)
        self.assertEqual(self.preproduction.drift_count, 0)
        self.assertFalse(self.preproduction.drift_details)
        config_path = self.environments["dm_cfg_preproduction"]["config_path"]
        with open(config_path) as handle:
            config = handle.read()
        self.assertIn("limit_time_real = 300", config)
        self.assertIn("db_name = dm_cfg_preproduction", config)
        self.assertIn("http_port = 8120", config, "the environment's own port stays")
        self.assertTrue(os.path.exists(operation.result_data["config_backup"]))
        self.assertEqual(
            query(
                "dm_cfg_preproduction",
                "SELECT value FROM ir_config_parameter "
                "WHERE key = 'mail.catchall.domain'",
            ),
            [("example.com",)],
        )

    def test_refresh_is_for_managers_and_derived_environments(self):
        """Users may not read production through a refresh; production is no target."""
        with self.assertRaises(AccessError):
            self.preproduction.with_user(self.user).action_drift_report()
        with self.assertRaises(UserError):
            self.production.with_user(self.manager).action_apply_configuration()
        with self.assertRaises(UserError):
            self.production.with_user(self.manager).action_align_modules()
