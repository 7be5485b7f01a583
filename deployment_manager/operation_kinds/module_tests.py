# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import dataclasses

from .. import ops
from ..ops.context import OperationFailed
from ..ops.results import ModuleTestsResult
from . import access
from .base import OperationKind, register
from .requests import ModuleTestsRequest


@register
class ModuleTests(OperationKind):
    """The new module's tests on a throwaway copy of real data (D4, D5)."""

    code = "module_tests"
    label = "Module tests"
    level = access.DEPLOYER
    changes_target = False
    request_type = ModuleTestsRequest
    result_type = ModuleTestsResult

    def resumes_after_worker_death(self, op):
        # Its copy is named by the operation's stamp: taken up again, it
        # finds the copy and re-attaches to its commands.
        return True

    def run(self, op, journal):
        environment = op.environment_id
        if environment._holds_production_data():
            raise OperationFailed(
                op.env._(
                    "Tests never run on production's server: use a development copy."
                )
            )
        request = self.request(op)
        return ops.run_module_tests(
            journal,
            journal.transport(),
            environment._spec(),
            request.module,
            stamp=op._stamp(),
            mode=request.mode or "auto",
        )

    def apply_result(self, op, result):
        run = op.env["deployment.test.run"].sudo()._create_from_result(op, result)
        return run._summary()

    def kept_result(self, op, result):
        # The log went into the test run's attachment: no copy here.
        run = (
            op.env["deployment.test.run"]
            .sudo()
            .search([("operation_id", "=", op.id)], limit=1)
        )
        return dataclasses.replace(result, log="", test_run_id=run.id or None)
