# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import json
import xmlrpc.client

from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from .common import DeploymentTestMixin

SECRET_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key-but-a-secret\n"


class AccessRpcCase(DeploymentTestMixin, HttpCase):
    """Hosts, environments and users of each level, reached over XML-RPC."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.host = cls.env["deployment.host"].create(
            {
                "name": "Remote",
                "kind": "ssh",
                "hostname": "127.0.0.2",
                "private_key": SECRET_KEY,
                "passphrase": "secret-passphrase",
            }
        )
        cls.local = cls.env["deployment.host"].create(
            {"name": "Local", "kind": "local"}
        )
        # Nothing listens on these: the tests only queue operations.
        cls.isolated = cls._ssh_host_record("Development server", "127.0.0.3")
        cls.recovery_host = cls._ssh_host_record("Recovery server", "127.0.0.4")
        cls.production = cls.env["deployment.environment"].create(
            {
                "name": "Production",
                "environment_type": "production",
                "host_id": cls.host.id,
                "db_name": "prod",
                "db_password": "secret-db-password",
                # Plans of these tests leave pre-production at once: the
                # key users' soak has its own tests (test_key_user_acceptance).
                "plan_soak_min_days": 0,
            }
        )
        cls.development = cls._derived("Development", cls.isolated)
        cls.shared_development = cls._derived("Development beside production", cls.host)
        cls.local_development = cls._derived("Development on the manager", cls.local)
        cls.recovery = cls._derived(
            "Recovery site", cls.recovery_host, environment_type="disaster_recovery"
        )
        cls.backups = {
            env: cls.env["deployment.backup"].create(
                {
                    "name": f"bundle-{env.id}",
                    "environment_id": env.id,
                    "bundle_dir": f"/var/backups/bundle-{env.id}",
                    "state": "verified",
                }
            )
            for env in (cls.development, cls.shared_development, cls.recovery)
        }

    @classmethod
    def _ssh_host_record(cls, name, address):
        return cls.env["deployment.host"].create(
            {"name": name, "kind": "ssh", "hostname": address}
        )

    @classmethod
    def _derived(cls, name, host, environment_type="development"):
        return cls.env["deployment.environment"].create(
            {
                "name": name,
                "environment_type": environment_type,
                "host_id": host.id,
                "production_id": cls.production.id,
                "db_name": name.lower().replace(" ", "_"),
                "addons_paths": "/opt/custom-addons",
            }
        )

    def rpc(self, login, model, method, *args, **kwargs):
        uid = self.xmlrpc_common.login(self.env.cr.dbname, login, login)
        self.assertTrue(uid, f"{login} could not log in")
        # A refused call is logged by odoo.http as a warning: expected here.
        with mute_logger("odoo.http"):
            return self.xmlrpc_object.execute_kw(
                self.env.cr.dbname, uid, login, model, method, list(args), kwargs
            )


@tagged("post_install", "-at_install")
class TestAccessOverRpc(AccessRpcCase):
    """Access checks as an integration (a CI pipeline) meets them: over XML-RPC."""

    def test_user_cannot_read_secrets(self):
        """A Deployment User reads hosts and environments but never a key, passphrase or
        password.
        """
        records = self.rpc(
            "dm_deploy_user",
            "deployment.host",
            "read",
            [self.host.id],
            ["name", "hostname"],
        )
        self.assertEqual(records[0]["hostname"], "127.0.0.2")
        for model, record, field in (
            ("deployment.host", self.host, "private_key"),
            ("deployment.host", self.host, "passphrase"),
            ("deployment.environment", self.production, "db_password"),
        ):
            with (
                self.subTest(field=field),
                self.assertRaises(xmlrpc.client.Fault) as caught,
            ):
                self.rpc("dm_deploy_user", model, "read", [record.id], [field])
            self.assertNotIn("secret", caught.exception.faultString)
        # Reading every field silently leaves the secrets out.
        everything = self.rpc(
            "dm_deploy_user", "deployment.host", "read", [self.host.id]
        )
        self.assertNotIn("private_key", everything[0])
        manager_view = self.rpc(
            "dm_manager", "deployment.host", "read", [self.host.id], ["private_key"]
        )
        self.assertEqual(manager_view[0]["private_key"], SECRET_KEY)

    def test_secrets_are_not_exportable(self):
        """Even a manager cannot export a secret field, and copies never carry it."""
        fields_info = self.rpc(
            "dm_manager",
            "deployment.host",
            "fields_get",
            ["private_key"],
            attributes=["exportable"],
        )
        self.assertFalse(fields_info["private_key"]["exportable"])
        copy_id = self.rpc("dm_manager", "deployment.host", "copy", [self.host.id])
        self.assertFalse(self.env["deployment.host"].browse(copy_id).private_key)

    def test_user_cannot_run_production_operations(self):
        """A Deployment User runs Discover on development but not on production."""
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            self.rpc(
                "dm_deploy_user",
                "deployment.environment",
                "action_discover",
                [self.production.id],
            )
        self.assertIn("Only deployment managers", caught.exception.faultString)
        action = self.rpc(
            "dm_deploy_user",
            "deployment.environment",
            "action_discover",
            [self.development.id],
        )
        operation = self.env["deployment.operation"].browse(action["res_id"])
        self.assertEqual(operation.state, "queued")
        self.assertEqual(operation.requested_by_id, self.user)
        self.assertEqual(operation.environment_id, self.development)
        with self.assertRaises(xmlrpc.client.Fault):
            self.rpc(
                "dm_deploy_user",
                "deployment.host",
                "action_test_connection",
                [self.isolated.id],
            )
        with self.assertRaises(xmlrpc.client.Fault):
            self.rpc(
                "dm_deploy_user",
                "deployment.environment",
                "write",
                [self.development.id],
                {"db_name": "other"},
            )

    def test_operations_are_immutable_over_rpc(self):
        """Nobody edits or deletes the journal through the API, not even a manager."""
        action = self.rpc(
            "dm_manager",
            "deployment.environment",
            "action_discover",
            [self.production.id],
        )
        for method, args in (
            ("write", [[action["res_id"]], {"state": "done"}]),
            ("unlink", [[action["res_id"]]]),
            ("create", [{"kind": "discover", "host_id": self.isolated.id}]),
        ):
            with self.subTest(method=method), self.assertRaises(xmlrpc.client.Fault):
                self.rpc("dm_manager", "deployment.operation", method, *args)
        self.assertEqual(
            self.env["deployment.operation"].browse(action["res_id"]).state, "queued"
        )

    def test_results_are_readable_over_xmlrpc(self):
        """A result holding nulls (XML-RPC cannot carry them) reads as JSON text."""
        operation = self.env["deployment.operation"].browse(
            self.rpc(
                "dm_manager",
                "deployment.environment",
                "action_discover",
                [self.production.id],
            )["res_id"]
        )
        data = {"odoo_version": "18.0", "postgres_version": None, "notes": []}
        operation.sudo().result_data = data
        [read] = self.rpc(
            "dm_deploy_user",
            "deployment.operation",
            "read",
            [operation.id],
            ["result_json"],
        )
        self.assertEqual(json.loads(read["result_json"]), data)

    def test_stranger_sees_nothing(self):
        """An employee outside the Deployment groups cannot list hosts, environments or
        operations.
        """
        for model in (
            "deployment.host",
            "deployment.environment",
            "deployment.operation",
        ):
            with self.subTest(model=model), self.assertRaises(xmlrpc.client.Fault):
                self.rpc("dm_stranger", model, "search_read", [], ["name"])
        with self.assertRaises(xmlrpc.client.Fault):
            self.rpc(
                "dm_stranger",
                "deployment.environment",
                "action_discover",
                [self.development.id],
            )


@tagged("post_install", "-at_install")
class TestDeployerBoundary(AccessRpcCase):
    """Running code a person supplies is a deliberate privilege: the Deployer level,
    on hosts that carry no production and are not the manager's own machine."""

    def deploy(
        self,
        login,
        environment,
        addons_path="/opt/custom-addons",
        url="https://git.example.com/acme/addons.git",
    ):
        """Deploy a module from git through the deployment form, as ``login``."""
        wizard_id = self.rpc(
            login,
            "deployment.run.wizard",
            "create",
            {
                "environment_id": environment.id,
                "source_kind": "git",
                "git_url": url,
                "git_ref": "v1.0",
                "addons_path": addons_path,
                "install_modules": "acme_module",
            },
        )
        return self.rpc(login, "deployment.run.wizard", "action_confirm", [wizard_id])

    def run_tests(self, login, environment):
        wizard_id = self.rpc(
            login,
            "deployment.test.wizard",
            "create",
            {"environment_id": environment.id, "module": "acme_module"},
        )
        return self.rpc(login, "deployment.test.wizard", "action_confirm", [wizard_id])

    def restore(self, login, environment):
        wizard_id = self.rpc(
            login,
            "deployment.restore.wizard",
            "create",
            {
                "backup_id": self.backups[environment].id,
                "confirmation": environment.name,
            },
        )
        return self.rpc(
            login, "deployment.restore.wizard", "action_confirm", [wizard_id]
        )

    def refusal(self, call, *args, **kwargs):
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            call(*args, **kwargs)
        return caught.exception.faultString

    def test_user_runs_no_code(self):
        """A Deployment User may neither deploy, nor run a module's tests, nor restore,
        even on an isolated development environment; nothing is queued."""
        for call in (self.deploy, self.run_tests, self.restore):
            with self.subTest(call=call.__name__):
                self.refusal(call, "dm_deploy_user", self.development)
        self.assertFalse(
            self.env["deployment.operation"].search(
                [("environment_id", "=", self.development.id)]
            )
        )

    def test_deployer_runs_code_on_an_isolated_development(self):
        """A Deployer deploys, runs tests and restores on a development environment
        whose host carries nothing of production's."""
        Operation = self.env["deployment.operation"]
        for call, kind in (
            (self.deploy, "deployment_run"),
            (self.run_tests, "module_tests"),
            (self.restore, "restore"),
        ):
            with self.subTest(kind=kind):
                action = call("dm_deployer", self.development)
                operation = Operation.browse(action["res_id"])
                self.assertEqual(operation.kind, kind)
                self.assertEqual(operation.state, "queued")
                self.assertEqual(operation.requested_by_id, self.deployer)
                # One at a time per environment: make room for the next one.
                operation.with_user(self.deployer).action_cancel()

    def test_deployer_refused_beside_production(self):
        """On a host that also carries production a Deployer is refused, told why."""
        for call in (self.deploy, self.run_tests, self.restore):
            with self.subTest(call=call.__name__):
                message = self.refusal(call, "dm_deployer", self.shared_development)
                self.assertIn("also carries a production", message)
        # The rule is the host's, not the operation's: a log check too.
        message = self.refusal(
            self.rpc,
            "dm_deploy_user",
            "deployment.environment",
            "action_discover",
            [self.shared_development.id],
        )
        self.assertIn("also carries a production", message)

    def test_deployer_refused_on_the_manager_machine(self):
        """On a local host (the manager's own machine) only managers run operations."""
        message = self.refusal(self.deploy, "dm_deployer", self.local_development)
        self.assertIn("manager's own machine", message)
        action = self.deploy("dm_manager", self.local_development)
        self.assertEqual(
            self.env["deployment.operation"].browse(action["res_id"]).kind,
            "deployment_run",
        )

    def test_recovery_site_is_production(self):
        """The recovery site holds production's data: a Deployer may not deploy, test or
        restore there, even on a host of its own."""
        for call in (self.deploy, self.restore):
            with self.subTest(call=call.__name__):
                message = self.refusal(call, "dm_deployer", self.recovery)
                self.assertIn("production's data", message)
        message = self.refusal(self.run_tests, "dm_manager", self.recovery)
        self.assertIn("Tests never run on production", message)

    def test_modules_go_only_into_an_addons_path_of_the_environment(self):
        """The receiving path must be one of the environment's own addons paths: any
        other is refused before anything is queued, and so is an environment with
        none."""
        message = self.refusal(
            self.deploy, "dm_deployer", self.development, "/etc/cron.d"
        )
        self.assertIn("is not one of the custom addons paths", message)
        token = "ghp_1234567890abcdefTOKEN"
        message = self.refusal(
            self.deploy,
            "dm_deployer",
            self.development,
            url=f"https://{token}@git.example.com/acme/addons.git",
        )
        self.assertIn("deploy key", message)
        self.assertNotIn(token, message)
        self.development.addons_paths = False
        message = self.refusal(self.deploy, "dm_deployer", self.development)
        self.assertIn("has no custom addons path", message)
        self.assertFalse(
            self.env["deployment.operation"].search(
                [("environment_id", "=", self.development.id)]
            )
        )


