# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What a production landscape says about its deployment plans, and the
plans an environment takes part in."""

from odoo import _, fields, models

PLAN_ROLE_FIELDS = (
    "production_id",
    "development_id",
    "preproduction_id",
    "recovery_id",
)


class DeploymentEnvironment(models.Model):
    _inherit = "deployment.environment"

    plan_approvals_needed = fields.Integer(
        string="Approvals to leave pre-production",
        default=1,
        help="How many deployment managers approve a plan of this landscape "
        "before it may be scheduled.",
    )
    plan_hypercare_days = fields.Integer(
        string="Hypercare (days)",
        default=7,
        help="How long after go-live a plan of this landscape is watched: "
        "support roster on duty, production's log checked on schedule.",
    )
    plan_count = fields.Integer(compute="_compute_plan_count")

    def _plan_domain(self):
        domain = []
        for field in PLAN_ROLE_FIELDS:
            domain = (
                ["|", *domain, (field, "=", self.id)]
                if domain
                else [(field, "=", self.id)]
            )
        return domain

    def _compute_plan_count(self):
        Plan = self.env["deployment.plan"]
        for environment in self:
            environment.plan_count = (
                Plan.search_count(environment._plan_domain()) if environment.id else 0
            )

    def action_view_plans(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Deployment plans of %s", self.name),
            "res_model": "deployment.plan",
            "view_mode": "kanban,list,form,calendar",
            "domain": self._plan_domain(),
            "context": {"default_production_id": self.landscape_id.id},
        }
