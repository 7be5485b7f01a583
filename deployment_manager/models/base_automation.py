# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import _, api, models
from odoo.exceptions import ValidationError

# Triggers that fire on every write of the record unless told which fields
# to watch.
SAVE_TRIGGERS = ("on_write", "on_create_or_write")


class BaseAutomation(models.Model):
    _inherit = "base.automation"

    @api.constrains("trigger", "trigger_field_ids", "action_server_ids")
    def _check_deployment_operation_trigger(self):
        for rule in self:
            problem = rule._deployment_trigger_problem()
            if problem:
                raise ValidationError(problem)

    def _deployment_trigger_problem(self):
        """Why this rule may not run deployment operations, or None."""
        self.ensure_one()
        if not self.action_server_ids.filtered(
            lambda action: action.state == "deployment_operation"
        ):
            return None
        if self.trigger == "on_unlink":
            return _(
                "The rule “%s” cannot run a deployment operation on a record "
                "being deleted.",
                self.name,
            )
        if self.trigger in SAVE_TRIGGERS and not self.trigger_field_ids:
            # Operations write their results on their environment: a rule
            # watching every field would run again after each of them.
            return _(
                "The rule “%s” runs a deployment operation when a record is saved: "
                "name the fields whose change runs it (operations write their "
                "results on the environment, which would run the rule again).",
                self.name,
            )
        return None
