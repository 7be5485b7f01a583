# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A whole deployment plan on real servers: four sshd hosts, real Odoo
databases on the dmprod cluster, a running production Odoo server.

Every automated item runs for real through its button (``action_run``) and
the queue (``run_queue``, what the cron does); the deployment day is walked
through its wizard."""

import base64
import os
import shutil
import tempfile
import time
from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import HttpCase, TransactionCase, tagged
from odoo.tools import html2plaintext

from ..ops.tests.production import (
    copy_module,
    databases_like,
    drop_database,
    ensure_cluster,
    ensure_template,
    http_status,
    make_production,
    make_zip,
    remove_production,
    sample,
)
from .common import (
    LOW_RISK,
    SAME_DAY_ANNOUNCEMENTS,
    DeploymentTestMixin,
    production_environment_vals,
)

MODULE = "dm_sample_tested"
MAIL_SERVER = (
    "INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_encryption, "
    "smtp_authentication, active, sequence) "
    "VALUES ('Company SMTP', 'smtp.example.com', 25, 'none', 'login', true, 10)"
)
WRITTEN = "SELECT count(*) FROM res_partner WHERE name = 'Written in production'"
MIGRATED = (
    "SELECT value FROM ir_config_parameter WHERE key = 'dm_sample_tested.migrated_from'"
)
NEUTRALIZED = (
    "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
)


def healthy_within(url, timeout=60):
    """Whether the server answers its health URL within ``timeout`` seconds:
    a replication starts the target's Odoo as a service manager does, and
    ends before that Odoo listens (a loaded machine takes seconds)."""
    deadline = time.monotonic() + timeout
    while http_status(url) != 200:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def zip_data(root, name, modules):
    with open(make_zip(os.path.join(root, name), modules), "rb") as handle:
        return base64.b64encode(handle.read())


NOISY_MODULE = "dm_sample_noisy"
NOISY_INIT = """import logging

from odoo import models
from odoo.tools import config

_logger = logging.getLogger(__name__)


class ResPartner(models.Model):
    _inherit = "res.partner"

    def _register_hook(self):
        super()._register_hook()
        # Only the running server says it: installing the module is clean.
        if not config.get("stop_after_init"):
            _logger.error("dm_sample_noisy cannot reach its printer")
"""


def noisy_sample(root):
    """A module whose server logs an ERROR once started (never at install)."""
    module = os.path.join(root, NOISY_MODULE)
    os.makedirs(module)
    with open(os.path.join(module, "__init__.py"), "w") as handle:
        handle.write(NOISY_INIT)
    with open(os.path.join(module, "__manifest__.py"), "w") as handle:
        handle.write(
            repr(
                {
                    "name": "Deployment manager sample (noisy)",
                    "version": "18.0.1.0.0",
                    "license": "LGPL-3",
                    "depends": ["base"],
                    "installable": True,
                }
            )
        )
    return module


def fixed_sample(root):
    """dm_sample_tested 18.0.1.1.0: its failing test fixed (iteration 2)."""
    target = os.path.join(root, "fixed")
    copy_module(sample("tested", MODULE), target)
    module = os.path.join(target, MODULE)
    manifest = os.path.join(module, "__manifest__.py")
    with open(manifest) as handle:
        text = handle.read()
    with open(manifest, "w") as handle:
        handle.write(text.replace("18.0.1.0.0", "18.0.1.1.0"))
    tests = os.path.join(module, "tests", "test_sample.py")
    with open(tests) as handle:
        text = handle.read()
    with open(tests, "w") as handle:
        handle.write(
            text.replace(
                '            1,\n            "this test fails on purpose",',
                '            0,\n            "fixed in 18.0.1.1.0",',
            )
        )
    # An upgrade runs its migration; an install over it would not.
    migration = os.path.join(module, "migrations", "18.0.1.1.0")
    os.makedirs(migration)
    with open(os.path.join(migration, "post-migrate.py"), "w") as handle:
        handle.write(
            "def migrate(cr, version):\n"
            "    cr.execute(\n"
            '        "INSERT INTO ir_config_parameter (key, value) "\n'
            "        \"VALUES ('dm_sample_tested.migrated_from', %s)\",\n"
            "        (version,),\n"
            "    )\n"
        )
    return module


class PlanRigMixin(DeploymentTestMixin):
    def item(self, plan, code=None, **domain):
        items = plan.current_item_ids
        if code is not None:
            items = items.filtered(lambda i: i.code == code)
        for key, value in domain.items():
            items = items.filtered(lambda i, k=key, v=value: i[k] == v)
        self.assertEqual(len(items), 1, f"one current item {code} {domain}")
        return items

    def run_item(self, item, user=None):
        """The item's Run button, then the queue; the item is done."""
        item.with_user(user or self.manager).action_run()
        self.run_queue()
        operation = item.operation_id
        self.assertEqual(operation.state, "done", operation.error_message)
        self.assertEqual(operation.plan_id, item.plan_id)
        self.assertEqual(item.state, "done", item.reason)
        return operation

    def click(self, wizard, button):
        """A wizard button: it reopens the wizard, read afresh as the
        browser does."""
        action = getattr(wizard, button)()
        if action.get("res_model") == wizard._name:
            self.assertEqual(action["res_id"], wizard.id)
        wizard.invalidate_recordset()
        return action

    def confirm(self, item, comment, user=None):
        item.with_user(user or self.manager).action_confirm(comment)
        self.assertEqual(item.state, "done")


