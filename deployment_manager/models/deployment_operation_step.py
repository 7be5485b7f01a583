# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from datetime import datetime, timezone

from odoo import api, fields, models

STEP_STATES = [
    ("pending", "Pending"),
    ("running", "Running"),
    ("done", "Done"),
    ("failed", "Failed"),
    ("skipped", "Skipped"),
]
TIMES = ("started_at", "finished_at")


def _with_fraction(vals):
    """The values, with a time written as "now" given its fraction of a second.

    The journal stamps steps with ``fields.Datetime.now()``, which drops the
    fraction: a 0.4 s dump would last 0 s. A time of the current second is that
    call's, so the precise time replaces it; the column keeps microseconds.
    """
    now = datetime.now()
    for name in TIMES:
        value = vals.get(name)
        if isinstance(value, datetime) and value == now.replace(microsecond=0):
            vals = dict(vals, **{name: now})
    return vals


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
    key = fields.Char(
        index=True,
        help="Stable name of the step (its English label as a slug), the same in "
        "every language: checklist items point at steps by it.",
    )
    state = fields.Selection(STEP_STATES, default="pending", required=True)
    started_at = fields.Datetime()
    finished_at = fields.Datetime()
    duration = fields.Float(compute="_compute_duration", help="Seconds.")
    started_at_seconds = fields.Float(
        string="Started",
        compute="_compute_started_at_seconds",
        help="The start time as seconds since 1970 (UTC), to the microsecond: the "
        "steps' list shows it to the tenth of a second.",
    )
    message = fields.Char()

    @api.model_create_multi
    def create(self, vals_list):
        return super().create([_with_fraction(vals) for vals in vals_list])

    def write(self, vals):
        return super().write(_with_fraction(vals))

    @api.depends("started_at", "finished_at")
    def _compute_duration(self):
        for step in self:
            if step.started_at and step.finished_at:
                step.duration = (step.finished_at - step.started_at).total_seconds()
            else:
                step.duration = 0.0

    @api.depends("started_at")
    def _compute_started_at_seconds(self):
        for step in self:
            step.started_at_seconds = (
                step.started_at.replace(tzinfo=timezone.utc).timestamp()
                if step.started_at
                else 0.0
            )
