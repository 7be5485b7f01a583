# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Choosing the go-live by production's workload (R1), read for real from a
production database over SSH: activity written at known hours gives a
heatmap with those peaks, and the suggested window avoids them, the freeze
windows and the announcement lead time."""

from datetime import datetime, timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import HttpCase, TransactionCase, tagged

from .common import (
    LOW_RISK,
    DeploymentTestMixin,
    drop_databases,
    make_environment_copy,
    query,
)

# Logins (res_users_log, an Odoo table of base) hour by hour over the last
# four weeks, UTC: 5 an hour, 40 on weekdays' working hours 09:00-16:59,
# none on Sundays 03:00-04:59 and one on Wednesdays 01:00-02:59.
ACTIVITY_SQL = """
INSERT INTO res_users_log (create_uid, create_date, write_uid, write_date)
SELECT 1, h, 1, h
  FROM generate_series(
         date_trunc('hour', now() AT TIME ZONE 'UTC') - interval '671 hours',
         date_trunc('hour', now() AT TIME ZONE 'UTC') - interval '1 hour',
         interval '1 hour') AS h,
       LATERAL generate_series(1, CASE
         WHEN extract(isodow FROM h) = 7 AND extract(hour FROM h) IN (3, 4) THEN 0
         WHEN extract(isodow FROM h) = 3 AND extract(hour FROM h) IN (1, 2) THEN 1
         WHEN extract(isodow FROM h) <= 5 AND extract(hour FROM h) BETWEEN 9 AND 16
           THEN 40
         ELSE 5 END) AS n