@tagged("post_install", "-at_install")
class TestTwoCompanies(AccessRpcCase):
    """What hangs off an operation, a backup, an environment or a test run is seen only
    from the companies of its parent."""

    def test_another_companys_records_are_out_of_sight(self):
        """A manager of company A lists none of company B's steps, commands (and their
        full-output attachments), backups and parts, findings, modules, test run
        lines or rollback points; B's manager sees them all."""
        other = self.env["res.company"].create({"name": "Company B"})
        new_test_user(
            self.env,
            login="dm_manager_b",
            groups="deployment_manager.group_deployment_manager",
            company_id=other.id,
            company_ids=[(6, 0, other.ids)],
        )
        host = self._ssh_host_record("B's server", "127.0.0.5")
        host.company_id = other
        environment = self.env["deployment.environment"].create(
            {
                "name": "B's production",
                "environment_type": "production",
                "host_id": host.id,
                "company_id": other.id,
                "db_name": "b_prod",
            }
        )
        operation = (
            self.env["deployment.operation"]
            .sudo()
            .create(
                {
                    "kind": "discover",
                    "host_id": host.id,
                    "environment_id": environment.id,
                    "company_id": other.id,
                    "state": "done",
                }
            )
        )
        step = self.env["deployment.operation.step"].create(
            {"operation_id": operation.id, "name": "Read the configuration"}
        )
        command = self.env["deployment.operation.command"].create(
            {"operation_id": operation.id, "step_id": step.id}
        )
        attachment = self.env["ir.attachment"].create(
            {
                "name": "output.log",
                "raw": b"db_name = b_prod",
                "res_model": "deployment.operation.command",
                "res_id": command.id,
            }
        )
        command.output_attachment_ids = [(4, attachment.id)]
        backup = self.env["deployment.backup"].create(
            {
                "name": "b-bundle",
                "environment_id": environment.id,
                "bundle_dir": "/var/backups/b-bundle",
            }
        )
        part = self.env["deployment.backup.part"].create(
            {"backup_id": backup.id, "name": "database.dump"}
        )
        finding = self.env["deployment.log.finding"].create(
            {"environment_id": environment.id, "signature": "b-signature"}
        )
        module = self.env["deployment.environment.module"].create(
            {"environment_id": environment.id, "name": "b_module"}
        )
        run = self.env["deployment.test.run"].create(
            {
                "environment_id": environment.id,
                "module": "b_module",
                "verdict": "passed",
            }
        )
        line = self.env["deployment.test.run.line"].create(
            {"run_id": run.id, "method": "test_b", "status": "passed"}
        )
        point = self.env["deployment.rollback.point"].create(
            {"name": "b_prod_rb_1", "environment_id": environment.id}
        )
        for record in (step, command, backup, part, finding, module, line, point):
            with self.subTest(model=record._name):
                domain = [("id", "=", record.id)]
                self.assertEqual(
                    self.rpc("dm_manager", record._name, "search", domain), []
                )
                self.assertEqual(
                    self.rpc("dm_manager_b", record._name, "search", domain), record.ids
                )
        with self.assertRaises(xmlrpc.client.Fault):
            self.rpc("dm_manager", "ir.attachment", "read", [attachment.id], ["raw"])
        self.assertEqual(
            self.rpc(
                "dm_manager_b", "ir.attachment", "read", [attachment.id], ["name"]
            )[0]["name"],
            "output.log",
        )
