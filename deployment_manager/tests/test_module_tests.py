# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The new module's tests on real data (D4, D5) through the models: a
development environment on a real Odoo database over SSH, the results
stored as test documentation and printed."""

import base64
import io
import tempfile

from PyPDF2 import PdfReader

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged
from odoo.tools import html2plaintext

from ..ops.tests.production import databases_like
from .common import (
    DeploymentTestMixin,
    development_environment_vals,
    make_tested_development,
    production_environment_vals,
)


def pdf_text(pdf):
    reader = PdfReader(io.BytesIO(pdf))
    # The PDF's words, whatever spacing wkhtmltopdf gave them.
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


@tagged("post_install", "-at_install")
class TestModuleTests(DeploymentTestMixin, HttpCase):
    # An HttpCase: wkhtmltopdf fetches the report's styles from the test
    # server, which then reads the test's own transaction.
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.host = cls._create_ssh_host(cls._start_sshd("127.0.0.21"))
        root = tempfile.mkdtemp(prefix="dm_module_tests_")
        cls.dev = make_tested_development(root, cls.addClassCleanup)
        cls.development = cls.env["deployment.environment"].create(
            development_environment_vals(cls.dev, cls.host.id, "Development")
        )
        # Production has a server of its own: the development host must carry
        # nothing of production's for a deployer to run tests there.
        production_host = cls.env["deployment.host"].create(
            {"name": "Production server", "kind": "ssh", "hostname": "127.0.0.99"}
        )
        cls.production = cls.env["deployment.environment"].create(
            {
                **production_environment_vals(
                    cls.dev, production_host.id, "Production"
                ),
                "db_name": "dm_production_elsewhere",
            }
        )

    def run_tests(self, module="dm_sample_tested"):
        wizard = (
            self.env["deployment.test.wizard"]
            .with_user(self.deployer)
            .create({"environment_id": self.development.id, "module": module})
        )
        wizard.action_confirm()
        self.run_queue()
        operation = self.last_operation(environment_id=self.development.id)
        self.assertEqual(operation.state, "done", operation.error_message)
        return operation, self.env["deployment.test.run"].search(
            [("operation_id", "=", operation.id)]
        )

    def render(self, run, lang):
        """The report printed to PDF, and the words of the page it was made of.

        Debian's wkhtmltopdf draws the web fonts as shapes: only the
        monospaced tracebacks stay text in the PDF, so the page's words are
        read from the HTML it printed.
        """
        report = self.env.ref("deployment_manager.action_report_test_run")
        reports = self.env["ir.actions.report"].with_context(
            force_report_rendering=True, lang=lang
        )
        pdf, kind = reports._render_qweb_pdf(report.report_name, run.ids)
        self.assertEqual(kind, "pdf")
        self.assertTrue(pdf.startswith(b"%PDF"))
        self.assertEqual(len(PdfReader(io.BytesIO(pdf)).pages), 1)
        html, _kind = reports._render_qweb_html(report.report_name, run.ids)
        return pdf_text(pdf), " ".join(html2plaintext(html.decode()).split())

    def test_one_passing_one_failing_test_documented_and_printed(self):
        """A user runs the sample module's tests from the development
        environment: exactly one passed and one failed test are recorded, with
        the failure's traceback and the full log, and the report prints in
        English and in French with the manual test cases beside them."""
        operation, run = self.run_tests()
        self.assertEqual(len(run), 1)
        self.assertEqual(run.verdict, "failed")
        self.assertEqual(run.mode, "install")
        self.assertEqual(run.database, self.dev.db)
        self.assertEqual(
            (run.test_count, run.passed_count, run.failed_count, run.error_count),
            (2, 1, 1, 0),
        )
        lines = {line.method: line for line in run.line_ids}
        self.assertEqual(lines["test_partner_is_created"].status, "passed")
        failed = lines["test_fails_on_purpose"]
        self.assertEqual(failed.status, "failed")
        self.assertIn(
            "AssertionError: 0 != 1 : this test fails on purpose", failed.traceback
        )
        self.assertIn("1 passed, 1 failed", operation.result_summary)
        log = base64.b64decode(run.log_attachment_id.datas).decode()
        self.assertIn("Starting TestSample.test_fails_on_purpose", log)
        # The log lives in its attachment, not in the operation's result.
        self.assertEqual(operation.result_data["log"], "", "the log is kept only once")
        self.assertEqual(operation.result_data["test_run_id"], run.id)
        # The throwaway copy is gone; the development database never had it.
        self.assertEqual(
            [name for name in databases_like(self.dev.db) if "_tests_" in name], []
        )
        self.assertEqual(self.dev.module_state("dm_sample_tested"), (None, None))

        case = (
            self.env["deployment.test.case"]
            .with_user(self.user)
            .create(
                {
                    "name": "Create a partner by hand",
                    "module": "dm_sample_tested",
                    "environment_id": self.development.id,
                    "run_id": run.id,
                    "steps": "Contacts > New, name Sample partner, save",
                    "expected": "The partner is listed",
                    "observed": "Listed at once",
                    "result": "passed",
                }
            )
        )
        self.assertEqual(case.tester_id, self.user)
        self.assertEqual(run.test_case_ids, case)

        pdf, english = self.render(run, "en_US")
        self.assertIn("AssertionError: 0 != 1 : this test fails on purpose", pdf)
        self.assertIn("Test report: dm_sample_tested", english)
        self.assertIn("1 passed, 1 failed, 0 in error, 0 skipped", english)
        self.assertIn("test_fails_on_purpose", english)
        self.assertIn("Create a partner by hand", english)

        self.env["res.lang"]._activate_lang("fr_FR")
        self.env["ir.module.module"].search(
            [("name", "=", "deployment_manager")]
        )._update_translations(filter_lang=["fr_FR"])
        pdf, french = self.render(run, "fr_FR")
        self.assertIn("AssertionError: 0 != 1 : this test fails on purpose", pdf)
        self.assertIn("Rapport de tests : dm_sample_tested", french)
        self.assertIn("1 réussis, 1 échoués, 0 en erreur, 0 ignorés", french)
        self.assertIn("Cas de test manuels", french)
        self.assertIn("Create a partner by hand", french)

    def test_users_edit_only_their_own_test_cases(self):
        case = (
            self.env["deployment.test.case"]
            .with_user(self.manager)
            .create(
                {
                    "name": "Manager's case",
                    "module": "dm_sample_tested",
                    "environment_id": self.development.id,
                    "steps": "Try",
                    "expected": "Works",
                }
            )
        )
        case.with_user(self.user).read(["name"])
        with self.assertRaises(AccessError):
            case.with_user(self.user).write({"result": "passed"})

    def test_tests_never_run_on_production(self):
        with self.assertRaises(UserError):
            self.production.with_user(self.manager).action_run_module_tests()
        wizard = (
            self.env["deployment.test.wizard"]
            .with_user(self.manager)
            .create(
                {"environment_id": self.production.id, "module": "dm_sample_tested"}
            )
        )
        with self.assertRaises(UserError):
            wizard.action_confirm()
        self.assertFalse(self.last_operation(environment_id=self.production.id))

    def test_bad_module_name_is_refused_before_anything_is_queued(self):
        wizard = (
            self.env["deployment.test.wizard"]
            .with_user(self.deployer)
            .create({"environment_id": self.development.id, "module": "x; rm -rf /"})
        )
        with self.assertRaises(UserError):
            wizard.action_confirm()
        self.assertFalse(self.last_operation(environment_id=self.development.id))
