# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import _, fields, models
from odoo.exceptions import AccessError

LOG_LEVELS = [("WARNING", "Warning"), ("ERROR", "Error"), ("CRITICAL", "Critical")]


class DeploymentLogFinding(models.Model):
    """A kind of problem found in an environment's Odoo log (J5, A2).

    One record per signature (logger, normalised message, exception type):
    the log checks add up its occurrences, so a problem seen before is told
    apart from a new one.
    """

    _name = "deployment.log.finding"
    _description = "Log finding"
    _order = "last_seen desc, id desc"

    environment_id = fields.Many2one(
        "deployment.environment", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="environment_id.company_id", store=True)
    signature = fields.Char(required=True, index=True, readonly=True)
    template = fields.Text(string="Message pattern", readonly=True)
    level = fields.Selection(LOG_LEVELS, readonly=True)
    logger = fields.Char(readonly=True)
    exception_type = fields.Char(readonly=True)
    count = fields.Integer(string="Occurrences", readonly=True)
    first_seen = fields.Char(
        readonly=True, help="Time of the first occurrence in the log."
    )
    last_seen = fields.Char(
        readonly=True, help="Time of the last occurrence in the log."
    )
    first_operation_id = fields.Many2one(
        "deployment.operation", string="Found by", readonly=True
    )
    last_operation_id = fields.Many2one(
        "deployment.operation", string="Last seen by", readonly=True
    )
    sample_message = fields.Text(readonly=True)
    sample_traceback = fields.Text(readonly=True)
    known = fields.Boolean(
        help="Examined and accepted: a known finding does not notify again."
    )

    _sql_constraints = [  # noqa: RUF012 - Odoo model attribute
        (
            "signature_per_environment",
            "UNIQUE(environment_id, signature)",
            "A signature is recorded once per environment.",
        )
    ]

    def write(self, vals):
        # Users only acknowledge findings; what was found is the log checks' to say.
        if not self.env.su and set(vals) - {"known"}:
            raise AccessError(_("Log findings are written by the log checks."))
        return super().write(vals)

    def action_mark_known(self):
        """Mark the findings as examined and accepted."""
        self.write({"known": True})
        return True

    def action_mark_unknown(self):
        self.write({"known": False})
        return True
