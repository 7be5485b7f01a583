# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import api, fields, models

STEP_STATES = [
    ("pending", "Pending"),
    ("running", "Running"),
    ("done", "Done"),
    ("failed", "Failed"),
    ("skipped", "Skipped"),
]


class DeploymentOperationStep(models.Model):
    """One step of an operation, timed."""

    _name = "deployment.operation.step"
    _description = "Deployment Operation Step"
    _order = "operation_id, sequence, id"

    operation_id = fields.Many2one(
        "deployment.operation", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer()
    name = fields.Char(required=True, translate=False)
    state = fields.Selection(STEP_STATES, default="pending", required=True)
    started_at = fields.Datetime()
    finished_at = fields.Datetime()
    duration = fields.Float(compute="_compute_duration", help="Seconds.")
    message = fields.Char()

    @api.depends("started_at", "finished_at")
    def _compute_duration(self):
        for step in self:
            if step.started_at and step.finished_at:
                step.duration = (step.finished_at - step.started_at).total_seconds()
            else:
                step.duration = 0.0
