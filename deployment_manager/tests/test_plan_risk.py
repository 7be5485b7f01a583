# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The risk of a plan (R1): the questionnaire and what the plan knows give a
level by documented rules; the level sets the approvals and how long before
the go-live users are told."""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, new_test_user, tagged

from .common import LOW_RISK, DeploymentTestMixin


@tagged("post_install", "-at_install")
class TestPlanRisk(DeploymentTestMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.managers = (
            cls.manager
            | new_test_user(
                cls.env,
                login="dm_risk_manager_2",
                groups="deployment_manager.group_deployment_manager",
            )
            | new_test_user(
                cls.env,
                login="dm_risk_manager_3",
                groups="deployment_manager.group_deployment_manager",
            )
        )
        host = cls.env["deployment.host"].create(
            {"name": "Nowhere", "kind": "ssh", "hostname": "127.0.0.97"}
        )
        cls.production = cls.env["deployment.environment"].create(
            {
                "name": "Production",
                "environment_type": "production",
                "host_id": host.id,
                "db_name": "risk_prod",
                # The soak's own gate is TestKeyUserAcceptance's; the risk
                # counts a plan's soak minimum (set where it is tested).
                "plan_soak_min_days": 0,
            }
        )
        for kind in ("development", "preproduction"):
            cls.env["deployment.environment"].create(
                {
                    "name": kind.capitalize(),
                    "environment_type": kind,
                    "host_id": host.id,
                    "production_id": cls.production.id,
                    "db_name": f"risk_{kind}",
                }
            )

    def make_plan(self, **values):
        plan = (
            self.env["deployment.plan"]
            .with_user(self.deployer)
            .create(
                {
                    "title": "Invoice stamps",
                    "production_id": self.production.id,
                    "module_ids": [(0, 0, {"name": "invoice_stamp"})],
                    "source_kind": "git",
                    "git_url": "git@git.example.com:acme/addons.git",
                    "git_ref": "release-1",
                    **values,
                }
            )
        )
        plan.action_start_development()
        self.waive(plan)
        plan.action_to_preproduction()
        self.waive(plan)
        return plan

    def waive(self, plan):
        plan.with_user(self.manager).action_waive(
            plan.current_item_ids.ids, "Checked by hand for this test"
        )

    def entered_preproduction(self, plan, days_ago):
        """As if the key users had been invited ``days_ago`` days ago."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE deployment_plan SET soak_started_at = %s WHERE id = %s",
            (fields.Datetime.now() - timedelta(days=days_ago), plan.id),
        )
        plan.invalidate_recordset()

    def test_unassessed_plan_is_not_approved(self):
        """Approval needs the questionnaire answered, unless the landscape
        does not ask for it."""
        plan = self.make_plan()
        self.assertFalse(plan.risk_assessed)
        with self.assertRaises(UserError) as raised:
            plan.with_user(self.manager).action_approve()
        self.assertIn("Assess the risk", str(raised.exception))
        self.assertEqual(plan.state, "preproduction")
        self.production.plan_risk_required = False
        plan.with_user(self.manager).action_approve()
        self.assertEqual(plan.state, "approved")

    def test_rules_give_the_level_and_its_reasons(self):
        """Each rule adds its points, said in the reasons; the level follows."""
        plan = self.make_plan(**LOW_RISK)
        plan.with_user(self.manager).soak_min_days = 7
        # Not checked (1) and less than a day in pre-production (2): medium.
        self.assertEqual((plan.risk_score, plan.risk_level), (3, "medium"))
        self.assertIn("+1 what the module changed was not checked", plan.risk_reasons)
        self.assertIn("+2 fewer than 7 days in pre-production", plan.risk_reasons)
        # A week of soak and the changes checked, nothing flagged: low.
        self.entered_preproduction(plan, 8)
        self.assertGreater(plan.soak_days_done, 7.9)
        compared = (
            self.env["deployment.operation"]
            .sudo()
            .with_context(deployment_plan_id=plan.id)
            ._enqueue(
                "module_changes",
                environment=self.production,
                params={"operation_id": 1},
            )
        )
        compared.write({"state": "running", "started_at": fields.Datetime.now()})
        compared.write(
            {
                "state": "done",
                "finished_at": fields.Datetime.now(),
                "result_data": {"columns": {}, "tables_dropped": []},
            }
        )
        plan.invalidate_recordset()
        self.assertEqual((plan.risk_score, plan.risk_level), (0, "low"))
        self.assertEqual(plan.approvals_needed, 1)
        self.assertEqual(plan.risk_lead_days, 1)
        # Every answer at its heaviest: critical.
        plan.write(
            {
                "risk_critical_processes": True,
                "risk_users_affected": "most",
                "risk_data_migration": True,
                "risk_rollback": "impossible",
            }
        )
        self.assertEqual((plan.risk_score, plan.risk_level), (11, "critical"))
        self.assertIn("+3 touches critical processes", plan.risk_reasons)
        self.assertIn("+2 users affected: Most users", plan.risk_reasons)
        self.assertIn("+2 migrates existing data", plan.risk_reasons)
        self.assertIn(
            "+4 rollback: Not possible once users have worked", plan.risk_reasons
        )
        self.assertEqual(plan.approvals_needed, 3)
        self.assertEqual(plan.risk_lead_days, 14)
        # Problems found in this iteration count, open ones more.
        plan.write({"risk_critical_processes": False, "risk_data_migration": False})
        self.assertEqual((plan.risk_score, plan.risk_level), (6, "high"))
        self.env["deployment.plan.problem"].create(
            {"plan_id": plan.id, "name": "Stamp hides the totals", "severity": "major"}
        )
        plan.invalidate_recordset()
        self.assertEqual(plan.risk_score, 9)
        self.assertIn("+1 1 problem(s) found in this iteration", plan.risk_reasons)
        self.assertIn("+2 1 problem(s) still open", plan.risk_reasons)

    def test_level_sets_the_approvals_needed(self):
        """A high risk needs two managers' approvals though the landscape
        asks for one."""
        plan = self.make_plan(risk_users_affected="most", risk_rollback="impossible")
        self.assertEqual(plan.risk_level, "high")  # 2 + 4 + 1 (not checked)
        self.assertEqual(plan.approvals_needed, 2)
        plan.with_user(self.managers[0]).action_approve("Fine for me.")
        self.assertEqual(plan.state, "preproduction")
        plan.with_user(self.managers[1]).action_approve()
        self.assertEqual(plan.state, "approved")

    def test_lead_time_of_the_level_before_the_go_live(self):
        """Scheduling sooner than the level's lead time is a conflict named
        on the plan; a manager may schedule anyway, saying why."""
        plan = self.make_plan(risk_users_affected="most", risk_rollback="impossible")
        plan.with_user(self.managers[0]).action_approve()
        plan.with_user(self.managers[1]).action_approve()
        self.waive(plan)
        self.assertEqual(plan.risk_lead_days, 7)
        plan.scheduled_at = fields.Datetime.now() + timedelta(days=3)
        self.assertIn(
            "A high risk asks to tell users 7 day(s) before the go-live",
            plan.schedule_conflicts,
        )
        with self.assertRaises(UserError) as raised:
            plan.action_schedule()
        self.assertIn("A high risk asks to tell users", str(raised.exception))
        # The landscape's own lead time for that level.
        self.production.plan_lead_days_high = 2
        plan.invalidate_recordset()
        self.assertFalse(plan.schedule_conflicts)
        self.production.plan_lead_days_high = 7
        plan.with_user(self.manager).action_schedule_override(
            "The customs deadline is on Friday."
        )
        self.assertEqual(plan.state, "scheduled")
        self.assertEqual(
            plan.schedule_override_reason, "The customs deadline is on Friday."
        )
        # Once scheduled, the lead time is no longer judged.
        plan.invalidate_recordset()
        self.assertFalse(plan.schedule_conflicts)
