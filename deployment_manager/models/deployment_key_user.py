# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Key users (S4): who knows each application of a production landscape
well enough to try a new module on pre-production for a week."""

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class DeploymentKeyUser(models.Model):
    _name = "deployment.key.user"
    _description = "Key User"
    _order = "production_id, module, name"

    production_id = fields.Many2one(
        "deployment.environment",
        string="Production",
        required=True,
        ondelete="cascade",
        domain=[("environment_type", "=", "production")],
    )
    company_id = fields.Many2one(related="production_id.company_id", store=True)
    module = fields.Char(
        string="Application or module",
        required=True,
        help="Technical name of a module installed in production, e.g. sale.",
    )
    module_title = fields.Char(string="Application", compute="_compute_module")
    module_installed = fields.Boolean(
        string="Installed",
        compute="_compute_module",
        help="Whether production's last discovery found it installed.",
    )
    user_id = fields.Many2one(
        "res.users",
        string="User here",
        help="Leave empty for a key user without an account in this Odoo.",
    )
    name = fields.Char(required=True)
    email = fields.Char()
    lang = fields.Selection(
        selection="_lang_selection",
        string="Language",
        default=lambda self: self.env.lang or "en_US",
    )
    active = fields.Boolean(default=True)

    @api.model
    def _lang_selection(self):
        return self.env["res.lang"].get_installed()

    @api.depends("module", "production_id.module_ids")
    def _compute_module(self):
        for key_user in self:
            found = key_user.production_id.module_ids.filtered(
                lambda m, key_user=key_user: m.name == key_user.module
            )[:1]
            key_user.module_title = found.title or key_user.module
            key_user.module_installed = bool(found)

    @api.onchange("user_id")
    def _onchange_user_id(self):
        if self.user_id:
            self.name = self.user_id.name
            self.email = self.user_id.email
            self.lang = self.user_id.lang

    @api.constrains("production_id", "user_id", "email")
    def _check_reachable(self):
        for key_user in self:
            if not key_user.user_id and not key_user.email:
                raise ValidationError(
                    _(
                        "%(name)s needs a user of this Odoo or an email address: "
                        "key users are invited to pre-production.",
                        name=key_user.name,
                    )
                )

    @api.constrains("production_id")
    def _check_production(self):
        for key_user in self:
            if key_user.production_id.environment_type != "production":
                raise ValidationError(
                    _("Key users belong to a production environment's landscape.")
                )


class DeploymentEnvironment(models.Model):
    _inherit = "deployment.environment"

    key_user_ids = fields.One2many("deployment.key.user", "production_id")
    key_user_gap_ids = fields.Many2many(
        "deployment.environment.module",
        string="Applications without a key user",
        compute="_compute_key_user_gaps",
        help="Applications installed in production (as its last discovery found "
        "them) that no key user covers.",
    )
    key_user_gap_count = fields.Integer(compute="_compute_key_user_gaps")

    @api.depends("module_ids.application", "key_user_ids.module")
    def _compute_key_user_gaps(self):
        for environment in self:
            covered = set(environment.key_user_ids.mapped("module"))
            gaps = environment.module_ids.filtered(
                lambda m, covered=covered: m.application and m.name not in covered
            )
            environment.key_user_gap_ids = gaps
            environment.key_user_gap_count = len(gaps)
