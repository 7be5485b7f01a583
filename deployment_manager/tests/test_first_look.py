# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import logging
import os
from datetime import datetime, timedelta

from odoo import fields
from odoo.tests import BaseCase, HttpCase, TransactionCase, tagged

from .demo_check import DEMO, DemoCheck

_logger = logging.getLogger(__name__)


@tagged("post_install", "-at_install")
class TestStepTimes(TransactionCase):
    def test_step_keeps_its_fraction_of_a_second(self):
        """A step stamped "now" by the journal keeps its fraction of a second,
        so a 0.4 s step does not read 0 s; a time given on purpose is kept as
        given."""
        host = self.env["deployment.host"].create({"name": "Here", "kind": "local"})
        operation = self.env["deployment.operation"].create(
            {"kind": "test_connection", "host_id": host.id}
        )
        Step = self.env["deployment.operation.step"]
        step = Step.create(
            {
                "operation_id": operation.id,
                "name": "Quick",
                "started_at": fields.Datetime.now(),
            }
        )
        step.write({"state": "done", "finished_at": fields.Datetime.now()})
        step.invalidate_recordset()
        self.assertGreater(step.duration, 0)
        self.assertLess(step.duration, 1)

        given = datetime(2026, 1, 2, 3, 4, 5)
        step.write({"started_at": given, "finished_at": given + timedelta(seconds=2)})
        step.invalidate_recordset()
        self.assertEqual(step.started_at, given)
        self.assertEqual(step.duration, 2.0)
        self.assertAlmostEqual(step.started_at_seconds, 1767323045.0, places=5)


@tagged("post_install", "-at_install")
class TestFirstLookTour(HttpCase):
    def test_environment_form_groups_its_operations(self):
        """In the browser: a development environment's form shows three
        buttons and the other operations grouped in the procedure's order, offers
        Discover while never discovered, shows durations in tenths; production's
        form groups only what applies to production."""
        host = self.env["deployment.host"].create(
            {"name": "This server", "kind": "local"}
        )
        production = self.env["deployment.environment"].create(
            {
                "name": "Tour production",
                "environment_type": "production",
                "host_id": host.id,
                "db_name": "dm_tour_first_look_production",
            }
        )
        development = self.env["deployment.environment"].create(
            {
                "name": "Tour development",
                "environment_type": "development",
                "host_id": host.id,
                "production_id": production.id,
                "db_name": "dm_tour_first_look_development",
            }
        )
        start = datetime(2026, 1, 2, 3, 4, 5, 250000)
        operation = self.env["deployment.operation"].create(
            {
                "kind": "backup",
                "host_id": host.id,
                "environment_id": development.id,
                "state": "done",
                "started_at": start.replace(microsecond=0),
                "finished_at": start.replace(microsecond=0) + timedelta(minutes=3),
            }
        )
        step = self.env["deployment.operation.step"].create(
            {
                "operation_id": operation.id,
                "sequence": 1,
                "name": "Dump the database",
                "state": "done",
                "started_at": start,
                "finished_at": start + timedelta(seconds=0.4),
            }
        )
        self.env["deployment.operation.command"].create(
            {
                "operation_id": operation.id,
                "step_id": step.id,
                "sequence": 1,
                "host": "This server",
                "command": "pg_dump --format=custom dm_tour_first_look_development",
                "started_at": start,
                "duration": 125.3,
                "has_exit_code": True,
            }
        )
        self.start_tour(
            f"/odoo/action-deployment_manager.action_deployment_environment/{development.id}",
            "deployment_manager_first_look_tour",
            login="admin",
            timeout=120,
        )


@tagged("post_install", "-at_install")
class TestDemoFromScratch(BaseCase):
    def test_demo_ends_healthy_and_deploys(self):
        """setup/demo, built from scratch as README says (in a directory, with
        databases and ports of its own), serves three healthy environments;
        Deploy on Development installs the sample module; Ctrl-C stops the
        manager and the three environments' Odoo servers."""
        if not os.path.exists(DEMO):
            self.skipTest(f"{DEMO} is not here: the addon runs outside its repository")
        DemoCheck(say=_logger.info).run()
