# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What the module changed, on the plan (issue 11, S5): who may ask, what is
queued, the refusal without a rollback point, the summary and flags shown.

The comparison itself runs on real databases in
ops/tests/test_module_changes.py."""

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, tagged

from .. import operation_kinds
from ..ops.context import OperationFailed
from .common import DeploymentTestMixin


@tagged("post_install", "-at_install")
class TestModuleChanges(DeploymentTestMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        # Nothing listens there: the tests only queue operations.
        host, preproduction_host = (
            cls.env["deployment.host"].create(
                {"name": name, "kind": "ssh", "hostname": address}
            )
            for name, address in (
                ("Production server", "127.0.0.2"),
                ("Pre-production server", "127.0.0.3"),
            )
        )
        cls.production = cls.env["deployment.environment"].create(
            {
                "name": "Production",
                "environment_type": "production",
                "host_id": host.id,
                "db_name": "prod",
            }
        )
        cls.preproduction = cls.env["deployment.environment"].create(
            {
                "name": "Pre-production",
                "environment_type": "preproduction",
                "host_id": preproduction_host.id,
                "production_id": cls.production.id,
                "db_name": "preprod",
                "addons_paths": "/opt/custom-addons",
            }
        )
        cls.plan = cls.env["deployment.plan"].create(
            {
                "title": "Invoice stamps",
                "production_id": cls.production.id,
                "preproduction_id": cls.preproduction.id,
                "module_ids": [(0, 0, {"name": "invoice_stamp"})],
            }
        )

    def _deployment(self):
        operation = self.env["deployment.operation"].create(
            {
                "kind": "deployment_run",
                "environment_id": self.preproduction.id,
                "host_id": self.preproduction.host_id.id,
                "state": "done",
                "finished_at": fields.Datetime.now(),
            }
        )
        operation.plan_id = self.plan
        return operation

    def test_needs_a_deployment_and_a_deployer(self):
        with self.assertRaisesRegex(UserError, "not deployed on Pre-production"):
            self.plan.with_user(self.deployer).action_check_module_changes()
        self._deployment()
        with self.assertRaises(AccessError):
            self.plan.with_user(self.user).action_check_module_changes()

    def test_queued_on_preproduction_for_the_plan(self):
        deployment = self._deployment()
        action = self.plan.with_user(self.deployer).action_check_module_changes()
        check = self.env["deployment.operation"].browse(action["res_id"])
        self.assertEqual(check.kind, "module_changes")
        self.assertEqual(check.environment_id, self.preproduction)
        self.assertEqual(check.plan_id, self.plan)
        self.assertEqual(check.params, {"operation_id": deployment.id})
        kind = operation_kinds.get("module_changes")
        self.assertFalse(kind.changes_target)
        # No rollback point kept by that deployment: refused, clearly.
        with self.assertRaisesRegex(OperationFailed, "no rollback point kept"):
            kind.run(check, None)

    def test_latest_result_shown_on_the_plan(self):
        self.assertFalse(self.plan.module_change_summary)
        deployment = self._deployment()
        check = self.env["deployment.operation"].create(
            {
                "kind": "module_changes",
                "environment_id": self.preproduction.id,
                "host_id": self.preproduction.host_id.id,
                "params": {"operation_id": deployment.id},
                "state": "done",
                "finished_at": fields.Datetime.now(),
                "result_summary": "1 table(s) added.",
                "result_data": {
                    "tables_added": ["x_thing"],
                    "parameters": {
                        "added": [
                            {"key": "x.api_token", "secret": True},
                            {"key": "x.mode", "value": "<b>fast</b>"},
                        ]
                    },
                    "adds_scheduled_actions": True,
                    "adds_outgoing_mail": False,
                },
            }
        )
        check.plan_id = self.plan
        self.plan.invalidate_recordset()
        self.assertEqual(self.plan.module_change_summary, "1 table(s) added.")
        self.assertTrue(self.plan.module_adds_scheduled_actions)
        self.assertFalse(self.plan.module_adds_outgoing_mail)
        self.assertEqual(self.plan.module_change_operation_id, check)
        details = str(self.plan.module_change_details)
        self.assertIn("<li>x_thing</li>", details)
        self.assertIn("x.api_token (value not shown)", details)
        self.assertIn("x.mode = &lt;b&gt;fast&lt;/b&gt;", details)
