# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Key users of a production landscape (S4) and the applications none covers."""

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import TransactionCase, tagged

from .common import DeploymentTestMixin


@tagged("post_install", "-at_install")
class TestKeyUsers(DeploymentTestMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        host = cls.env["deployment.host"].create(
            {"name": "Production server", "kind": "ssh", "hostname": "127.0.0.98"}
        )
        # What a discovery of production wrote (see TestDiscover for the real one).
        cls.production = cls.env["deployment.environment"].create(
            {
                "name": "Production",
                "environment_type": "production",
                "host_id": host.id,
                "db_name": "prod",
                "module_ids": [
                    (0, 0, {"name": name, "state": "installed", **vals})
                    for name, vals in (
                        ("base", {"title": "Base"}),
                        ("sale", {"title": "Sales", "application": True}),
                        ("sale_stock", {"title": "Sales and Warehouse Management"}),
                        ("stock", {"title": "Inventory", "application": True}),
                        ("account", {"title": "Invoicing", "application": True}),
                    )
                ],
            }
        )
        cls.development = cls.env["deployment.environment"].create(
            {
                "name": "Development",
                "environment_type": "development",
                "host_id": host.id,
                "production_id": cls.production.id,
                "db_name": "dev",
            }
        )

    def gaps(self):
        self.production.invalidate_recordset(["key_user_gap_ids"])
        return sorted(self.production.key_user_gap_ids.mapped("title"))

    def test_applications_without_key_user_are_gaps(self):
        """Every installed application nobody covers is a gap; modules that are
        not applications are not; a key user of a module no longer installed is
        shown as such."""
        self.assertEqual(self.gaps(), ["Inventory", "Invoicing", "Sales"])
        self.assertEqual(self.production.key_user_gap_count, 3)
        KeyUser = self.env["deployment.key.user"].with_user(self.manager)
        sales = KeyUser.create(
            {
                "production_id": self.production.id,
                "module": "sale",
                "user_id": self.user.id,
                "name": self.user.name,
            }
        )
        KeyUser.create(
            {
                "production_id": self.production.id,
                "module": "stock",
                "name": "Warehouse lead (no account here)",
                "email": "warehouse@example.com",
                "lang": "en_US",
            }
        )
        self.assertEqual(self.gaps(), ["Invoicing"])
        self.assertEqual((sales.module_title, sales.module_installed), ("Sales", True))
        # Sales is uninstalled from production: discovery says so.
        self.production.module_ids.filtered(lambda m: m.name == "sale").unlink()
        sales.invalidate_recordset(["module_installed", "module_title"])
        self.assertFalse(sales.module_installed)
        self.assertEqual(self.gaps(), ["Invoicing"])

    def test_a_key_user_is_reachable_and_belongs_to_production(self):
        """A key user without an account needs an email; key users are kept on
        production, not on a derived environment; only managers name them."""
        KeyUser = self.env["deployment.key.user"].with_user(self.manager)
        with self.assertRaises(ValidationError):
            KeyUser.create(
                {"production_id": self.production.id, "module": "sale", "name": "X"}
            )
        with self.assertRaises(ValidationError):
            KeyUser.create(
                {
                    "production_id": self.development.id,
                    "module": "sale",
                    "name": "Y",
                    "email": "y@example.com",
                }
            )
        with self.assertRaises(AccessError):
            self.env["deployment.key.user"].with_user(self.deployer).create(
                {
                    "production_id": self.production.id,
                    "module": "sale",
                    "name": "Z",
                    "email": "z@example.com",
                }
            )
