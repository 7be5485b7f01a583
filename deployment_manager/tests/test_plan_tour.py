# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Deployment plans in the browser: a development step run for real, and the
deployment-day wizard walked to hypercare on a real production Odoo."""

import base64
import os
import tempfile
from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, tagged

from .common import drop_databases, make_environment_copy, production_environment_vals
from .test_tour import _start_worker


@tagged("post_install", "-at_install")
class TestPlanTour(HttpCase):
    def test_create_a_plan_and_run_a_development_item(self):
        """In the browser: create a plan from the Plans menu, start development
        and run D2 (production's configuration applied to development) for
        real; the item ends Done with its operation."""
        names = ("dm_h1_tour_production", "dm_h1_tour_development")
        fixtures = {}
        for name in names:
            fixtures[name] = make_environment_copy(name)
            self.addCleanup(drop_databases, name)
        with open(fixtures[names[0]]["config_path"], "a") as handle:
            handle.write("limit_time_real = 321\n")
        host = self.env["deployment.host"].create(
            {"name": "This server", "kind": "local"}
        )
        Environment = self.env["deployment.environment"]

        def environment(label, kind, name, **vals):
            return Environment.create(
                {
                    "name": label,
                    "environment_type": kind,
                    "host_id": host.id,
                    "odoo_config_path": fixtures[name]["config_path"],
                    "db_name": name,
                    "data_dir": fixtures[name]["data_dir"],
                    **vals,
                }
            )

        production = environment("Tour production", "production", names[0])
        development = environment(
            "Tour development",
            "development",
            names[1],
            production_id=production.id,
        )
        stop = _start_worker(self)
        try:
            self.start_tour(
                "/odoo", "deployment_manager_plan_tour", login="admin", timeout=240
            )
        finally:
            stop()
        plan = self.env["deployment.plan"].search([("title", "=", "Tour plan")])
        self.assertEqual(plan.state, "development")
        self.assertEqual(plan.development_id, development)
        self.assertEqual(plan.module_ids.mapped("name"), ["dm_tour_module"])
        item = plan.current_item_ids.filtered(lambda i: i.code == "D2")
        self.assertEqual(item.state, "done", item.reason)
        self.assertEqual(item.operation_id.kind, "apply_configuration")
        self.assertEqual(item.operation_id.plan_id, plan)
        with open(fixtures[names[1]]["config_path"]) as handle:
            self.assertIn("limit_time_real = 321", handle.read())


@tagged("post_install", "-at_install")
class TestDeploymentDayTour(HttpCase):
    def test_walk_the_deployment_day_wizard_to_hypercare(self):
        """In the browser: a scheduled plan's deployment day, step after step —
        manual confirmations, then backup, deployment, services and log check
        run for real on a production Odoo — ends in hypercare with the
        measured downtime."""
        from ..ops.tests.production import (
            ensure_cluster,
            ensure_template,
            make_production,
            make_zip,
            remove_production,
            sample,
        )

        ensure_cluster()
        ensure_template()
        root = tempfile.mkdtemp(prefix="dm_plan_day_tour_")
        prod = make_production(os.path.join(root, "production"))
        self.addCleanup(remove_production, prod)
        host = self.env["deployment.host"].create(
            {"name": "This server", "kind": "local"}
        )
        production = self.env["deployment.environment"].create(
            production_environment_vals(prod, host.id, "Tour production")
        )
        archive = make_zip(
            os.path.join(root, "release.zip"), [sample("v1", "dm_sample_good")]
        )
        with open(archive, "rb") as handle:
            data = base64.b64encode(handle.read())
        plan = self.env["deployment.plan"].create(
            {
                "title": "Tour go-live",
                "production_id": production.id,
                "module_ids": [(0, 0, {"name": "dm_sample_good"})],
                "source_kind": "zip",
                "source_zip": data,
                "source_zip_filename": "release.zip",
            }
        )
        # Development, pre-production and approval are other tests' business:
        # the plan is scheduled, its go-live just past.
        plan = plan.sudo()
        plan._start_iteration()
        plan.scheduled_at = fields.Datetime.now() - timedelta(minutes=5)
        plan._set_state("scheduled")
        self.assertEqual(len(plan.current_item_ids), 7)

        stop = _start_worker(self)
        try:
            self.start_tour(
                f"/odoo/action-deployment_manager.action_deployment_plan/{plan.id}",
                "deployment_manager_deployment_day_tour",
                login="admin",
                timeout=480,
            )
        finally:
            stop()
        self.assertEqual(plan.state, "hypercare")
        self.assertEqual(plan.day_outcome, "succeeded")
        self.assertGreater(plan.downtime, 0)
        self.assertTrue(plan.day_started_at and plan.day_ended_at)
        self.assertEqual(
            prod.module_state("dm_sample_good"), ("installed", "18.0.1.0.0")
        )
        steps = plan.item_ids.filtered(lambda i: i.phase == "deployment_day")
        self.assertEqual(set(steps.mapped("state")), {"done"})
        self.assertEqual(plan.backup_count, 1)
        self.assertEqual(
            steps.filtered(lambda i: not i.code)[:1].comment, "Everybody logged off"
        )