@tagged("post_install", "-at_install")
class TestPlanEndToEnd(PlanRigMixin, HttpCase):
    # An HttpCase: wkhtmltopdf fetches the dossier's styles from the test
    # server, which then reads the test's own transaction.
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        ensure_cluster()
        ensure_template()
        cls.root = tempfile.mkdtemp(prefix="dm_plan_e2e_")
        cls.addClassCleanup(shutil.rmtree, cls.root, True)
        hosts = {}
        for role, address in (
            ("production", "127.0.0.70"),
            ("development", "127.0.0.71"),
            ("preproduction", "127.0.0.72"),
            ("disaster_recovery", "127.0.0.73"),
        ):
            hosts[role] = cls._create_ssh_host(cls._start_sshd(address), role)
        cls.servers = {}
        for role in hosts:
            server = make_production(
                os.path.join(cls.root, role), start=role == "production"
            )
            cls.addClassCleanup(remove_production, server)
            cls.servers[role] = server
        cls.prod = cls.servers["production"]
        cls.prod.rows(MAIL_SERVER)
        # An option of production's own configuration that D2 and S2 copy.
        with open(cls.prod.config, "a") as handle:
            handle.write("limit_time_real = 321\n")
        cls.prod.rows(
            "INSERT INTO res_partner (name, complete_name, active, type) "
            "VALUES ('Written in production', 'Written in production', true, "
            "'contact')"
        )
        Environment = cls.env["deployment.environment"]
        cls.production = Environment.create(
            production_environment_vals(cls.prod, hosts["production"].id, "Production")
            | SAME_DAY_ANNOUNCEMENTS
            # Approved as soon as pre-production is conclusive: the key
            # users' soak has its own tests (test_key_user_acceptance).
            | {"plan_soak_min_days": 0}
        )
        cls.environments = {"production": cls.production}
        for role, name in (
            ("development", "Development"),
            ("preproduction", "Pre-production"),
            ("disaster_recovery", "Recovery site"),
        ):
            cls.environments[role] = Environment.create(
                {
                    **production_environment_vals(
                        cls.servers[role], hosts[role].id, name
                    ),
                    "environment_type": role,
                    "production_id": cls.production.id,
                    # The cluster is production's: only production's
                    # deployment restarts it (J4).
                    "pg_restart_command": False,
                }
            )

    def test_whole_plan_on_real_servers(self):
        dev = self.servers["development"]
        preprod = self.servers["preproduction"]
        recovery = self.servers["disaster_recovery"]
        plan = (
            self.env["deployment.plan"]
            .with_user(self.manager)
            .create(
                {
                    "title": "Sample partners",
                    "production_id": self.production.id,
                    "module_ids": [(0, 0, {"name": MODULE})],
                    "source_kind": "zip",
                    "source_zip": zip_data(
                        self.root, "v1.zip", [sample("tested", MODULE)]
                    ),
                    "source_zip_filename": "v1.zip",
                    "justification": "Sales asked for sample partners.",
                    **LOW_RISK,
                    "impact_ids": [
                        (
                            0,
                            0,
                            {
                                "application": "Contacts",
                                "positive": "Sample partners at hand",
                                "negative": "Two minutes without Odoo",
                            },
                        )
                    ],
                    "support_user_ids": [(6, 0, self.deployer.ids)],
                }
            )
        )
        plan = plan.with_user(self.manager)
        self.assertEqual(plan.development_id, self.environments["development"])
        self.assertEqual(plan.preproduction_id, self.environments["preproduction"])
        self.assertEqual(plan.recovery_id, self.environments["disaster_recovery"])

        # ---- Development, iteration 1 (D1-D5) ----
        # Deployers move the plan and run what executes the module (on
        # development and pre-production); managers run what reads
        # production (replications, configuration, alignment) and approve.
        as_deployer = plan.with_user(self.deployer)
        as_deployer.action_start_development()
        self.assertEqual((plan.state, plan.iteration), ("development", 1))
        self.run_item(self.item(plan, "D1"))
        # A neutralized copy of production, its server started on it.
        self.assertEqual(dev.rows(WRITTEN), [["1"]])
        self.assertEqual(dev.rows(NEUTRALIZED), [["true"]])
        self.assertEqual(
            dev.rows(
                "SELECT count(*) FROM ir_mail_server WHERE active "
                "AND smtp_host = 'smtp.example.com'"
            ),
            [["0"]],
        )
        self.assertTrue(healthy_within(dev.health_url), "development's Odoo is up")
        self.assertEqual(self.prod.rows(NEUTRALIZED), [])
        self.run_item(self.item(plan, "D2"))
        with open(dev.config) as handle:
            config = handle.read()
        self.assertIn("limit_time_real = 321", config)
        self.assertIn(f"db_name = {dev.db}\n", config, "its own database stays")
        self.run_item(self.item(plan, "D3"))
        self.run_item(self.item(plan, operation_kind="deployment_run"), self.deployer)
        self.assertEqual(dev.module_state(MODULE), ("installed", "18.0.1.0.0"))
        self.assertEqual(self.prod.module_state(MODULE), (None, None))

        tests = self.item(plan, "D4")
        self.assertEqual(tests.module, MODULE)
        tests.with_user(self.deployer).action_run()
        self.run_queue()
        self.assertEqual(tests.operation_id.state, "done")
        self.assertEqual(tests.state, "failed")
        self.assertIn("test_fails_on_purpose", tests.reason)
        run = self.env["deployment.test.run"].search(
            [("operation_id", "=", tests.operation_id.id)]
        )
        self.assertEqual((run.passed_count, run.failed_count), (1, 1))
        failure = run.line_ids.filtered(lambda line: line.status == "failed")
        failure.with_user(self.manager).action_waive(
            "Counts a partner the real data does not have; accepted for now."
        )
        self.assertEqual(tests.state, "done", tests.reason)

        documentation = self.item(plan, "D5")
        self.env["deployment.test.case"].with_user(self.deployer).create(
            {
                "name": "Sample partner by hand (iteration 1)",
                "module": MODULE,
                "environment_id": plan.development_id.id,
                "run_id": run.id,
                "steps": "Contacts > New, name Sample partner, save",
                "expected": "The partner is listed",
                "observed": "Listed at once",
                "result": "passed",
            }
        )
        self.confirm(documentation, "One manual case beside the run.", self.deployer)
        as_deployer.action_to_preproduction()
        self.assertEqual(plan.state, "preproduction")

        # ---- Pre-production, iteration 1 (S1-S5) ----
        self.run_item(self.item(plan, "S1"))
        self.assertEqual(preprod.rows(WRITTEN), [["1"]])
        self.assertEqual(preprod.rows(NEUTRALIZED), [["true"]])
        self.run_item(self.item(plan, "S2"))
        self.run_item(self.item(plan, "S3"))
        deployed = self.run_item(
            self.item(plan, operation_kind="deployment_run"), self.deployer
        )
        self.assertEqual(preprod.module_state(MODULE), ("installed", "18.0.1.0.0"))
        # What the module changed was compared with the deployment's rollback
        # point without anyone asking (the queue above ran it): the sample
        # module adds no table, no scheduled action, no outgoing mail.
        compared = plan.operation_ids.filtered(lambda o: o.kind == "module_changes")
        self.assertEqual(len(compared), 1)
        self.assertEqual(
            (compared.state, compared.environment_id, compared.params["operation_id"]),
            ("done", plan.preproduction_id, deployed.id),
            compared.error_message,
        )
        plan.invalidate_recordset()
        self.assertEqual(plan.module_change_operation_id, compared)
        self.assertEqual(compared.result_data["tables_added"], [])
        self.assertFalse(plan.module_adds_scheduled_actions)
        self.assertFalse(plan.module_adds_outgoing_mail)
        self.confirm(self.item(plan, "S4"), "Key users worked a week on it.")
        self.run_item(self.item(plan, "S5"), self.deployer)

        # ---- S6: back to development, iteration 2 ----
        reason = (
            "Key users need the partner test to hold on real data: the waived "
            "failure is a bug to fix."
        )
        as_deployer.action_back_to_development(reason)
        self.assertEqual((plan.state, plan.iteration), ("development", 2))
        first = plan.iteration_ids.filtered(lambda i: i.number == 1)
        self.assertEqual(
            (first.back_from, first.back_reason, first.back_by_id),
            ("preproduction", reason, self.deployer),
        )
        self.assertTrue(first.ended_at)
        history = plan.item_ids.filtered(lambda i: i.iteration == 1)
        self.assertEqual(set(history.mapped("phase")), {"development", "preproduction"})
        self.assertFalse(history.filtered("current"))
        plan.write(
            {
                "source_zip": zip_data(
                    self.root, "v1.1.zip", [fixed_sample(self.root)]
                ),
                "source_zip_filename": "v1.1.zip",
            }
        )
        # D1-D3 again would copy the same production (nothing was deployed
        # there since iteration 1) and undo the iteration-1 install the fixed
        # version upgrades: waived, saying why.
        for code in ("D1", "D2", "D3"):
            self.item(plan, code).with_user(self.manager).action_waive(
                "Production unchanged since iteration 1's copy, configuration "
                "and alignment; the fixed module is deployed over them."
            )
        # The fixed version, upgraded over iteration 1's, and its tests: run.
        self.run_item(self.item(plan, operation_kind="deployment_run"), self.deployer)
        self.assertEqual(dev.module_state(MODULE), ("installed", "18.0.1.1.0"))
        self.assertEqual(dev.rows(MIGRATED), [["18.0.1.0.0"]], "upgraded, migrated")
        tests = self.item(plan, "D4")
        self.run_item(tests, self.deployer)
        run2 = self.env["deployment.test.run"].search(
            [("operation_id", "=", tests.operation_id.id)]
        )
        self.assertEqual((run2.passed_count, run2.failed_count), (2, 0))
        self.env["deployment.test.case"].with_user(self.deployer).create(
            {
                "name": "Sample partner by hand (iteration 2)",
                "module": MODULE,
                "environment_id": plan.development_id.id,
                "run_id": run2.id,
                "steps": "Contacts > New, name Sample partner, save",
                "expected": "The partner is listed",
                "observed": "Listed at once",
                "result": "passed",
            }
        )
        self.confirm(self.item(plan, "D5"), "Documented again.", self.deployer)
        as_deployer.action_to_preproduction()

        # Pre-production, iteration 2: a fresh copy of production so that the
        # install there rehearses production's (S1, S3 run); production's
        # configuration file did not change since iteration 1 (S2 waived).
        self.run_item(self.item(plan, "S1"))
        self.assertEqual(preprod.module_state(MODULE), (None, None))
        self.item(plan, "S2").with_user(self.manager).action_waive(
            "Production's configuration file unchanged since iteration 1's S2."
        )
        self.run_item(self.item(plan, "S3"))
        self.run_item(self.item(plan, operation_kind="deployment_run"), self.deployer)
        self.assertEqual(preprod.module_state(MODULE), ("installed", "18.0.1.1.0"))
        self.confirm(self.item(plan, "S4"), "A second week of key users' work.")
        self.run_item(self.item(plan, "S5"), self.deployer)

        # ---- Approval, planning (R1, R2) ----
        plan.action_approve("Conclusive in pre-production.")
        self.assertEqual(plan.state, "approved")
        self.assertEqual(
            (plan.approval_ids.user_id, plan.approval_ids.iteration), (self.manager, 2)
        )
        plan.scheduled_at = fields.Datetime.now() + timedelta(hours=2)
        self.confirm(self.item(plan, "R1"), "Quiet Saturday morning.")
        self.confirm(self.item(plan, "R2"), "Announced to all users.")
        as_deployer.action_schedule()
        self.assertEqual(plan.state, "scheduled")
        # The go-live has come.
        plan.sudo().scheduled_at = fields.Datetime.now() - timedelta(minutes=1)

        # ---- Deployment day, through its wizard (J1-J5) ----
        wizard = (
            self.env["deployment.day.wizard"]
            .with_user(self.manager)
            .create({"plan_id": plan.id})
        )
        self.assertFalse(wizard.blockers)
        self.click(wizard, "action_start")
        self.assertEqual(plan.state, "deploying")
        self.assertTrue(plan.day_started_at)
        self.assertFalse(wizard.step_id.code)  # users warned and logged off
        wizard.comment = "Everyone logged off at 8:00."
        self.click(wizard, "action_confirm_step")
        self.assertEqual(wizard.step_id.code, "J2")
        self.click(wizard, "action_confirm_step")
        self.assertEqual(wizard.step_id.code, "J1")
        self.click(wizard, "action_run_step")
        chain = plan.current_item_ids.filtered(lambda i: i.state == "running")
        self.assertEqual(chain.mapped("code"), ["J1", "J3", "J4", "J5"])
        self.run_queue()
        for item in chain:
            self.assertEqual(item.state, "done", f"{item.code}: {item.reason}")
        self.assertEqual(wizard.step_id.name, "Key user smoke test done")
        self.assertEqual(self.prod.module_state(MODULE), ("installed", "18.0.1.1.0"))
        self.assertEqual(http_status(self.prod.health_url), 200)
        self.assertEqual(self.prod.rows(WRITTEN), [["1"]])
        self.assertEqual(self.prod.rows(MIGRATED), [], "installed, nothing to migrate")
        backup = chain.filtered(lambda i: i.code == "J1").operation_id.backup_id
        self.assertEqual(backup.state, "verified")
        self.assertIn(backup, plan._backups())
        self.assertEqual(plan.test_run_count, 2)
        wizard.comment = "Key user created a sample partner."
        self.click(wizard, "action_confirm_step")

        # ---- Hypercare ----
        self.assertEqual(plan.state, "hypercare")
        self.assertEqual(plan.day_outcome, "succeeded")
        self.assertTrue(plan.day_ended_at >= plan.day_started_at)
        deployment = chain.filtered(lambda i: i.code == "J3").operation_id
        self.assertGreater(plan.downtime, 0)
        self.assertEqual(plan.downtime, deployment.downtime)
        self.assertTrue(plan.hypercare_until > plan.day_ended_at)
        recovery_op = plan.recovery_operation_id
        self.assertEqual(
            (recovery_op.kind, recovery_op.state, recovery_op.environment_id),
            ("replicate", "queued", plan.recovery_id),
        )
        self.assertEqual(recovery_op.plan_id, plan)
        self.run_queue()
        self.assertEqual(recovery_op.state, "done", recovery_op.error_message)
        # An exact replica in standby: the new module, not neutralized.
        self.assertEqual(recovery.module_state(MODULE), ("installed", "18.0.1.1.0"))
        self.assertEqual(recovery.rows(NEUTRALIZED), [])
        self.assertTrue(
            plan.activity_ids.filtered(lambda a: a.user_id == self.deployer),
            "the support roster has its activity",
        )
        self.confirm(self.item(plan, "A1"), "Deployer on duty all week.")

        plan.sudo().hypercare_next_check_at = fields.Datetime.now() - timedelta(
            minutes=1
        )
        # Something new in production's log since the go-live.
        stamp = fields.Datetime.now().strftime("%Y-%m-%d %H:%M:%S,000")
        with open(self.prod.log, "a") as handle:
            handle.write(
                f"{stamp} 4242 WARNING {self.prod.db} odoo.addons.{MODULE}: "
                "Sample partner without a country\n"
            )
        problem = (
            self.env["deployment.plan.problem"]
            .with_user(self.user)
            .create({"plan_id": plan.id, "name": "A sample partner has no country"})
        )
        self.assertEqual(problem.plan_state, "hypercare")
        before = plan.operation_ids
        self.env["deployment.plan"]._cron_hypercare()
        check = plan.operation_ids - before
        self.assertEqual(
            (check.kind, check.environment_id), ("log_check", self.production)
        )
        self.assertGreater(plan.hypercare_next_check_at, fields.Datetime.now())
        # A2 carries the latest scheduled check and tells how it went.
        watch = self.item(plan, "A2")
        self.assertEqual((watch.state, watch.operation_id), ("running", check))
        self.run_queue()
        self.assertEqual(check.state, "done", check.error_message)
        self.assertEqual(check.plan_id, plan)
        self.assertEqual(watch.state, "done", watch.reason)
        found = plan._findings().filtered(lambda f: f.last_operation_id == check)
        self.assertEqual(found.level, "WARNING")
        self.assertIn("without a country", found.template or found.signature)
        self.assertEqual(plan.problem_count, 1)

        # ---- Lessons learned (A3) and done ----
        plan.write(
            {
                "review_date": fields.Date.today(),
                "review_participant_ids": [(6, 0, (self.manager | self.deployer).ids)],
                "review_outcome": "with_issues",
                "review_went_well": "The deployment day took minutes.",
                "review_went_wrong": "A failing test was waived in iteration 1.",
                "review_action_ids": [
                    (
                        0,
                        0,
                        {
                            "name": "Never waive a test of real data again",
                            "user_id": self.deployer.id,
                        },
                    )
                ],
            }
        )
        self.confirm(self.item(plan, "A3"), "Review held.")
        as_deployer.action_done()
        self.assertEqual(plan.state, "done")
        self.assertTrue(
            plan.activity_ids.filtered(
                lambda a: (
                    a.user_id == self.deployer
                    and a.summary == "Never waive a test of real data again"
                )
            )
        )
        self.assertTrue(plan.review_action_ids.activity_done)

        # The dossier prints; it tells both iterations, and why the first went
        # back (read from the page it printed: Debian's wkhtmltopdf draws the
        # web fonts as shapes, not text).
        report = self.env.ref("deployment_manager.action_report_plan_dossier")
        reports = self.env["ir.actions.report"].with_context(
            force_report_rendering=True, lang="en_US"
        )
        pdf, kind = reports._render_qweb_pdf(report.report_name, plan.ids)
        self.assertEqual(kind, "pdf")
        self.assertTrue(pdf.startswith(b"%PDF"))
        html, _kind = reports._render_qweb_html(report.report_name, plan.ids)
        text = " ".join(html2plaintext(html.decode()).split())
        self.assertIn("Iteration 1", text)
        self.assertIn("Iteration 2", text)
        self.assertIn(reason, text)
        self.assertIn(run.name, text)
        self.assertIn(run2.name, text)
        self.assertEqual(databases_like(self.prod.db + "_tests_"), [])


