# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What the module changed on pre-production (issue 11, S5), on the plan.

A ``module_changes`` operation compares pre-production's database after the
plan's deployment with that deployment's rollback point; the plan shows the
latest one's summary and flags.
"""

from odoo import api, fields, models
from odoo.exceptions import UserError


class DeploymentPlan(models.Model):
    _inherit = "deployment.plan"

    module_change_operation_id = fields.Many2one(
        "deployment.operation",
        string="Changes checked by",
        compute="_compute_module_changes",
    )
    module_change_summary = fields.Text(
        string="What the module changed", compute="_compute_module_changes"
    )
    module_adds_scheduled_actions = fields.Boolean(
        string="Adds scheduled actions", compute="_compute_module_changes"
    )
    module_adds_outgoing_mail = fields.Boolean(
        string="Adds outgoing mail", compute="_compute_module_changes"
    )

    @api.depends(
        "operation_ids.kind",
        "operation_ids.state",
        "operation_ids.result_summary",
        "operation_ids.result_data",
    )
    def _compute_module_changes(self):
        for plan in self:
            done = plan.operation_ids.filtered(
                lambda o: o.kind == "module_changes" and o.state == "done"
            ).sorted(lambda o: (o.finished_at or fields.Datetime.now(), o.id))
            latest = done[-1:]
            data = latest.result_data or {}
            plan.module_change_operation_id = latest
            plan.module_change_summary = latest.result_summary or False
            plan.module_adds_scheduled_actions = bool(
                data.get("adds_scheduled_actions")
            )
            plan.module_adds_outgoing_mail = bool(data.get("adds_outgoing_mail"))

    def _latest_preproduction_deployment(self):
        self.ensure_one()
        deployments = self.operation_ids.filtered(
            lambda o: (
                o.kind == "deployment_run"
                and o.state == "done"
                and o.environment_id == self.preproduction_id
            )
        )
        return deployments.sorted(
            lambda o: (o.finished_at or fields.Datetime.now(), o.id)
        )[-1:]

    def action_check_module_changes(self):
        """Queue the comparison of pre-production with its rollback point."""
        self.ensure_one()
        self._check_deployer()
        if not self.preproduction_id:
            raise UserError(self.env._("Choose the pre-production environment first."))
        deployment = self._latest_preproduction_deployment()
        if not deployment:
            raise UserError(
                self.env._(
                    "The module was not deployed on %(environment)s by this plan "
                    "yet: there is nothing to compare.",
                    environment=self.preproduction_id.name,
                )
            )
        operation = (
            self.env["deployment.operation"]
            .with_context(deployment_plan_id=self.id)
            ._enqueue(
                "module_changes",
                environment=self.preproduction_id,
                params={"operation_id": deployment.id},
            )
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": "deployment.operation",
            "res_id": operation.id,
            "view_mode": "form",
            "target": "current",
        }
