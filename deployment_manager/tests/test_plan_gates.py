# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A deployment plan's gates, approvals, waivers and iterations, driven over
XML-RPC as a CI pipeline would (readme/USAGE.md), with each user's rights.

Nothing here runs on a server: automated items are waived or refused; the
end-to-end test of a plan on real servers is test_plan_e2e."""

import xmlrpc.client
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common import LOW_RISK
from .test_access import AccessRpcCase


@tagged("post_install", "-at_install")
class TestPlanGates(AccessRpcCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.second_manager = new_test_user(
            cls.env,
            login="dm_manager_2",
            groups="deployment_manager.group_deployment_manager",
            name="Second Manager Test",
        )
        cls.preproduction = cls._derived(
            "Pre-production", cls.isolated, environment_type="preproduction"
        )

    def setUp(self):
        super().setUp()
        self.plan_id = self.rpc(
            "dm_deployer",
            "deployment.plan",
            "create",
            {
                "title": "Invoice stamps",
                "production_id": self.production.id,
                "module_ids": [
                    (0, 0, {"name": "invoice_stamp"}),
                    (0, 0, {"name": "invoice_stamp_report"}),
                ],
                "source_kind": "git",
                "git_url": "git@git.example.com:acme/addons.git",
                "git_ref": "release-1",
                "justification": "Customs ask for a stamp on export invoices.",
                **LOW_RISK,
            },
        )
        self.plan = self.env["deployment.plan"].browse(self.plan_id)

    def call(self, login, method, *args, **kwargs):
        return self.rpc(
            login, "deployment.plan", method, [self.plan_id], *args, **kwargs
        )

    def refused(self, login, method, *args):
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            self.call(login, method, *args)
        return caught.exception.faultString

    def items(self, **domain):
        return self.plan.current_item_ids.filtered(
            lambda i: all(i[k] == v for k, v in domain.items())
        )

    def waive_all(self, reason="Checked by hand on the day"):
        self.call("dm_manager", "action_waive", self.plan.current_item_ids.ids, reason)

    def test_plan_defaults_from_its_landscape_and_starts_development(self):
        """A plan takes its landscape's environments; starting development
        opens iteration 1 with the development checklist (D4 once per module)."""
        self.assertEqual(self.plan.development_id, self.development)
        self.assertEqual(self.plan.preproduction_id, self.preproduction)
        self.assertEqual(self.plan.recovery_id, self.recovery)
        self.assertTrue(self.plan.name.startswith("PLAN/"))
        self.call("dm_deployer", "action_start_development")
        self.assertEqual((self.plan.state, self.plan.iteration), ("development", 1))
        codes = self.plan.current_item_ids.sorted("sequence").mapped("code")
        self.assertEqual(codes, ["D1", "D2", "D3", False, "D4", "D4", "D5"])
        tests = self.items(operation_kind="module_tests")
        self.assertEqual(
            sorted(tests.mapped("module")), ["invoice_stamp", "invoice_stamp_report"]
        )
        self.assertEqual(tests.environment_id, self.development)
        self.assertEqual(self.items(code="D1").environment_id, self.development)

    def test_users_cannot_move_a_plan(self):
        """A deployment user reads plans but moves none, over RPC as in the form."""
        message = self.refused("dm_deploy_user", "action_start_development")
        self.assertIn("Only deployers and deployment managers", message)
        self.assertEqual(self.plan.state, "draft")
        read = self.rpc(
            "dm_deploy_user", "deployment.plan", "read", [self.plan_id], ["title"]
        )
        self.assertEqual(read[0]["title"], "Invoice stamps")

    def test_states_are_not_written_around_the_gates(self):
        """Over RPC a deployer cannot write a plan's state or an item's state
        (the gates would be skipped); a comment on an item is theirs to write."""
        self.call("dm_deployer", "action_start_development")
        message = self.refused("dm_deployer", "write", {"state": "approved"})
        self.assertIn("change only through its buttons", message)
        with self.assertRaises(xmlrpc.client.Fault):
            self.rpc(
                "dm_deployer",
                "deployment.plan",
                "create",
                {
                    "title": "Sneaky",
                    "production_id": self.production.id,
                    "state": "done",
                },
            )
        item = self.items(code="D1")
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            self.rpc(
                "dm_deployer",
                "deployment.checklist.item",
                "write",
                item.ids,
                {"state": "done"},
            )
        self.assertIn("changes through its buttons", caught.exception.faultString)
        self.rpc(
            "dm_deployer",
            "deployment.checklist.item",
            "write",
            item.ids,
            {"comment": "Waiting for the network team"},
        )
        self.assertEqual(
            (self.plan.state, item.state, item.comment),
            ("development", "todo", "Waiting for the network team"),
        )

    def test_blocked_transition_names_each_blocking_item(self):
        """Development cannot be left while its mandatory steps are not done:
        the refusal names each; a waiver by a manager is recorded with its reason,
        and once nothing blocks, the plan moves on."""
        self.call("dm_deployer", "action_start_development")
        message = self.refused("dm_deployer", "action_to_preproduction")
        for step in (
            "D1 Replicate production into development",
            "D2 Apply production's configuration to development",
            "D3 Deploy every production module into development",
            "Deploy the new module into development",
            "D4 Run the new module's tests on real data: invoice_stamp",
            "D4 Run the new module's tests on real data: invoice_stamp_report",
            "D5 Document the tests that were run",
        ):
            self.assertIn(step, message)
        # D5 asks for written test documentation before it can be confirmed.
        documentation = self.items(code="D5")
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            self.rpc(
                "dm_deployer",
                "deployment.checklist.item",
                "action_confirm",
                documentation.ids,
            )
        self.assertIn(
            "Document the tests run for invoice_stamp", caught.exception.faultString
        )
        for module in ("invoice_stamp", "invoice_stamp_report"):
            self.env["deployment.test.case"].create(
                {
                    "name": f"Stamp printed ({module})",
                    "module": module,
                    "environment_id": self.development.id,
                    "steps": "Print an export invoice",
                    "expected": "The stamp is on it",
                    "result": "passed",
                }
            )
        self.rpc(
            "dm_deployer",
            "deployment.checklist.item",
            "action_confirm",
            documentation.ids,
            comment="Two cases written",
        )
        self.assertEqual(documentation.state, "done")
        self.assertEqual(documentation.done_by_id, self.deployer)
        self.assertEqual(documentation.comment, "Two cases written")

        # A deployer may not waive; a manager may, saying why.
        automated = self.items(mode="automated")
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            self.call("dm_deployer", "action_waive", automated.ids, "no time")
        self.assertIn("Only deployment managers waive", caught.exception.faultString)
        with self.assertRaises(xmlrpc.client.Fault):
            self.call("dm_manager", "action_waive", automated.ids, "  ")
        self.call("dm_manager", "action_waive", automated[:1].ids, "Replicated by hand")
        message = self.refused("dm_deployer", "action_to_preproduction")
        self.assertNotIn("D1 Replicate", message)
        self.assertIn("D2 Apply", message)
        waived = automated[:1]
        self.assertEqual(
            (waived.state, waived.waiver_reason, waived.waived_by_id),
            ("waived", "Replicated by hand", self.manager),
        )
        self.assertIn("Replicated by hand", self.plan.message_ids[0].body)

        self.call("dm_manager", "action_waive", automated[1:].ids, "Done outside")
        self.call("dm_deployer", "action_to_preproduction")
        self.assertEqual(self.plan.state, "preproduction")
        self.assertEqual(
            self.plan.current_item_ids.sorted("sequence").mapped("code"),
            ["S1", "S2", "S3", False, "S4", "S5", "S6"],
        )
        self.assertEqual(self.items(code="S1").environment_id, self.preproduction)

    def test_approval_policy_and_who_approves(self):
        """Leaving pre-production takes as many managers' approvals as the
        landscape asks; a deployer cannot approve, nobody approves twice, and
        who approved and when is kept."""
        self.production.plan_approvals_needed = 2
        self.call("dm_deployer", "action_start_development")
        self.waive_all()
        self.call("dm_deployer", "action_to_preproduction")
        message = self.refused("dm_manager", "action_approve")
        self.assertIn("S5 Check pre-production's log", message)
        self.waive_all()
        message = self.refused("dm_deployer", "action_approve")
        self.assertIn("Only deployment managers approve", message)
        self.call("dm_manager", "action_approve")
        self.assertEqual(self.plan.state, "preproduction")
        self.assertIn("already approved", self.refused("dm_manager", "action_approve"))
        self.call("dm_manager_2", "action_approve", note="Key users happy")
        self.assertEqual(self.plan.state, "approved")
        self.assertEqual(
            self.plan.approval_ids.mapped("user_id"), self.manager | self.second_manager
        )
        self.assertEqual(set(self.plan.approval_ids.mapped("iteration")), {1})
        self.assertEqual(self.plan.approval_ids[-1].note, "Key users happy")
        self.assertEqual(
            self.items(code="R1").mapped("name"),
            ["Plan the go-live by workload and need"],
        )

    def test_back_to_development_keeps_the_first_iteration(self):
        """S6: a plan sent back from approved starts iteration 2 with a fresh
        development checklist; iteration 1's items and the reason are kept."""
        self.call("dm_deployer", "action_start_development")
        self.waive_all()
        self.call("dm_deployer", "action_to_preproduction")
        self.waive_all()
        self.call("dm_manager", "action_approve")
        self.assertEqual(self.plan.state, "approved")
        message = self.refused("dm_deployer", "action_back_to_development", "  ")
        self.assertIn("Say why", message)
        self.call(
            "dm_deployer",
            "action_back_to_development",
            "Stamp missing on credit notes (key user report)",
        )
        self.assertEqual((self.plan.state, self.plan.iteration), ("development", 2))
        first = self.plan.iteration_ids.filtered(lambda i: i.number == 1)
        self.assertEqual(
            first.back_reason, "Stamp missing on credit notes (key user report)"
        )
        self.assertEqual(
            (first.back_from, first.back_by_id), ("approved", self.deployer)
        )
        self.assertTrue(first.ended_at)
        self.assertEqual(set(self.plan.current_item_ids.mapped("state")), {"todo"})
        self.assertEqual(set(self.plan.current_item_ids.mapped("iteration")), {2})
        history = self.plan.item_ids.filtered(lambda i: i.iteration == 1)
        self.assertEqual(
            set(history.mapped("phase")), {"development", "preproduction", "planning"}
        )
        self.assertEqual(set(history.mapped("state")) - {"todo"}, {"waived"})
        # An item of an earlier iteration is history: it cannot be changed.
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            self.rpc(
                "dm_manager",
                "deployment.checklist.item",
                "action_reopen",
                history.filtered(lambda i: i.state == "waived")[:1].ids,
            )
        self.assertIn("kept as history", caught.exception.faultString)
        # The approval of iteration 1 does not count for iteration 2.
        self.assertEqual(self.plan.approval_count, 0)

    def test_schedule_and_the_go_live_time(self):
        """Scheduling needs R1 and R2 and a future go-live; the deployment day
        refuses to start before it unless a manager overrides with a reason."""
        self.call("dm_deployer", "action_start_development")
        self.waive_all()
        self.call("dm_deployer", "action_to_preproduction")
        self.waive_all()
        self.call("dm_manager", "action_approve")
        message = self.refused("dm_deployer", "action_schedule")
        self.assertIn("R2 Announce the deployment to all users", message)
        self.assertIn("Set the go-live date and time", message)
        # A low risk (only what the module changed is not checked): told a
        # day ahead by default.
        self.assertEqual(self.plan.risk_lead_days, 1)
        go_live = fields.Datetime.now() + timedelta(days=4)
        self.plan.scheduled_at = go_live
        self.rpc(
            "dm_deployer",
            "deployment.checklist.item",
            "action_confirm",
            self.items(code="R1").ids,
        )
        self.rpc(
            "dm_deployer",
            "deployment.checklist.item",
            "action_confirm",
            self.items(code="R2").ids,
            comment="Mail sent to all users",
        )
        self.call("dm_deployer", "action_schedule")
        self.assertEqual(self.plan.state, "scheduled")
        self.assertEqual(
            self.plan.current_item_ids.sorted("sequence").mapped("code"),
            [False, "J2", "J1", "J3", "J4", "J5", False],
        )
        day = self.plan.activity_ids.filtered(
            lambda a: (
                a.activity_type_id
                == self.env.ref("deployment_manager.mail_act_deployment_day")
            )
        )
        self.assertEqual(day.date_deadline, go_live.date())

        wizard = (
            self.env["deployment.day.wizard"]
            .with_user(self.deployer)
            .create({"plan_id": self.plan_id})
        )
        self.assertIn("The go-live is scheduled for", wizard.blockers)
        with self.assertRaises(UserError) as caught:
            wizard.action_start()
        self.assertIn("cannot start the deployment day yet", str(caught.exception))
        wizard.reason = "Maintenance window moved up by the board"
        with self.assertRaises(AccessError) as caught:
            wizard.action_start()
        self.assertIn("Only deployment managers", str(caught.exception))
        self.assertEqual(self.plan.state, "scheduled")
        manager_wizard = (
            self.env["deployment.day.wizard"]
            .with_user(self.manager)
            .create(
                {
                    "plan_id": self.plan_id,
                    "reason": "Maintenance window moved up by the board",
                }
            )
        )
        manager_wizard.action_start()
        self.assertEqual(self.plan.state, "deploying")
        self.assertEqual(
            (self.plan.override_reason, self.plan.overridden_by_id),
            ("Maintenance window moved up by the board", self.manager),
        )
        self.assertFalse(day.exists(), "the deployment-day activity is closed")
        # The first step is a person's: users warned; the chain waits for it.
        self.assertEqual(manager_wizard.step_name, "Users warned and logged off")
        self.assertEqual(manager_wizard.step_mode, "manual")
        manager_wizard.action_confirm_step()
        self.env.invalidate_all()
        self.assertEqual(
            manager_wizard.step_name, "J2 Production's external resources are listed"
        )
        # Aborting asks why, and leaves the plan approved, to be rescheduled.
        with self.assertRaises(UserError):
            manager_wizard.action_abort()
        manager_wizard.reason = "Network maintenance ran late"
        manager_wizard.action_abort()
        self.assertEqual(
            (self.plan.state, self.plan.day_outcome, self.plan.day_reason),
            ("approved", "aborted", "Network maintenance ran late"),
        )
        self.assertFalse(
            self.plan.current_item_ids.filtered(lambda i: i.phase == "deployment_day")
        )