@tagged("post_install", "-at_install")
class TestPlanDayFailures(PlanRigMixin, TransactionCase):
    """The deployment-day wizard when the deployment fails: a module that
    fails to install (rolled back), an error in the log after the restart
    (retried)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        ensure_cluster()
        ensure_template()
        cls.host = cls._create_ssh_host(cls._start_sshd("127.0.0.70"), "Production")

    def setUp(self):
        super().setUp()
        self.root = tempfile.mkdtemp(prefix="dm_plan_day_")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.prod = make_production(os.path.join(self.root, "production"))
        self.addCleanup(remove_production, self.prod)
        self.production = self.env["deployment.environment"].create(
            production_environment_vals(self.prod, self.host.id, "Production")
            | SAME_DAY_ANNOUNCEMENTS
        )
        self.plan = (
            self.env["deployment.plan"]
            .with_user(self.manager)
            .create(
                {
                    "title": "Broken views",
                    "production_id": self.production.id,
                    "module_ids": [(0, 0, {"name": "dm_sample_broken"})],
                    "source_kind": "zip",
                    "source_zip": zip_data(
                        self.root,
                        "broken.zip",
                        [sample("broken", "dm_sample_broken")],
                    ),
                    "source_zip_filename": "broken.zip",
                    **LOW_RISK,
                }
            )
        )
        # Development, pre-production and planning are the other test's: the
        # plan is put where they leave it, scheduled, its go-live come.
        self.plan.sudo()._start_iteration()
        self.plan.sudo().write(
            {
                "state": "scheduled",
                "scheduled_at": fields.Datetime.now() - timedelta(minutes=1),
            }
        )
        self.plan._create_checklist("deployment_day")
        self.prod.rows(
            "INSERT INTO res_partner (name, complete_name, active, type) "
            "VALUES ('Written before the stop', 'Written before the stop', true, "
            "'contact')"
        )

    def start_day(self):
        """Start, confirm the manual steps, run the automated chain."""
        wizard = (
            self.env["deployment.day.wizard"]
            .with_user(self.manager)
            .create({"plan_id": self.plan.id})
        )
        self.click(wizard, "action_start")
        self.assertEqual(self.plan.state, "deploying")
        for code in (False, "J2"):
            self.assertEqual(wizard.step_id.code, code)
            wizard.comment = "Done."
            self.click(wizard, "action_confirm_step")
        self.assertEqual(wizard.step_id.code, "J1")
        self.click(wizard, "action_run_step")
        self.run_queue()
        wizard.invalidate_recordset()
        return wizard

    def assert_rolled_back(self, deployment):
        plan = self.plan
        self.assertEqual(plan.state, "approved")
        self.assertEqual(plan.day_outcome, "rolled_back")
        self.assertTrue(plan.day_started_at)
        self.assertTrue(plan.day_ended_at)
        self.assertIn("view_that_does_not_exist", plan.day_reason)
        self.assertEqual(deployment.plan_id, plan)
        # Production is as it was: nothing installed, its rows kept, healthy.
        self.assertIn(
            self.prod.module_state("dm_sample_broken")[0], (None, "uninstalled")
        )
        self.assertFalse(
            os.path.exists(os.path.join(self.prod.addons, "dm_sample_broken"))
        )
        self.assertEqual(
            self.prod.rows(
                "SELECT count(*) FROM res_partner "
                "WHERE name = 'Written before the stop'"
            ),
            [["1"]],
        )
        self.assertEqual(http_status(self.prod.health_url), 200)
        # Nothing of the day is left to run; its steps are kept as history
        # and a new go-live gets a fresh checklist.
        self.assertFalse(
            plan.operation_ids.filtered(lambda o: o.state in ("queued", "running"))
        )
        self.assertEqual(plan.phase, "planning")
        self.assertFalse(
            plan.current_item_ids.filtered(lambda i: i.phase == "deployment_day")
        )
        day = plan.with_context(active_test=False).item_ids.filtered(
            lambda i: i.phase == "deployment_day"
        )
        self.assertEqual(
            day.filtered(lambda i: i.code == "J1").state, "done", "backup taken"
        )
        self.assertEqual(day.filtered(lambda i: i.code == "J3").state, "failed")

    def test_failed_install_rolls_production_back(self):
        """Automatic rollback: the deployment rolls itself back, the day
        stops rolled back with the install error, the plan is approved."""
        wizard = self.start_day()
        deployment = self.plan.operation_ids.filtered(
            lambda o: o.kind == "deployment_run"
        )
        self.assertEqual(deployment.state, "failed")
        self.assertIn("Rolled back", deployment.error_message)
        self.assertFalse(wizard.decision_pending)
        self.assert_rolled_back(deployment)
        # A new go-live: a fresh deployment-day checklist; the stopped day's
        # steps stay as history.
        for code in ("R1", "R2"):
            self.confirm(self.item(self.plan, code), "Rescheduled with users.")
        self.plan.with_user(self.manager).action_schedule(
            fields.Datetime.to_string(fields.Datetime.now() + timedelta(days=1))
        )
        self.assertEqual(self.plan.state, "scheduled")
        day = self.plan.current_item_ids
        self.assertEqual(len(day), 7)
        self.assertEqual(set(day.mapped("phase")), {"deployment_day"})
        self.assertEqual(set(day.mapped("state")), {"todo"})
        archived = self.plan.with_context(active_test=False).item_ids.filtered(
            lambda i: not i.active
        )
        self.assertEqual(len(archived), 7)

    def test_failed_install_rolled_back_on_a_managers_decision(self):
        """Rollback on confirmation: the wizard offers Roll back; the
        manager's reason is journaled, the rollback runs, the day stops the
        same way."""
        self.production.rollback_policy = "confirm"
        wizard = self.start_day()
        self.assertEqual(self.plan.state, "deploying")
        self.assertEqual(wizard.step_id.code, "J3")
        self.assertEqual(wizard.step_state, "failed")
        self.assertTrue(wizard.decision_pending)
        self.assertIn("view_that_does_not_exist", wizard.step_reason)
        deployment = wizard.step_id.operation_id
        with self.assertRaises(UserError):
            self.click(wizard, "action_rollback")  # no reason given
        wizard.reason = "The module's view inherits one that does not exist."
        self.click(wizard, "action_rollback")
        self.assertEqual(deployment.decision, "rolled_back")
        self.run_queue()
        rollback = deployment.follow_up_id
        self.assertEqual(
            (rollback.kind, rollback.state),
            ("rollback", "done"),
            rollback.error_message,
        )
        self.assertEqual(rollback.plan_id, self.plan)
        self.assertIn(
            "The module's view inherits one that does not exist.",
            " ".join(self.plan.message_ids.mapped("body")),
        )
        self.assert_rolled_back(deployment)

    def test_error_in_the_log_retried_after_examination(self):
        """Rollback on confirmation: a new error in production's log after the
        restart fails the deployment's log check; the error examined, the
        manager retries with a reason, the check passes, the day goes on and
        records the downtime of the deployment it retried."""
        self.production.rollback_policy = "confirm"
        self.plan.module_ids.name = NOISY_MODULE
        self.plan.sudo().write(
            {
                "source_zip": zip_data(
                    self.root, "noisy.zip", [noisy_sample(self.root)]
                ),
                "source_zip_filename": "noisy.zip",
            }
        )
        wizard = self.start_day()
        self.assertEqual(self.plan.state, "deploying")
        self.assertEqual(wizard.step_id.code, "J3")
        self.assertTrue(wizard.decision_pending)
        self.assertIn("new error", wizard.step_reason)
        deployment = wizard.step_id.operation_id
        self.assertEqual(self.prod.module_state(NOISY_MODULE)[0], "installed")
        wizard.reason = "The printer is not used yet: the error is harmless."
        self.click(wizard, "action_retry")
        self.assertEqual(deployment.decision, "retried")
        self.run_queue()
        resumed = deployment.follow_up_id
        self.assertEqual(
            (resumed.kind, resumed.state),
            ("deployment_resume", "done"),
            resumed.error_message,
        )
        self.assertEqual(resumed.plan_id, self.plan)
        self.assertEqual(wizard.step_id.code, "J4", wizard.step_reason)
        self.assertGreater(self.plan.downtime, 0)
        self.assertEqual(self.plan.downtime, resumed.downtime)
        self.click(wizard, "action_run_step")
        self.run_queue()
        self.assertEqual(wizard.step_id.name, "Key user smoke test done")
        wizard.comment = "Partners open fine."
        self.click(wizard, "action_confirm_step")
        self.assertEqual(self.plan.state, "hypercare")
        self.assertEqual(self.plan.day_outcome, "succeeded")
        self.assertEqual(
            self.prod.module_state(NOISY_MODULE), ("installed", "18.0.1.0.0")
        )
        self.assertEqual(http_status(self.prod.health_url), 200)

    def test_abort_cancels_queued_steps_not_one_under_way(self):
        """Run is for automated steps; Abort cancels the chain not started yet,
        but not while a step is under way on production."""
        wizard = (
            self.env["deployment.day.wizard"]
            .with_user(self.manager)
            .create({"plan_id": self.plan.id})
        )
        self.click(wizard, "action_start")
        with self.assertRaises(UserError):
            self.click(wizard, "action_run_step")  # users warned: a person's
        for _code in (False, "J2"):
            self.click(wizard, "action_confirm_step")
        self.click(wizard, "action_run_step")
        chain = self.plan.operation_ids
        self.assertEqual(set(chain.mapped("state")), {"queued"})
        # A runner claimed the backup (what the cron does first).
        backup = chain.filtered(lambda o: o.kind == "backup")
        backup.sudo().write({"state": "running"})
        wizard.reason = "The warehouse is still shipping."
        with self.assertRaises(UserError) as caught:
            self.click(wizard, "action_abort")
        self.assertIn("under way", str(caught.exception))
        self.assertEqual(self.plan.state, "deploying")
        backup.sudo().write({"state": "queued"})
        self.click(wizard, "action_abort")
        self.assertEqual(
            (self.plan.state, self.plan.day_outcome, self.plan.day_reason),
            ("approved", "aborted", "The warehouse is still shipping."),
        )
        self.assertEqual(set(chain.mapped("state")), {"cancelled"})
        self.assertEqual(self.prod.module_state("dm_sample_broken"), (None, None))
        self.assertEqual(http_status(self.prod.health_url), 200)

    def test_failed_rollback_leaves_the_day_open(self):
        """A rollback that fails does not say production was rolled back: the
        day stays open on its failed step, said on the plan, until a person
        repaired production and aborts it with why."""
        self.production.rollback_policy = "confirm"
        wizard = self.start_day()
        self.assertTrue(wizard.decision_pending)
        deployment = wizard.step_id.operation_id
        # The rollback point is lost (a full disk, a person's mistake).
        drop_database(deployment.rollback_data["point"]["database"])
        wizard.reason = "Roll back the broken views."
        self.click(wizard, "action_rollback")
        self.run_queue()
        rollback = deployment.follow_up_id
        self.assertEqual(rollback.kind, "rollback")
        self.assertEqual(rollback.state, "failed")
        self.assertEqual(self.plan.state, "deploying")
        self.assertFalse(self.plan.day_outcome)
        self.assertIn(
            "The rollback of J3 Deploy the new module to production failed",
            " ".join(self.plan.message_ids.mapped("body")),
        )
        self.assertEqual(wizard.step_id.code, "J3")
        self.assertEqual(wizard.step_state, "failed")
        # Production repaired by hand (from the J1 backup): the day is aborted.
        wizard.reason = "Production restored by hand from the J1 backup."
        self.click(wizard, "action_abort")
        self.assertEqual(
            (self.plan.state, self.plan.day_outcome, self.plan.day_reason),
            ("approved", "aborted", "Production restored by hand from the J1 backup."),
        )