"""


def next_weekday_hour(after, weekday, hour):
    """The first ``weekday`` (Monday 0) at ``hour``:00 at or after ``after``."""
    moment = after.replace(minute=0, second=0, microsecond=0)
    if moment < after:
        moment += timedelta(hours=1)
    while (moment.weekday(), moment.hour) != (weekday, hour):
        moment += timedelta(hours=1)
    return moment


class WorkloadSetup(DeploymentTestMixin):
    DB = None

    @classmethod
    def _setup_workload(cls, host):
        cls.fixture = make_environment_copy(cls.DB)
        cls.addClassCleanup(drop_databases, cls.DB)
        query(cls.DB, "DELETE FROM res_users_log")
        query(cls.DB, ACTIVITY_SQL)
        cls.production = cls.env["deployment.environment"].create(
            {
                "name": "Production",
                "environment_type": "production",
                "host_id": host.id,
                "db_name": cls.DB,
                "data_dir": cls.fixture["data_dir"],
                "odoo_config_path": cls.fixture["config_path"],
                # A day's notice whatever the risk: the suggestion starts there.
                "plan_lead_days_low": 1,
                "plan_lead_days_medium": 1,
                "plan_lead_days_high": 1,
                "plan_lead_days_critical": 1,
            }
        )
        plan = (
            cls.env["deployment.plan"]
            .sudo()
            .create(
                {
                    "title": "Invoice stamps",
                    "production_id": cls.production.id,
                    "module_ids": [(0, 0, {"name": "invoice_stamp"})],
                    "source_kind": "git",
                    "git_url": "git@git.example.com:acme/addons.git",
                    "git_ref": "release-1",
                    "expected_downtime": 90,
                    **LOW_RISK,
                }
            )
        )
        # Development and pre-production are other tests' business: the plan
        # is approved, its planning checklist open.
        plan._start_iteration()
        plan._set_state("approved")
        return plan


@tagged("post_install", "-at_install")
class TestPlanWorkload(WorkloadSetup, TransactionCase):
    DB = "dm_workload_production"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.manager.tz = "UTC"
        cls.sshd = cls._start_sshd("127.0.0.90")
        cls.host = cls._create_ssh_host(cls.sshd)
        cls.plan = cls._setup_workload(cls.host).with_user(cls.manager)

    def read_workload(self):
        self.plan.action_read_workload()
        self.run_queue()
        operation = self.last_operation(kind="workload")
        self.assertEqual(operation.state, "done", operation.error_message)
        self.plan.invalidate_recordset()
        return operation

    def test_heatmap_shows_the_peaks_and_the_suggestion_avoids_them(self):
        """The logins come back in their hours of the week; the quietest two
        hours (90 minutes expected) after a day's notice are a Sunday 03:00;
        with a freeze window on Sunday mornings, a Wednesday 01:00."""
        operation = self.read_workload()
        self.assertEqual(operation.environment_id, self.production)
        self.assertEqual(operation.plan_id, self.plan)
        self.assertEqual(operation.result_data["weeks"], 4)
        self.assertEqual(operation.result_data["sources"], ["logins"])
        self.assertIn("logins in the last 4 weeks", operation.result_summary)
        self.assertEqual(self.plan.workload_operation_id, operation)

        # The heatmap, in the manager's time zone (UTC): a weekday's working
        # hour 40 on average, a quiet Sunday hour empty. The hour of the week
        # now running was read three times, not four: another one is checked.
        now = fields.Datetime.now()
        day = 1 if now.weekday() != 1 else 3  # Tuesday, or Thursday
        name = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[day]
        heatmap = str(self.plan.workload_heatmap)
        self.assertIn(f"{name} 10:00: 40.0 on average", heatmap)
        self.assertIn("Sun 04:00: 0.0 on average", heatmap)
        self.assertIn("Sat 10:00: 5.0 on average", heatmap)
        self.assertIn("in UTC time", heatmap)

        # Two hours for 90 minutes, from a day's notice: the next Sunday
        # 03:00 UTC (no activity) after tomorrow.
        self.assertEqual(self.plan.needed_downtime, 90)
        self.assertIn("expected downtime", self.plan.needed_downtime_basis)
        earliest = now + timedelta(days=1)
        sunday = next_weekday_hour(earliest, 6, 3)
        self.assertEqual(self.plan.suggested_at, sunday)
        self.assertIn("0.0 messages and logins", self.plan.suggestion_reason)

        # A freeze every Sunday morning: the next quietest, Wednesday 01:00.
        last_sunday = next_weekday_hour(now - timedelta(days=7), 6, 0)
        self.env["deployment.freeze.window"].create(
            {
                "name": "ERP host maintenance",
                "production_id": self.production.id,
                "start_at": last_sunday,
                "end_at": last_sunday + timedelta(hours=12),
                "recurrence": "weekly",
                "tz": "UTC",
            }
        )
        self.plan.invalidate_recordset()
        wednesday = next_weekday_hour(earliest, 2, 1)
        self.assertEqual(self.plan.suggested_at, wednesday)
        self.assertIn("2.0 messages and logins", self.plan.suggestion_reason)

        # Another plan scheduled then: the one after (a week later).
        other = self.plan.sudo().copy({"title": "Other go-live", **LOW_RISK})
        other.sudo().write({"state": "scheduled", "scheduled_at": wednesday})
        self.plan.invalidate_recordset()
        self.assertEqual(self.plan.suggested_at, wednesday + timedelta(days=7))

        # Used: the go-live is set there; scheduling stays its own step.
        self.plan.action_use_suggested_window()
        self.assertEqual(self.plan.scheduled_at, wednesday + timedelta(days=7))
        self.assertEqual(self.plan.state, "approved")

    def test_needed_downtime_scales_with_the_databases(self):
        """Pre-production's measured downtime, scaled by the size ratio."""
        self.production.sudo().database_size = 3 * 1024**3
        preproduction = self.env["deployment.environment"].create(
            {
                "name": "Pre-production",
                "environment_type": "preproduction",
                "host_id": self.host.id,
                "production_id": self.production.id,
                "db_name": "dm_workload_preproduction",
                "database_size": 1024**3,
            }
        )
        self.plan.sudo().preproduction_id = preproduction
        deployment = (
            self.env["deployment.operation"]
            .sudo()
            .with_context(deployment_plan_id=self.plan.id)
            ._enqueue(
                "deployment_run",
                environment=preproduction,
                params={
                    "source": {
                        "kind": "git",
                        "url": "git@git.example.com:acme/addons.git",
                        "ref": "main",
                    },
                    "install": ["invoice_stamp"],
                },
            )
        )
        deployment.write({"state": "running", "started_at": fields.Datetime.now()})
        deployment.write(
            {"state": "done", "finished_at": fields.Datetime.now(), "downtime": 1500}
        )
        self.plan.invalidate_recordset()
        # 25 minutes on pre-production, a database three times as big.
        self.assertAlmostEqual(self.plan.needed_downtime, 75)
        self.assertIn("3.00", self.plan.needed_downtime_basis)
        self.assertIn(deployment.name, self.plan.needed_downtime_basis)

    def test_workload_of_production_is_read_by_managers_only(self):
        """Production is a manager's to read; without a reading there is no
        suggestion to use."""
        with self.assertRaises(UserError):
            self.plan.with_user(self.deployer).action_read_workload()
        with self.assertRaises(UserError) as raised:
            self.plan.action_use_suggested_window()
        self.assertIn("read production's workload first", str(raised.exception))


@tagged("post_install", "-at_install")
class TestPlanWorkloadTour(WorkloadSetup, HttpCase):
    DB = "dm_workload_tour_production"

    def test_schedule_a_plan_from_the_suggested_window(self):
        """In the browser: a manager opens an approved plan, uses the window
        suggested from production's workload (read for real) and schedules."""
        host = self.env["deployment.host"].create(
            {"name": "This server", "kind": "local"}
        )
        plan = self._setup_workload(host)
        plan.title = "Tour schedule"
        plan.current_item_ids.action_waive("Planned at the weekly meeting.")
        self.env.ref("base.user_admin").tz = "UTC"
        plan.with_context(deployment_plan_id=plan.id).action_read_workload()
        self.run_queue()
        plan.invalidate_recordset()
        suggested = plan.suggested_at
        self.assertTrue(suggested)
        self.start_tour(
            f"/odoo/action-deployment_manager.action_deployment_plan/{plan.id}",
            "deployment_manager_plan_schedule_tour",
            login="admin",
            timeout=120,
        )
        plan.invalidate_recordset()
        self.assertEqual(plan.state, "scheduled")
        self.assertEqual(plan.scheduled_at, suggested)
        self.assertGreater(suggested, datetime.now())
