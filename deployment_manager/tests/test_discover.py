# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import os
import shlex
import tempfile

from odoo.tests import TransactionCase, tagged

from .common import DeploymentTestMixin, ensure_fixture_environment


@tagged("post_install", "-at_install")
class TestDiscover(DeploymentTestMixin, TransactionCase):
    """Discover reads a real Odoo 18 environment, over SSH and on the local host."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.fixture = ensure_fixture_environment()
        cls.sshd = cls._start_sshd("127.0.0.3")
        cls.ssh_host = cls._create_ssh_host(cls.sshd)
        cls.local_host = cls.env["deployment.host"].create(
            {"name": "This server", "kind": "local"}
        )

    def _environment(self, host, **vals):
        return self.env["deployment.environment"].create(
            {
                "name": f"Production on {host.name}",
                "environment_type": "production",
                "host_id": host.id,
                "odoo_command": self.fixture["odoo_command"],
                "odoo_config_path": self.fixture["config_path"],
                "backup_dir": self.fixture["backup_dir"],
                # The fixture runs no service: a status command of our own says so.
                "odoo_status_command": "sh -c 'echo inactive; exit 3'",
                "pg_status_command": "pg_isready -q",
                "db_password": "fixture-db-secret",
                **vals,
            }
        )

    def _discover(self, environment):
        environment.with_user(self.manager).action_discover()
        self.run_queue()
        operation = self.last_operation(environment_id=environment.id)
        self.assertEqual(operation.state, "done", operation.error_message)
        return operation

    def _assert_snapshot(self, environment):
        self.assertTrue(
            environment.odoo_version.startswith("18.0"), environment.odoo_version
        )
        modules = dict(environment.module_ids.mapped(lambda m: (m.name, m.version)))
        self.assertIn("base", modules)
        self.assertTrue(modules["base"].startswith("18.0."), modules["base"])
        self.assertEqual(
            len(environment.module_ids),
            self._installed_module_count(),
            "every installed module of the database is listed",
        )
        # Each module's title and whether it is an application, as Odoo says.
        base = environment.module_ids.filtered(lambda m: m.name == "base")
        self.assertEqual((base.title, base.application), ("Base", False))
        self.assertEqual(
            sorted(environment.module_ids.filtered("application").mapped("name")),
            self._installed_applications(),
        )
        self.assertGreater(environment.database_size, 1_000_000)
        self.assertGreaterEqual(environment.filestore_size, 4096)
        self.assertGreater(environment.backup_free_space, 0)
        self.assertEqual(environment.odoo_service_state, "inactive")
        self.assertEqual(environment.pg_service_state, "active")
        self.assertEqual(
            environment.health_state, "error", "a stopped Odoo service is an error"
        )
        self.assertTrue(environment.discovered_at)
        # Filled from the configuration file, which was the only source.
        self.assertEqual(environment.db_name, self.fixture["db_name"])
        self.assertEqual(environment.data_dir, self.fixture["data_dir"])

    def _installed_applications(self):
        import psycopg2

        connection = psycopg2.connect(dbname=self.fixture["db_name"])
        try:
            with connection.cursor() as cr:
                cr.execute(
                    "SELECT name FROM ir_module_module WHERE state = 'installed' "
                    "AND application ORDER BY name"
                )
                return [row[0] for row in cr.fetchall()]
        finally:
            connection.close()

    def _installed_module_count(self):
        import psycopg2

        connection = psycopg2.connect(dbname=self.fixture["db_name"])
        try:
            with connection.cursor() as cr:
                cr.execute(
                    "SELECT count(*) FROM ir_module_module WHERE state = 'installed'"
                )
                return cr.fetchone()[0]
        finally:
            connection.close()

    def test_discover_over_ssh(self):
        """Over SSH, discover reports the Odoo version, the installed modules, sizes and
        services.
        """
        environment = self._environment(self.ssh_host)
        operation = self._discover(environment)
        self._assert_snapshot(environment)
        self.assertIn(self.sshd.address, operation.command_ids[0].host)
        self.assertIn("Odoo 18.0", operation.result_summary)
        done_subtype = self.env.ref("deployment_manager.mt_operation_done")
        self.assertIn(done_subtype, environment.message_ids.subtype_id)

    def test_discover_locally(self):
        """On the local host, discover reads the same environment the same way."""
        environment = self._environment(self.local_host)
        self._discover(environment)
        self._assert_snapshot(environment)

    def test_journal_never_holds_secrets(self):
        """The database password and the configuration file's content never reach the
        journal.
        """
        environment = self._environment(self.local_host)
        operation = self._discover(environment)
        journal = "\n".join(
            (c.command or "") + (c.stdout_excerpt or "") + (c.stderr_excerpt or "")
            for c in operation.command_ids
        )
        self.assertNotIn("fixture-db-secret", journal)
        self.assertNotIn("fixture-master-password", journal)
        self.assertNotIn("fixture-master-password", operation.result_summary or "")
        self.assertNotIn("admin_passwd", str(operation.result_data))
        cat = operation.command_ids.filtered(lambda c: c.command.startswith("cat "))
        self.assertIn("not kept", cat.stdout_excerpt)
        messages = "\n".join(environment.message_ids.mapped("body"))
        self.assertNotIn("fixture-db-secret", messages)

    def test_steps_and_commands_are_journaled(self):
        """Each step is timed and each command records its argv, host, exit code and
        output size.
        """
        environment = self._environment(self.ssh_host)
        operation = self._discover(environment)
        self.assertTrue(all(step.state == "done" for step in operation.step_ids))
        self.assertIn("Read the installed modules", operation.step_ids.mapped("name"))
        psql = operation.command_ids.filtered(lambda c: c.command.startswith("psql"))
        self.assertTrue(psql)
        self.assertTrue(all(c.has_exit_code and c.exit_code == 0 for c in psql))
        self.assertTrue(any(c.stdout_bytes > 100 for c in psql))
        status = operation.command_ids.filtered(
            lambda c: c.detached_key == "status-odoo"
        )
        self.assertEqual(status.exit_code, 3)
        self.assertEqual(status.detached_state, "done")

    def test_unreachable_database_fails_and_keeps_the_last_snapshot(self):
        """A database that cannot be read fails discovery with the reason (never a
        plain done with nothing read); the environment keeps what the last discovery
        found, and its health says so."""
        environment = self._environment(self.local_host)
        self._discover(environment)
        modules = len(environment.module_ids)
        self.assertGreater(modules, 0)
        environment.db_name = "dm_no_such_database"
        environment.with_user(self.manager).action_discover()
        self.run_queue()
        operation = self.last_operation(environment_id=environment.id)
        self.assertEqual(operation.state, "failed")
        self.assertIn("dm_no_such_database", operation.error_message)
        self.assertNotIn("fixture-db-secret", operation.error_message)
        self.assertEqual(len(environment.module_ids), modules)
        self.assertEqual(environment.health_state, "error")

    def test_connection_settings_come_from_the_configuration(self):
        """A production on its own PostgreSQL cluster (db_port in its odoo.conf):
        discovery reads its database there and keeps the configuration's port and
        database name for every later operation."""
        from ..ops.tests.production import (
            PORT,
            ensure_cluster,
            ensure_template,
            make_production,
            remove_production,
        )

        ensure_cluster()
        ensure_template()
        root = tempfile.mkdtemp(prefix="dm_discover_port_")
        prod = make_production(os.path.join(root, "production"), start=False)
        self.addCleanup(remove_production, prod)
        environment = self.env["deployment.environment"].create(
            {
                "name": "Production on its own cluster",
                "environment_type": "production",
                "host_id": self.local_host.id,
                "odoo_command": shlex.join(prod.spec.odoo_argv),
                "odoo_config_path": prod.spec.config_path,
                "odoo_status_command": "sh -c 'echo inactive; exit 3'",
            }
        )
        self.assertEqual(environment.db_port, 5432, "the form's default")
        operation = self._discover(environment)
        self.assertEqual(environment.db_port, PORT)
        self.assertEqual(environment.db_name, prod.db)
        self.assertIn("base", environment.module_ids.mapped("name"))
        self.assertGreater(environment.database_size, 0)
        self.assertIn("db_port", operation.result_data["connection_from_config"])
