# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import os
import tempfile
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, tagged

from .common import DeploymentTestMixin

INFO = "2026-11-27 10:00:00,001 4242 INFO prod odoo.modules.loading: Modules loaded.\n"


def error_lines(record_id):
    return (
        f"2026-11-27 10:0{record_id % 10}:00,002 4242 ERROR prod "
        "odoo.addons.sale.models.x: "
        f"Failed to confirm order {record_id}\n"
        "Traceback (most recent call last):\n"
        '  File "/opt/odoo/addons/sale/models/x.py", line 12, in action_confirm\n'
        "    raise ValueError(record)\n"
        f"ValueError: sale.order({record_id},)\n"
    )


@tagged("post_install", "-at_install")
class TestLogCheck(DeploymentTestMixin, TransactionCase):
    """Log checks (J5, A2) on a real log file, over SSH."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.sshd = cls._start_sshd("127.0.0.9")
        cls.host = cls._create_ssh_host(cls.sshd)
        cls.log_dir = tempfile.mkdtemp(prefix="dm_logcheck_")
        cls.log_path = os.path.join(cls.log_dir, "odoo.log")

    def setUp(self):
        super().setUp()
        with open(self.log_path, "w") as log:
            log.write(INFO * 20)
        self.environment = self.env["deployment.environment"].create(
            {
                "name": "Pre-production",
                "environment_type": "preproduction",
                "host_id": self.host.id,
                "log_file": self.log_path,
            }
        )

    def append(self, text):
        with open(self.log_path, "a") as log:
            log.write(text)

    def check(self):
        self.environment.with_user(self.user).action_check_log()
        self.run_queue()
        operation = self.last_operation(environment_id=self.environment.id)
        self.assertEqual(operation.state, "done", operation.error_message)
        return operation

    def test_new_traceback_fails_and_notifies_then_unchanged_log_passes(self):
        """A new error signature fails and notifies; an unchanged log then passes."""
        self.check()
        self.assertEqual(self.environment.last_log_verdict, "pass")
        self.append(error_lines(7) + INFO)
        operation = self.check()
        self.assertEqual(self.environment.last_log_verdict, "fail")
        finding = self.environment.log_finding_ids
        self.assertEqual(len(finding), 1)
        self.assertEqual(finding.level, "ERROR")
        self.assertEqual(finding.exception_type, "ValueError")
        self.assertIn("Traceback", finding.sample_traceback)
        self.assertEqual(finding.first_operation_id, operation)
        notified = self.environment.message_ids.filtered(
            lambda m: (
                m.subtype_id == self.env.ref("deployment_manager.mt_log_new_error")
            )
        )
        self.assertEqual(len(notified), 1)
        self.assertIn("odoo.addons.sale.models.x", notified.body)
        log_reads = operation.command_ids.filtered(
            lambda c: c.command.startswith("dd ")
        )
        self.assertTrue(log_reads)
        self.assertNotIn(
            "Failed to confirm", "".join(log_reads.mapped("stdout_excerpt"))
        )

        self.check()
        self.assertEqual(self.environment.last_log_verdict, "pass")
        self.assertEqual(finding.count, 1)

    def test_seen_signature_is_counted_not_notified_again(self):
        """The same error with another id adds to its finding, no new notification."""
        self.environment.log_check_max_errors = 5
        self.append(error_lines(1))
        self.check()
        self.append(error_lines(2) + error_lines(3))
        self.check()
        finding = self.environment.log_finding_ids
        self.assertEqual(len(finding), 1)
        self.assertEqual(finding.count, 3)
        self.assertEqual(
            self.environment.last_log_verdict, "pass", "known, within threshold"
        )
        notified = self.environment.message_ids.filtered(
            lambda m: (
                m.subtype_id == self.env.ref("deployment_manager.mt_log_new_error")
            )
        )
        self.assertEqual(len(notified), 1)

    def test_users_only_acknowledge_findings(self):
        """A user marks a finding as known but cannot rewrite what the check found."""
        self.append(error_lines(4))
        self.check()
        finding = self.environment.log_finding_ids.with_user(self.user)
        finding.action_mark_known()
        self.assertTrue(finding.known)
        with self.assertRaises(AccessError):
            finding.write({"count": 0})

    def test_scheduled_checks_are_queued_when_due(self):
        """The schedule queues a check for each due environment, sets the next."""
        self.environment.write({"log_check_scheduled": True, "log_check_interval": 30})
        self.env["deployment.environment"]._cron_schedule_log_checks()
        operation = self.last_operation(environment_id=self.environment.id)
        self.assertEqual((operation.kind, operation.state), ("log_check", "queued"))
        self.assertTrue(self.environment.log_check_next_at)
        self.env["deployment.environment"]._cron_schedule_log_checks()
        self.assertEqual(
            self.env["deployment.operation"].search_count(
                [("environment_id", "=", self.environment.id)]
            ),
            1,
            "not due again before its interval",
        )

    def test_schedule_keeps_its_beat_and_a_quiet_check_mails_nobody(self):
        """The next check is due one interval after the last was due (a late
        cron does not skip a beat); a check that found nothing new posts no
        message, so followers get no mail every few minutes."""
        due = fields.Datetime.now() - timedelta(seconds=40)
        self.environment.write(
            {
                "log_check_scheduled": True,
                "log_check_interval": 5,
                "log_check_next_at": due,
            }
        )
        self.env["deployment.environment"]._cron_schedule_log_checks()
        self.assertEqual(self.environment.log_check_next_at, due + timedelta(minutes=5))
        self.run_queue()
        operation = self.last_operation(environment_id=self.environment.id)
        self.assertEqual(operation.state, "done", operation.error_message)
        self.assertEqual(operation.result_data["verdict"], "pass")
        done = self.env.ref("deployment_manager.mt_operation_done")
        self.assertFalse(
            self.environment.message_ids.filtered(lambda m: m.subtype_id == done)
        )
        # Something new is told.
        self.append(error_lines(2))
        self.check()
        self.assertTrue(
            self.environment.message_ids.filtered(lambda m: m.subtype_id == done)
        )
