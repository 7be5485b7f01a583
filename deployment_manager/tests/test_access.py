# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import xmlrpc.client

from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import DeploymentTestMixin

SECRET_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key-but-a-secret\n"


@tagged("post_install", "-at_install")
class TestAccessOverRpc(DeploymentTestMixin, HttpCase):
    """Access checks as an integration (a CI pipeline) meets them: over XML-RPC."""

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
        cls.production = cls.env["deployment.environment"].create(
            {
                "name": "Production",
                "environment_type": "production",
                "host_id": cls.local.id,
                "db_name": "prod",
                "db_password": "secret-db-password",
            }
        )
        cls.development = cls.env["deployment.environment"].create(
            {
                "name": "Development",
                "environment_type": "development",
                "host_id": cls.local.id,
                "production_id": cls.production.id,
                "db_name": "dev",
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
                [self.local.id],
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
            ("create", [{"kind": "discover", "host_id": self.local.id}]),
        ):
            with self.subTest(method=method), self.assertRaises(xmlrpc.client.Fault):
                self.rpc("dm_manager", "deployment.operation", method, *args)
        self.assertEqual(
            self.env["deployment.operation"].browse(action["res_id"]).state, "queued"
        )

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
