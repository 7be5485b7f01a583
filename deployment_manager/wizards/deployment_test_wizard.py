# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..remote import InvalidInput, validate_module_name


class DeploymentTestWizard(models.TransientModel):
    """Run a module's own tests on a throwaway copy of an environment's database."""

    _name = "deployment.test.wizard"
    _description = "Run a module's tests"

    environment_id = fields.Many2one("deployment.environment", required=True)
    module = fields.Char(
        required=True,
        help="Technical name of the module whose tests run, e.g. my_new_module.",
    )
    mode = fields.Selection(
        [
            ("auto", "Install or upgrade, as the copy needs"),
            ("install", "Install"),
            ("upgrade", "Upgrade"),
        ],
        required=True,
        default="auto",
    )

    @api.onchange("module")
    def _onchange_module(self):
        if self.module:
            self.module = self.module.strip()

    def action_confirm(self):
        self.ensure_one()
        try:
            module = validate_module_name((self.module or "").strip(), field="module")
        except InvalidInput:
            raise UserError(
                _(
                    "%s is not a module's technical name (lowercase letters, "
                    "digits and underscores).",
                    self.module,
                )
            ) from None
        self.environment_id.action_run_module_tests()  # refuses production
        return self.env["deployment.operation"]._request(
            "module_tests",
            environment=self.environment_id,
            params={"module": module, "mode": self.mode},
        )
