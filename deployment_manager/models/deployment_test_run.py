# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import base64

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

VERDICTS = [
    ("passed", "Passed"),
    ("failed", "Failed"),
    ("error", "Error"),
]
LINE_STATUSES = [
    ("passed", "Passed"),
    ("failed", "Failed"),
    ("error", "Error"),
    ("skipped", "Skipped"),
]


class DeploymentTestRun(models.Model):
    """The automated tests of a module, run on a throwaway copy of an
    environment's database (BRIEF D4, D5): test documentation, written by
    the operation that ran them, read by everybody who judges the module."""

    _name = "deployment.test.run"
    _description = "Module Test Run"
    _inherit = ["mail.thread"]  # noqa: RUF012 - Odoo model attribute
    _order = "id desc"

    name = fields.Char(readonly=True, default="/", copy=False)
    module = fields.Char(required=True, readonly=True, index=True)
    environment_id = fields.Many2one(
        "deployment.environment", required=True, readonly=True, ondelete="cascade"
    )
    company_id = fields.Many2one(related="environment_id.company_id", store=True)
    operation_id = fields.Many2one(
        "deployment.operation", readonly=True, ondelete="set null"
    )
    requested_by_id = fields.Many2one("res.users", readonly=True)
    run_at = fields.Datetime(string="Run on", readonly=True)
    duration = fields.Float(string="Duration (s)", readonly=True)
    mode = fields.Selection(
        [("install", "Install"), ("upgrade", "Upgrade")], readonly=True
    )
    database = fields.Char(
        string="Copied from", readonly=True, help="The database the copy was made of."
    )
    copy_database = fields.Char(
        string="Throwaway copy", readonly=True, help="Dropped once the tests ended."
    )
    verdict = fields.Selection(VERDICTS, required=True, readonly=True, tracking=True)
    line_ids = fields.One2many(
        "deployment.test.run.line", "run_id", string="Tests", readonly=True
    )
    test_count = fields.Integer(
        string="Number of tests", compute="_compute_counts", store=True
    )
    passed_count = fields.Integer(
        string="Passed", compute="_compute_counts", store=True
    )
    failed_count = fields.Integer(
        string="Failed", compute="_compute_counts", store=True
    )
    error_count = fields.Integer(string="Errors", compute="_compute_counts", store=True)
    skipped_count = fields.Integer(
        string="Skipped", compute="_compute_counts", store=True
    )
    run_errors = fields.Text(
        string="Errors outside the tests",
        readonly=True,
        help="What kept the tests from running (the module failed to install, "
        "Odoo stopped…), read from the log.",
    )
    notes = fields.Text(readonly=True)
    log_attachment_id = fields.Many2one(
        "ir.attachment", string="Full log", readonly=True, ondelete="set null"
    )
    test_case_ids = fields.One2many(
        "deployment.test.case", "run_id", string="Manual test cases"
    )

    @api.depends("line_ids.status")
    def _compute_counts(self):
        for run in self:
            statuses = run.line_ids.mapped("status")
            run.test_count = len(statuses)
            run.passed_count = statuses.count("passed")
            run.failed_count = statuses.count("failed")
            run.error_count = statuses.count("error")
            run.skipped_count = statuses.count("skipped")

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("name", "/") == "/":
                vals["name"] = self.env["ir.sequence"].next_by_code(
                    "deployment.test.run"
                )
        return super().create(vals_list)

    @api.model
    def _create_from_result(self, operation, result):
        """The record of a test run, from a ModuleTestsResult.

        The full log goes into an attachment (the kind keeps no copy of it).
        """
        log = result.log
        lines = [
            fields.Command.create(
                {
                    "sequence": index,
                    "test_module": line["test_module"],
                    "test_class": line["test_class"],
                    "method": line["method"],
                    "status": line["status"],
                    "duration": line["duration"],
                    "queries": line["queries"],
                    "message": line["message"],
                    "traceback": line["traceback"] or False,
                    "logged_errors": "\n".join(line["logged_errors"]) or False,
                }
            )
            for index, line in enumerate(result.tests)
        ]
        run = self.create(
            {
                "module": result.module,
                "environment_id": operation.environment_id.id,
                "operation_id": operation.id,
                "requested_by_id": operation.requested_by_id.id,
                "run_at": operation.started_at,
                "duration": (
                    fields.Datetime.now() - operation.started_at
                ).total_seconds(),
                "mode": result.mode,
                "database": result.database,
                "copy_database": result.copy,
                "verdict": result.verdict,
                "run_errors": "\n".join(result.errors) or False,
                "notes": "\n".join(result.notes) or False,
                "line_ids": lines,
            }
        )
        run.log_attachment_id = self.env["ir.attachment"].create(
            {
                "name": f"{run.name.replace('/', '-')}-{run.module}.log",
                "res_model": self._name,
                "res_id": run.id,
                "mimetype": "text/plain",
                "datas": base64.b64encode(log.encode()),
            }
        )
        return run

    def _summary(self):
        self.ensure_one()
        if self.verdict == "error":
            return _(
                "Tests of %(module)s could not run: %(errors)s",
                module=self.module,
                errors=(self.run_errors or "").split("\n", 1)[0],
            )
        return _(
            "Tests of %(module)s (%(run)s): %(passed)s passed, %(failed)s failed, "
            "%(errors)s in error, %(skipped)s skipped.",
            module=self.module,
            run=self.name,
            passed=self.passed_count,
            failed=self.failed_count,
            errors=self.error_count,
            skipped=self.skipped_count,
        )

    def action_print(self):
        return self.env.ref("deployment_manager.action_report_test_run").report_action(
            self
        )


