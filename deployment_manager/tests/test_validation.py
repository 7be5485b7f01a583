# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo.exceptions import ValidationError
from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install")
class TestValidation(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.host = cls.env["deployment.host"].create({"name": "Local", "kind": "local"})
        cls.environment = cls.env["deployment.environment"].create(
            {
                "name": "Dev",
                "environment_type": "development",
                "host_id": cls.host.id,
                "db_name": "dev_db",
                "odoo_config_path": "/etc/odoo/odoo.conf",
            }
        )

    def test_hostile_values_never_saved(self):
        """Values with shell metacharacters, '..', spaces, newlines or option-looking
        names are refused.
        """
        hostile = {
            "db_name": [
                "x; rm -rf /",
                "$(reboot)",
                "-rf",
                "a b",
                "db\nname",
                "`id`",
                "",
            ],
            "odoo_config_path": [
                "/etc/../root/.ssh/id_rsa",
                "relative/odoo.conf",
                "/etc/odoo conf",
                "/etc/odoo/-rf",
                "/etc/odoo/$(id)",
                "/etc/odoo\n/x",
            ],
            "data_dir": ["/var/lib/odoo;id", "/var/lib/odoo/"],
            "db_user": ["odoo; drop", "-U"],
            "addons_paths": ["/opt/addons\n../etc"],
            "odoo_status_command": ["systemctl status\nrm -rf /"],
        }
        for field, values in hostile.items():
            for value in values:
                if field == "db_name" and value == "":
                    continue  # empty means "read it from the configuration file"
                with (
                    self.subTest(field=field, value=value),
                    self.assertRaises(ValidationError),
                    self.env.cr.savepoint(),
                ):
                    self.environment.write({field: value})
        self.assertEqual(self.environment.db_name, "dev_db")
        self.assertEqual(self.environment.odoo_config_path, "/etc/odoo/odoo.conf")

    def test_hostile_host_values_refused(self):
        """A host address or user that could be read as an option or a shell word is
        refused.
        """
        for vals in (
            {"hostname": "-oProxyCommand=id"},
            {"hostname": "host;id"},
            {"username": "root;id"},
            {"work_dir": "/tmp/../etc"},
            {"port": 70000},
        ):
            with (
                self.subTest(vals=vals),
                self.assertRaises(ValidationError),
                self.env.cr.savepoint(),
            ):
                self.env["deployment.host"].create(
                    {
                        "name": "x",
                        "kind": "ssh",
                        "hostname": "server.example.com",
                        **vals,
                    }
                )

    def test_valid_values_accepted_and_commands_split_into_argv(self):
        """Ordinary values pass and a command line becomes an argv list, never a shell
        string.
        """
        self.environment.write(
            {
                "db_name": "prod-2026.copy",
                "data_dir": "/var/lib/odoo",
                "addons_paths": "/opt/odoo/custom\n/opt/odoo/oca-web\n",
                "odoo_status_command": "systemctl is-active odoo@prod.service",
            }
        )
        spec = self.environment._spec()
        self.assertEqual(spec.addons_paths, ["/opt/odoo/custom", "/opt/odoo/oca-web"])
        self.assertEqual(
            spec.odoo_status_argv, ["systemctl", "is-active", "odoo@prod.service"]
        )
        self.assertEqual(
            spec.filestore_path(), "/var/lib/odoo/filestore/prod-2026.copy"
        )

    def test_landscape_groups_derived_environments(self):
        """Environments derived from a production belong to its landscape; production is
        not derived.
        """
        production = self.env["deployment.environment"].create(
            {"name": "Prod", "environment_type": "production", "host_id": self.host.id}
        )
        self.environment.production_id = production
        self.assertEqual(self.environment.landscape_id, production)
        self.assertEqual(production.landscape_id, production)
        with self.assertRaises(ValidationError):
            production.production_id = production


@tagged("post_install", "-at_install")
class TestServiceCommandsApart(TransactionCase):
    """A development environment never acts on production's services."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Host = cls.env["deployment.host"]
        cls.shared = Host.create({"name": "Shared", "kind": "ssh", "hostname": "h1"})
        cls.other = Host.create({"name": "Other", "kind": "ssh", "hostname": "h2"})
        cls.production = cls.env["deployment.environment"].create(
            {
                "name": "Production",
                "environment_type": "production",
                "host_id": cls.shared.id,
            }
        )

    def development(self, host, **vals):
        return self.env["deployment.environment"].create(
            {
                "name": "Development",
                "environment_type": "development",
                "host_id": host.id,
                "production_id": self.production.id,
                **vals,
            }
        )

    def test_only_production_gets_default_service_commands(self):
        """Production is given the usual systemctl commands; a development environment
        none, so that it stops nobody's Odoo by default."""
        self.assertEqual(self.production.odoo_stop_command, "systemctl stop odoo")
        self.assertEqual(
            self.production.pg_restart_command, "systemctl restart postgresql"
        )
        development = self.development(self.other)
        for field in (
            "odoo_stop_command",
            "odoo_start_command",
            "odoo_restart_command",
            "pg_stop_command",
            "pg_start_command",
            "pg_restart_command",
        ):
            self.assertFalse(development[field], field)

    def test_production_command_refused_on_the_same_host(self):
        """On production's host, a development command identical to one of
        production's (spacing aside) is refused, naming both; on another host it is
        the development server's own service."""
        with self.assertRaises(ValidationError) as caught:
            self.development(self.shared, odoo_stop_command="systemctl  stop odoo")
        self.assertIn("Production", str(caught.exception))
        with self.assertRaises(ValidationError):
            self.development(
                self.shared, pg_restart_command="systemctl restart postgresql"
            )
        development = self.development(
            self.shared, odoo_stop_command="systemctl stop odoo-dev"
        )
        # Production changed to the development's command: refused as well.
        with self.assertRaises(ValidationError):
            self.production.odoo_start_command = "systemctl stop odoo-dev"
        elsewhere = self.development(
            self.other, odoo_stop_command="systemctl stop odoo"
        )
        self.assertEqual(elsewhere.odoo_stop_command, "systemctl stop odoo")
        self.assertTrue(development)
