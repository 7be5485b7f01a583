# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The operations engine in one transaction: the kinds' registry, typed
requests, scheduled, chained and urgent operations, the runner's claim and
the steps' stable keys. (Several runners on real manager servers at once:
test_parallel.py.)"""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, tagged

from .. import operation_kinds
from ..operation_kinds.requests import DeploymentRequest, ModuleTestsRequest
from .common import DeploymentTestMixin


@tagged("post_install", "-at_install")
class TestEngine(DeploymentTestMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.host = cls.env["deployment.host"].create(
            {"name": "This server", "kind": "local"}
        )
        cls.Operation = cls.env["deployment.operation"].with_user(cls.manager)
        cls.first, cls.second = cls.env["deployment.environment"].create(
            [
                {
                    "name": name,
                    "environment_type": "development",
                    "host_id": cls.host.id,
                    "odoo_status_command": "sh -c 'echo active'",
                    "pg_status_command": "sh -c 'echo active'",
                }
                for name in ("First", "Second")
            ]
        )

    def enqueue(self, kind="service_status", environment=None, **kwargs):
        return self.Operation._enqueue(
            kind, environment=environment or self.first, **kwargs
        )

    # The registry ---------------------------------------------------------
    def test_kind_selection_access_and_targets_come_from_the_registry(self):
        """The kind field, who may request a kind and its target are the kinds'."""
        selection = self.env["deployment.operation"]._fields["kind"].selection
        self.assertEqual(
            [code for code, _label in selection], list(operation_kinds.REGISTRY)
        )
        self.assertEqual(operation_kinds.get("log_check").label, "Log check")
        host_kinds = {
            code
            for code, kind in operation_kinds.REGISTRY.items()
            if kind.target == operation_kinds.HOST
        }
        self.assertEqual(
            host_kinds, {"fetch_host_key", "test_connection", "remove_leftovers"}
        )
        self.assertFalse(operation_kinds.get("backup").changes_target)
        self.assertTrue(operation_kinds.get("deployment_run").changes_target)
        # Who may request what: the kind says, production's data says more.
        backup, replicate = map(operation_kinds.get, ("backup", "replicate"))
        self.assertEqual(backup.required_level("development"), "user")
        self.assertEqual(backup.required_level("production"), "manager")
        self.assertEqual(replicate.required_level("development"), "manager")
        with self.assertRaises(AccessError):
            self.env["deployment.operation"].with_user(self.user)._enqueue(
                "replicate", environment=self.first
            )
        with self.assertRaisesRegex(UserError, "works on a host"):
            self.enqueue("test_connection")
        with self.assertRaisesRegex(UserError, "Unknown operation kind"):
            self.enqueue("format_disk")

    def test_typed_requests_refuse_what_they_do_not_know(self):
        """Parameters are checked when requested; nothing is queued on a bad one."""
        request = ModuleTestsRequest.from_json({"module": "sale", "mode": "install"})
        self.assertEqual(request, ModuleTestsRequest(module="sale", mode="install"))
        self.assertEqual(ModuleTestsRequest.from_json(request.to_json()), request)
        deployment = DeploymentRequest.from_json({"install": ["a", "b"]})
        self.assertEqual(deployment.install, ("a", "b"))
        self.assertFalse(deployment.backup)
        with self.assertRaisesRegex(ValueError, "unknown parameter"):
            ModuleTestsRequest.from_json({"modul": "sale"})
        with self.assertRaisesRegex(ValueError, "install: a list is expected"):
            DeploymentRequest.from_json({"install": "sale"})
        with self.assertRaisesRegex(UserError, "not valid.*unknown parameter"):
            self.enqueue("module_tests", params={"module": "sale", "bogus": 1})
        with self.assertRaisesRegex(UserError, "not valid.*takes no parameters"):
            self.enqueue("backup", params={"anything": 1})
        self.assertFalse(self.last_operation(environment_id=self.first.id))
        operation = self.enqueue(
            "module_tests", params=ModuleTestsRequest(module="sale")
        )
        self.assertEqual(operation.params, {"module": "sale", "mode": "auto"})

    # Scheduling, chaining, priority -----------------------------------------
    def test_scheduled_operation_does_not_start_early(self):
        """A scheduled operation waits for its time; the target stays free meanwhile."""
        later = fields.Datetime.now() + timedelta(hours=2)
        scheduled = self.enqueue(scheduled_at=later)
        self.assertIn("Scheduled for", scheduled.progress_message)
        self.run_queue()
        self.assertEqual(scheduled.state, "queued")
        self.assertFalse(scheduled.started_at)
        # Not busy: an operation asked now runs before it.
        now = self.enqueue("service_status")
        self.run_queue()
        self.assertEqual(now.state, "done", now.error_message)
        self.assertEqual(scheduled.state, "queued")
        # Its time comes.
        scheduled.sudo().scheduled_at = fields.Datetime.now() - timedelta(seconds=1)
        self.run_queue()
        self.assertEqual(scheduled.state, "done", scheduled.error_message)
        self.assertGreaterEqual(scheduled.started_at, scheduled.scheduled_at)

    def test_chain_runs_in_order_and_stops_at_a_failed_link(self):
        """status -> drift report -> status: the drift report fails (no
        production), so the last link is cancelled saying why; an operation
        waiting for the failed one to *end* runs anyway."""
        status = self.enqueue("service_status")
        drift = self.enqueue("drift_report", depends_on=status)
        check = self.enqueue("service_status", depends_on=drift)
        after_anyway = self.enqueue(
            "service_status",
            environment=self.second,
            depends_on=drift,
            depends_on_outcome="ended",
        )
        self.assertIn(status.name, drift.progress_message)
        self.assertEqual(status.dependent_ids, drift)
        self.run_queue()
        self.assertEqual(status.state, "done", status.error_message)
        self.assertEqual(drift.state, "failed")
        self.assertGreaterEqual(drift.started_at, status.finished_at)
        self.assertEqual(check.state, "cancelled")
        self.assertEqual(check.error_reason, "dependency")
        self.assertIn(drift.name, check.error_message)
        self.assertIn("Failed", check.error_message)
        self.assertFalse(check.command_ids)
        self.assertEqual(after_anyway.state, "done", after_anyway.error_message)
        # Nothing can wait for a failed operation to succeed.
        with self.assertRaisesRegex(UserError, "already ended"):
            self.enqueue("service_status", depends_on=drift)

    def test_cancelling_a_link_cancels_what_waits_for_it(self):
        first = self.enqueue(scheduled_at=fields.Datetime.now() + timedelta(hours=1))
        second = self.enqueue("discover", depends_on=first)
        first.with_user(self.manager).action_cancel()
        self.assertEqual(second.state, "cancelled")
        self.assertIn(first.name, second.error_message)

    def test_urgent_first_one_running_per_target_first_in_line(self):
        """The claim takes urgent operations first, never a second one on a busy
        target, and on one target the first in line."""
        normal = self.enqueue(environment=self.first)
        behind = self.enqueue(
            environment=self.first,
            depends_on=None,
            scheduled_at=(fields.Datetime.now() - timedelta(seconds=5)),
        )
        urgent = self.enqueue(
            environment=self.second,
            priority="1",
            scheduled_at=fields.Datetime.now() - timedelta(seconds=5),
        )
        Operation = self.env["deployment.operation"]
        claimed = Operation._claim_next()
        self.assertEqual(claimed, urgent)
        self.assertEqual(claimed.state, "running")
        claimed = Operation._claim_next()
        self.assertEqual(claimed, normal, "the first in line on its target")
        # Both targets now have a running operation: nothing else may start.
        self.assertFalse(Operation._claim_next())
        normal.sudo()._execute()
        self.assertEqual(Operation._claim_next(), behind)
        urgent.sudo()._execute()
        behind.sudo()._execute()
        self.assertEqual((normal | behind | urgent).mapped("state"), ["done"] * 3)

    def test_a_deployment_runs_alone_on_its_host(self):
        """A deployment restarts the PostgreSQL its host's environments share:
        nothing else starts on that host while it runs, and it waits for
        what runs there."""
        Operation = self.env["deployment.operation"].sudo()
        deployment = Operation.create(
            {
                "kind": "deployment_run",
                "host_id": self.host.id,
                "environment_id": self.first.id,
                "state": "running",
            }
        )
        sibling = self.enqueue(environment=self.second)
        self.assertFalse(Operation._claim_next(), "the host is the deployment's")
        deployment.write({"state": "done"})
        self.assertEqual(Operation._claim_next(), sibling)
        deployment.write({"state": "queued"})
        self.assertFalse(Operation._claim_next(), "it waits for the sibling")
        sibling.sudo()._execute()
        self.assertEqual(Operation._claim_next(), deployment)

    def test_an_immediate_request_on_a_busy_target_is_refused(self):
        self.enqueue()
        with self.assertRaisesRegex(UserError, "is busy"):
            self.enqueue("discover")
        # Queued ahead, it waits its turn instead.
        chained = self.enqueue(
            "discover", depends_on=self.last_operation(environment_id=self.first.id)
        )
        self.assertEqual(chained.state, "queued")

    def test_runners_are_woken_once_per_transaction(self):
        """Many requests in one transaction (a scheduled round) wake each
        runner once, not once per request."""
        Trigger = self.env["ir.cron.trigger"].sudo()
        runners = self.env["ir.cron"].search(
            [("code", "ilike", "_cron_run_operations")]
        )
        self.assertEqual(len(runners), 4)
        before = Trigger.search_count([("cron_id", "in", runners.ids)])
        self.enqueue(environment=self.first)
        self.enqueue(environment=self.second)
        self.enqueue(
            "discover",
            environment=self.first,
            depends_on=self.last_operation(environment_id=self.first.id),
        )
        after = Trigger.search_count([("cron_id", "in", runners.ids)])
        self.assertEqual(after - before, len(runners))

    # Steps ------------------------------------------------------------------
    def test_steps_have_stable_keys_in_every_language(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env["ir.module.module"].search(
            [("name", "=", "deployment_manager")]
        )._update_translations(filter_lang=["fr_FR"])
        self.manager.lang = "fr_FR"
        operation = self.enqueue()
        self.run_queue()
        self.assertEqual(operation.state, "done", operation.error_message)
        self.assertEqual(
            operation.step_ids.mapped("key"),
            ["odoo-service-status", "postgresql-service-status"],
        )
        self.assertNotIn("service status", " ".join(operation.step_ids.mapped("name")))