class DeploymentTestRunLine(models.Model):
    _name = "deployment.test.run.line"
    _description = "Module Test Result"
    _order = "run_id, sequence, id"

    run_id = fields.Many2one(
        "deployment.test.run", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer()
    test_module = fields.Char(string="Test file")
    test_class = fields.Char(string="Test class")
    method = fields.Char(string="Test")
    status = fields.Selection(LINE_STATUSES, required=True)
    duration = fields.Float(string="Duration (s)", digits=(16, 3))
    queries = fields.Integer()
    message = fields.Char(help="The exception, or why the test was skipped.")
    traceback = fields.Text()
    logged_errors = fields.Text(help="ERROR records logged while the test ran.")
    waiver_reason = fields.Text(
        readonly=True, help="Why a manager accepted this failure."
    )
    waived_by_id = fields.Many2one("res.users", string="Waived by", readonly=True)
    waived_at = fields.Datetime(readonly=True)

    def action_waive(self, reason):
        """A manager accepts a failed test, saying why (a plan's gate then
        lets the module go on with it); recorded on the test run."""
        if not self.env.user.has_group("deployment_manager.group_deployment_manager"):
            raise AccessError(_("Only deployment managers waive a failed test."))
        if not (reason or "").strip():
            raise UserError(_("Say why the failure is waived."))
        for line in self:
            if line.status not in ("failed", "error"):
                raise UserError(_("%s did not fail: nothing to waive.", line.method))
            line.sudo().write(
                {
                    "waiver_reason": reason.strip(),
                    "waived_by_id": self.env.user.id,
                    "waived_at": fields.Datetime.now(),
                }
            )
            line.run_id.message_post(
                body=_(
                    "Failure of %(test)s waived by %(user)s: %(reason)s",
                    test=line.method,
                    user=self.env.user.name,
                    reason=reason.strip(),
                )
            )
        items = self.env["deployment.checklist.item"].search(
            [
                ("operation_id", "in", self.run_id.operation_id.ids),
                ("state", "=", "failed"),
            ]
        )
        items.action_recheck()
        return True

    def action_open_waive(self):
        """The form asking a manager why this failed test is waived."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Waive a failed test"),
            "res_model": "deployment.plan.reason.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_test_line_id": self.id,
                "default_action": "waive_test",
            },
        }
