# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Operations run for a deployment plan: which plan, and the checklist items
that end with them."""

from odoo import fields, models

ENDED = ("done", "failed", "cancelled", "interrupted")


class DeploymentOperation(models.Model):
    _inherit = "deployment.operation"

    plan_id = fields.Many2one(
        "deployment.plan",
        string="Deployment plan",
        readonly=True,
        index=True,
        ondelete="set null",
    )

    def _enqueue(
        self, kind, host=None, environment=None, backup=None, params=None, **kwargs
    ):
        operation = super()._enqueue(
            kind,
            host=host,
            environment=environment,
            backup=backup,
            params=params,
            **kwargs,
        )
        plan_id = self.env.context.get("deployment_plan_id")
        depends_on = kwargs.get("depends_on")
        if not plan_id and depends_on:
            plan_id = depends_on.plan_id.id
        if plan_id:
            operation.sudo().plan_id = plan_id
        return operation

    def _decide(self, decision, reason=False, follow_up=None):
        """A follow-up (retry, rollback) belongs to the plan and carries on
        the checklist item of the failed deployment."""
        result = super()._decide(decision, reason=reason, follow_up=follow_up)
        if follow_up and self.plan_id:
            follow_up.sudo().plan_id = self.plan_id
            items = (
                self.env["deployment.checklist.item"]
                .sudo()
                .search([("operation_id", "=", self.id)])
            )
            items.write(
                {
                    "state": "running",
                    "operation_id": follow_up.id,
                    "operation_ids": [(4, follow_up.id)],
                }
            )
        return result

    def write(self, vals):
        result = super().write(vals)
        if vals.get("state") in ENDED:
            for operation in self.filtered("plan_id"):
                items = (
                    self.env["deployment.checklist.item"]
                    .sudo()
                    .search([("operation_id", "=", operation.id)])
                )
                items._operation_ended(operation)
        return result
