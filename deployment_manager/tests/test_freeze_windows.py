# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Freeze windows (R1): the recurrence arithmetic on its own, operations
refused or accepted inside a freeze, scheduling conflicts and a manager's
override, and the deployment day inside a freeze.

Nothing here runs on a server: queueing an operation is enough for it to be
refused or accepted (no cron worker takes it up)."""

import xmlrpc.client
from datetime import date, datetime, timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from ..models.deployment_freeze_window import freeze_occurrence, freeze_occurrences
from .common import LOW_RISK, SAME_DAY_ANNOUNCEMENTS
from .test_access import AccessRpcCase

D = datetime


@tagged("post_install", "-at_install")
class TestFreezeWindows(AccessRpcCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.production.addons_paths = "/opt/custom-addons"
        # Go-lives hours away: announced the same day (lead times: TestPlanRisk).
        cls.production.write(SAME_DAY_ANNOUNCEMENTS)
        cls.preproduction = cls._derived(
            "Pre-production", cls.isolated, environment_type="preproduction"
        )
        cls.Window = cls.env["deployment.freeze.window"]
        cls.Operation = cls.env["deployment.operation"]

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------
    def _freeze(self, start, end, name="Month-end closing", **values):
        return self.Window.with_user(self.manager).create(
            {
                "name": name,
                "reason": values.pop("reason", "Accounting closes the month"),
                "production_id": self.production.id,
                "start_at": start,
                "end_at": end,
                "tz": "UTC",
                **values,
            }
        )

    def _freeze_now(self, **values):
        now = fields.Datetime.now()
        return self._freeze(
            now - timedelta(hours=1), now + timedelta(hours=2), **values
        )

    def _deploy_params(self):
        return {
            "install": ["invoice_stamp"],
            "source": {
                "kind": "git",
                "url": "git@git.example.com:acme/addons.git",
                "ref": "release-1",
                "addons_path": "/opt/custom-addons",
            },
        }

    def _plan(self, title):
        return (
            self.env["deployment.plan"]
            .with_user(self.deployer)
            .create(
                {
                    "title": title,
                    "production_id": self.production.id,
                    "module_ids": [(0, 0, {"name": "invoice_stamp"})],
                    "source_kind": "git",
                    "git_url": "git@git.example.com:acme/addons.git",
                    "git_ref": "release-1",
                    "expected_downtime": 30,
                    **LOW_RISK,
                }
            )
        )

    def _approved(self, title, scheduled_at):
        """A plan driven to approved by managers' waivers, its R1/R2 waived."""
        plan = self._plan(title)
        as_manager = plan.with_user(self.manager)

        def waive():
            as_manager.action_waive(
                plan.current_item_ids.ids, "Checked by hand for this test"
            )

        plan.action_start_development()
        waive()
        plan.action_to_preproduction()
        waive()
        as_manager.action_approve()
        self.assertEqual(plan.state, "approved")
        waive()
        plan.scheduled_at = scheduled_at
        return plan

    def _rpc_refused(self, login, model, method, *args):
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            self.rpc(login, model, method, *args)
        return caught.exception.faultString

    # ------------------------------------------------------------------
    # The recurrence arithmetic, on its own
    # ------------------------------------------------------------------
    def test_recurrence_arithmetic(self):
        """Monthly across the month end, month lengths, the 31st, a window
        whose end would come before its start, weekly, yearly on February
        29th, half-open bounds, repeat-until and one-off windows."""
        # Month-end closing, from the 28th 18:00 to the 2nd 08:00.
        start, end = D(2026, 1, 28, 18), D(2026, 2, 2, 8)
        self.assertEqual(
            freeze_occurrence(start, end, "monthly", 1),
            (D(2026, 2, 28, 18), D(2026, 3, 2, 8)),
        )
        self.assertEqual(
            freeze_occurrences(start, end, "monthly", D(2026, 4, 1), D(2026, 5, 1)),
            [
                (D(2026, 3, 28, 18), D(2026, 4, 2, 8)),
                (D(2026, 4, 28, 18), D(2026, 5, 2, 8)),
            ],
        )
        # A year later, and from far away: the same days (no drift).
        self.assertEqual(
            freeze_occurrences(start, end, "monthly", D(2031, 12, 31), D(2032, 1, 1)),
            [(D(2031, 12, 28, 18), D(2032, 1, 2, 8))],
        )
        # Before the first occurrence: nothing.
        self.assertEqual(
            freeze_occurrences(start, end, "monthly", D(2025, 1, 1), D(2026, 1, 28)),
            [],
        )
        # On the 31st: the last day of shorter months, back to the 31st after.
        start, end = D(2026, 1, 31, 20), D(2026, 2, 1, 6)
        self.assertEqual(
            [
                freeze_occurrence(start, end, "monthly", index)
                for index in (1, 2, 3, 12)
            ],
            [
                (D(2026, 2, 28, 20), D(2026, 3, 1, 6)),
                (D(2026, 3, 31, 20), D(2026, 4, 1, 6)),
                (D(2026, 4, 30, 20), D(2026, 5, 1, 6)),
                (D(2027, 1, 31, 20), D(2027, 2, 1, 6)),
            ],
        )
        # The last hours of a long month: February's end would come before
        # its start, so it keeps the first occurrence's four hours.
        start, end = D(2026, 1, 30, 22), D(2026, 1, 31, 2)
        self.assertEqual(
            freeze_occurrence(start, end, "monthly", 1),
            (D(2026, 2, 28, 22), D(2026, 3, 1, 2)),
        )
        # Weekly: Friday 18:00 to Monday 06:00.
        start, end = D(2026, 3, 6, 18), D(2026, 3, 9, 6)
        self.assertEqual(
            freeze_occurrences(
                start, end, "weekly", D(2026, 3, 28, 12), D(2026, 3, 28, 13)
            ),
            [(D(2026, 3, 27, 18), D(2026, 3, 30, 6))],
        )
        self.assertEqual(
            freeze_occurrences(
                start, end, "weekly", D(2026, 3, 25, 12), D(2026, 3, 26, 13)
            ),
            [],
            "midweek is free",
        )
        # Yearly on February 29th: the 28th in common years, the 29th in leap ones.
        start, end = D(2024, 2, 29), D(2024, 3, 1)
        self.assertEqual(
            [freeze_occurrence(start, end, "yearly", index)[0] for index in (1, 4)],
            [D(2025, 2, 28), D(2028, 2, 29)],
        )
        self.assertEqual(
            freeze_occurrences(start, end, "yearly", D(2027, 1, 1), D(2027, 12, 31)),
            [(D(2027, 2, 28), D(2027, 3, 1))],
        )
        # Half-open: a window ending at 08:00 leaves 08:00 free.
        start, end = D(2026, 6, 1, 0), D(2026, 6, 1, 8)
        self.assertEqual(
            freeze_occurrences(start, end, "none", D(2026, 6, 1, 8), D(2026, 6, 1, 9)),
            [],
        )
        self.assertEqual(
            freeze_occurrences(start, end, "none", D(2026, 6, 1, 7), D(2026, 6, 1, 9)),
            [(start, end)],
        )
        self.assertEqual(
            freeze_occurrences(start, end, "none", D(2026, 7, 1), D(2026, 7, 2)),
            [],
            "a one-off window does not come back",
        )
        # Repeat until: the last occurrence starts on or before that day.
        self.assertEqual(
            len(
                freeze_occurrences(
                    start,
                    end,
                    "monthly",
                    D(2026, 1, 1),
                    D(2030, 1, 1),
                    repeat_until=date(2026, 12, 1),
                )
            ),
            7,
        )

    def test_windows_repeat_on_their_own_clock_and_in_the_calendar(self):
        """A weekly window at 08:00 in Paris is at 07:00 UTC in winter and
        06:00 UTC in summer; the calendar's occurrences are those the rules
        use; a window must end after it starts and last less than its period."""
        weekly = self._freeze(
            D(2026, 3, 2, 7),  # Monday 08:00 in Paris (winter time)
            D(2026, 3, 2, 11),
            name="Weekly payroll",
            recurrence="weekly",
            tz="Europe/Paris",
        )
        self.assertEqual(
            weekly._occurrences(D(2026, 4, 6), D(2026, 4, 7)),
            [(D(2026, 4, 6, 6), D(2026, 4, 6, 10))],
        )
        monthly = self._freeze(
            D(2026, 1, 28, 18), D(2026, 2, 2, 8), recurrence="monthly"
        )
        Occurrence = self.env["deployment.freeze.occurrence"]
        for window in (weekly, monthly):
            shown = Occurrence.search(
                [("window_id", "=", window.id), ("start_at", "<", D(2027, 1, 1))],
                order="start_at",
            )
            expected = window._occurrences(D(2026, 1, 1), D(2027, 1, 1))
            self.assertEqual(
                [(o.start_at, o.end_at) for o in shown], expected, window.name
            )
        # Users read the calendar.
        self.assertTrue(Occurrence.with_user(self.user).search_count([]))
        # Only managers create windows.
        with self.assertRaises(AccessError):
            self.Window.with_user(self.deployer).create(
                {
                    "name": "Inventory",
                    "production_id": self.production.id,
                    "start_at": D(2026, 6, 30),
                    "end_at": D(2026, 7, 1),
                }
            )
        with self.assertRaises(ValidationError):
            self._freeze(D(2026, 6, 2), D(2026, 6, 1))
        with self.assertRaises(ValidationError):
            self._freeze(D(2026, 6, 1), D(2026, 6, 9), recurrence="weekly")
        with self.assertRaises(ValidationError):
            self.Window.create(
                {
                    "name": "On development",
                    "production_id": self.development.id,
                    "start_at": D(2026, 6, 1),
                    "end_at": D(2026, 6, 2),
                }
            )
        self.assertEqual(self.production.freeze_window_count, 2)

    # ------------------------------------------------------------------
    # Operations inside a freeze
    # ------------------------------------------------------------------
    def test_operations_that_change_production_are_refused_in_a_freeze(self):
        """A deployment on production is refused inside a freeze, naming the
        window and its end; backups and log checks are queued; the same
        deployment on development and a replication of the recovery site
        are accepted; cancelling is never refused; queued ahead, the time it
        is scheduled for is what counts."""
        self._freeze_now(name="Month-end closing")
        Operation = self.Operation.with_user(self.manager)
        with self.assertRaises(UserError) as caught:
            Operation._enqueue(
                "deployment_run",
                environment=self.production,
                params=self._deploy_params(),
            )
        message = str(caught.exception)
        self.assertIn('freeze window "Month-end closing"', message)
        self.assertIn("Accounting closes the month", message)
        self.assertIn("until", message)
        self.assertIn("Deploy", message)
        self.assertFalse(
            self.Operation.search(
                [("environment_id", "=", self.production.id), ("kind", "!=", "backup")]
            )
        )
        for kind in ("backup", "log_check"):
            operation = Operation._enqueue(kind, environment=self.production)
            self.assertEqual(operation.state, "queued")
            operation.action_cancel()
            self.assertEqual(operation.state, "cancelled")
        # Over XML-RPC as a CI pipeline meets it: the same refusal.
        message = self._rpc_refused(
            "dm_manager",
            "deployment.environment",
            "queue_operation",
            [self.production.id],
            "deployment_run",
            self._deploy_params(),
        )
        self.assertIn("Month-end closing", message)
        # Development and the recovery site are not frozen.
        deployed = self.Operation.with_user(self.deployer)._enqueue(
            "deployment_run",
            environment=self.development,
            params=self._deploy_params(),
        )
        self.assertEqual(deployed.state, "queued")
        replicated = Operation._enqueue("replicate", environment=self.recovery)
        self.assertEqual(replicated.state, "queued")
        # Queued ahead: refused when it would run inside the freeze, accepted
        # for after it; a queued operation is cancelled inside a freeze.
        with self.assertRaises(UserError):
            Operation._enqueue(
                "deployment_run",
                environment=self.production,
                params=self._deploy_params(),
                scheduled_at=fields.Datetime.now() + timedelta(hours=1),
            )
        later = Operation._enqueue(
            "deployment_run",
            environment=self.production,
            params=self._deploy_params(),
            scheduled_at=fields.Datetime.now() + timedelta(hours=3),
        )
        self.assertEqual(later.state, "queued")
        self._freeze(
            later.scheduled_at - timedelta(minutes=5),
            later.scheduled_at + timedelta(hours=1),
            name="Inventory",
        )
        later.action_cancel()
        self.assertEqual(later.state, "cancelled")
        with self.assertRaises(UserError) as caught:
            Operation._enqueue(
                "deployment_run",
                environment=self.production,
                params=self._deploy_params(),
                scheduled_at=fields.Datetime.now() + timedelta(hours=3),
            )
        self.assertIn('"Inventory"', str(caught.exception))

    def test_a_freeze_set_after_queueing_stops_the_operation_at_its_start(self):
        """An operation queued before a freeze was set (or began) does not
        start inside it: it ends cancelled, saying why; nothing ran."""
        operation = self.Operation.with_user(self.manager)._enqueue(
            "deployment_run",
            environment=self.production,
            params=self._deploy_params(),
        )
        self._freeze_now(name="Inventory")
        # As the runner does: as the system.
        operation.sudo()._execute()
        self.assertEqual(operation.state, "cancelled")
        self.assertIn('freeze window "Inventory"', operation.error_message)
        self.assertFalse(operation.command_ids)

    def test_a_past_or_archived_window_freezes_nothing(self):
        now = fields.Datetime.now()
        self._freeze(now - timedelta(days=2), now - timedelta(days=1))
        self._freeze_now(name="Archived").active = False
        operation = self.Operation.with_user(self.manager)._enqueue(
            "deployment_run",
            environment=self.production,
            params=self._deploy_params(),
        )
        self.assertEqual(operation.state, "queued")

    # ------------------------------------------------------------------
    # Scheduling
    # ------------------------------------------------------------------
    def test_scheduling_conflicts_and_the_managers_override(self):
        """Scheduling into a freeze and beside another scheduled plan is
        refused naming both; a deployer cannot override; a manager schedules
        anyway, the reason recorded and posted."""
        go_live = (fields.Datetime.now() + timedelta(days=5)).replace(
            minute=0, second=0, microsecond=0
        )
        first = self._approved("Invoice stamps", go_live)
        first.action_schedule()
        self.assertEqual(first.state, "scheduled")
        self.assertFalse(first.schedule_conflicts)

        self._freeze(
            go_live + timedelta(hours=1),
            go_live + timedelta(days=1),
            name="Inventory",
            reason="Stock count",
        )
        second = self._approved("Delivery slots", go_live + timedelta(minutes=30))
        self.assertIn("Inventory", second.schedule_conflicts)
        self.assertIn(first.display_name, second.schedule_conflicts)
        message = self._rpc_refused(
            "dm_deployer", "deployment.plan", "action_schedule", [second.id]
        )
        self.assertIn("cannot be scheduled yet", message)
        self.assertIn('freeze window "Inventory"', message)
        self.assertIn("Stock count", message)
        self.assertIn(f"Plan {first.display_name} is scheduled", message)
        self.assertEqual(second.state, "approved")
        # Half an hour downtime holds production an hour: 30 minutes later
        # than the first one's end is free of it, not of the freeze.
        second.scheduled_at = go_live + timedelta(hours=1)
        self.assertNotIn(first.display_name, second.schedule_conflicts)
        self.assertIn("Inventory", second.schedule_conflicts)
        second.scheduled_at = go_live + timedelta(minutes=30)

        message = self._rpc_refused(
            "dm_deployer",
            "deployment.plan",
            "action_schedule_override",
            [second.id],
            "The carrier needs it before the count",
        )
        self.assertIn("Only deployment managers", message)
        message = self._rpc_refused(
            "dm_manager",
            "deployment.plan",
            "action_schedule_override",
            [second.id],
            " ",
        )
        self.assertIn("Say why", message)
        self.rpc(
            "dm_manager",
            "deployment.plan",
            "action_schedule_override",
            [second.id],
            "The carrier needs it before the count",
        )
        self.assertEqual(second.state, "scheduled")
        self.assertEqual(
            (second.schedule_override_reason, second.schedule_overridden_by_id),
            ("The carrier needs it before the count", self.manager),
        )
        body = second.message_ids[:5].mapped("body")
        self.assertTrue(
            any(
                "The carrier needs it before the count" in b and "Inventory" in b
                for b in body
            ),
            body,
        )
        # Without conflicts the override simply schedules, recording nothing.
        third = self._approved("Quiet one", go_live + timedelta(days=10))
        third.with_user(self.manager).action_schedule_override("Just in case")
        self.assertEqual(third.state, "scheduled")
        self.assertFalse(third.schedule_override_reason)
        # The button opens the form asking why.
        action = second.with_user(self.manager).action_schedule_override()
        self.assertEqual(action["res_model"], "deployment.schedule.override.wizard")

    # ------------------------------------------------------------------
    # The deployment day
    # ------------------------------------------------------------------
    def test_deployment_day_in_a_freeze(self):
        """The deployment-day wizard refuses to start inside a freeze for a
        deployer; a manager starts it with a reason, and the day's chain
        (backup, then the deployment on production) is queued despite the
        freeze: the override is the manager's decision."""
        go_live = fields.Datetime.now() + timedelta(days=2)
        plan = self._approved("Invoice stamps", go_live)
        plan.action_schedule()
        self._freeze_now(name="Payroll", reason="Salaries are paid")
        wizard = (
            self.env["deployment.day.wizard"]
            .with_user(self.deployer)
            .create({"plan_id": plan.id})
        )
        self.assertIn('freeze window "Payroll"', wizard.blockers)
        with self.assertRaises(UserError) as caught:
            wizard.action_start()
        self.assertIn("Payroll", str(caught.exception))
        wizard.reason = "The fix is urgent"
        with self.assertRaises(AccessError):
            wizard.action_start()
        self.assertEqual(plan.state, "scheduled")

        manager_wizard = (
            self.env["deployment.day.wizard"]
            .with_user(self.manager)
            .create({"plan_id": plan.id, "reason": "Customs block exports without it"})
        )
        manager_wizard.action_start()
        self.assertEqual(plan.state, "deploying")
        self.assertEqual(plan.override_reason, "Customs block exports without it")
        while manager_wizard.step_mode == "manual":
            manager_wizard.action_confirm_step()
            self.env.invalidate_all()
        manager_wizard.action_run_step()
        kinds = plan.operation_ids.filtered(
            lambda o: o.environment_id == self.production
        ).mapped("kind")
        self.assertIn("deployment_run", kinds)
        self.assertEqual(
            set(plan.operation_ids.mapped("state")), {"queued"}, "nothing ran"
        )
