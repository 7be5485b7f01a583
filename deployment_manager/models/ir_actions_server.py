# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Deployment operations as server actions: the Actions menu, automation rules
and scheduled actions queue them without code."""

import logging

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from .. import operation_kinds

_logger = logging.getLogger(__name__)

TARGET_MODELS = {"environment": "deployment.environment", "host": "deployment.host"}


class IrActionsServer(models.Model):
    _inherit = "ir.actions.server"

    state = fields.Selection(
        selection_add=[("deployment_operation", "Run a deployment operation")],
        ondelete={"deployment_operation": "cascade"},
    )
    deployment_operation_kind = fields.Selection(
        selection="_selection_deployment_operation_kind",
        string="Deployment operation",
        compute="_compute_deployment_operation_kind",
        readonly=False,
        store=True,
    )
    deployment_target = fields.Selection(
        [
            ("record", "The record the action runs on"),
            ("environment", "A chosen environment"),
        ],
        string="Runs on",
        compute="_compute_deployment_target",
        readonly=False,
        store=True,
        help="The record the action runs on: an environment, or a host for the "
        "operations on a host. A chosen environment: whatever the record, "
        "for automation rules on other records and for scheduled actions.",
    )
    deployment_environment_id = fields.Many2one(
        "deployment.environment",
        string="Environment",
        compute="_compute_deployment_environment_id",
        readonly=False,
        store=True,
        ondelete="restrict",
    )

    @api.model
    def _selection_deployment_operation_kind(self):
        return [
            (kind, label)
            for kind, label in self._deployment_kind_selection()
            if operation_kinds.get(kind).button
        ]

    @api.model
    def _deployment_kind_selection(self):
        field = self.env["deployment.operation"]._fields["kind"]
        return field._description_selection(self.env)

    @api.model
    def _deployment_kind_target(self, kind):
        """'host' or 'environment': what an operation of that kind runs on."""
        return operation_kinds.get(kind).target

    @api.depends("state")
    def _compute_deployment_operation_kind(self):
        self.filtered(
            lambda action: action.state != "deployment_operation"
        ).deployment_operation_kind = False

    @api.depends("state")
    def _compute_deployment_target(self):
        for action in self:
            if action.state != "deployment_operation":
                action.deployment_target = False
            elif not action.deployment_target:
                action.deployment_target = "record"

    @api.depends("state", "deployment_target")
    def _compute_deployment_environment_id(self):
        self.filtered(
            lambda action: (
                action.state != "deployment_operation"
                or action.deployment_target != "environment"
            )
        ).deployment_environment_id = False

    @api.depends("deployment_operation_kind", "deployment_environment_id")
    def _compute_name(self):
        """A rule's action is named after its operation (and its environment)."""
        res = super()._compute_name()
        for action in self.filtered(
            lambda action: (
                action.base_automation_id
                and action.state == "deployment_operation"
                and action.deployment_operation_kind
            )
        ):
            operation = action._deployment_kind_label()
            action.name = (
                _(
                    "%(operation)s on %(environment)s",
                    operation=operation,
                    environment=action.deployment_environment_id.display_name,
                )
                if action.deployment_environment_id
                else operation
            )
        return res

    def _deployment_kind_label(self):
        kind = self.deployment_operation_kind
        return dict(self._deployment_kind_selection()).get(kind, kind)

    @api.constrains(
        "state",
        "usage",
        "model_id",
        "deployment_operation_kind",
        "deployment_target",
        "deployment_environment_id",
    )
    def _check_deployment_operation(self):
        for action in self.filtered(lambda a: a.state == "deployment_operation"):
            problem = action._deployment_operation_problem()
            if problem:
                raise ValidationError(problem)

    def _deployment_operation_problem(self):
        """Why this action cannot run its operation as configured, or None."""
        self.ensure_one()
        kind = self.deployment_operation_kind
        if not kind:
            return _("Choose the deployment operation the action “%s” runs.", self.name)
        operation = self._deployment_kind_label()
        if not operation_kinds.get(kind).button:
            return _(
                "“%s” needs what only its own form gives: it cannot run as a "
                "server action.",
                operation,
            )
        target = self._deployment_kind_target(kind)
        target_model = self.env[TARGET_MODELS[target]]._description
        if target == "host" and (
            self.deployment_target == "environment"
            or self.model_id.model != TARGET_MODELS["host"]
        ):
            return _(
                "“%(operation)s” runs on a host, not on an environment: make the "
                "action run on the records of %(model)s.",
                operation=operation,
                model=target_model,
            )
        if self.deployment_target == "environment":
            if not self.deployment_environment_id:
                return _("Choose the environment “%s” runs on.", operation)
            return None
        if self.usage == "ir_cron":
            return _(
                "A scheduled action runs on no record: choose the environment "
                "“%s” runs on.",
                operation,
            )
        if self.model_id.model != TARGET_MODELS[target]:
            return _(
                "“%(operation)s” runs on an environment: make the action run on "
                "the records of %(model)s, or choose the environment it runs on.",
                operation=operation,
                model=target_model,
            )
        return None

    def _run_action_deployment_operation_multi(self, eval_context=None):
        """Queue the operation on each target, as the user who runs the action.

        One target: return the action opening its operation. Several: one
        operation each, and a notification. A refusal (rights, a busy target,
        a missing setting) cancels them all; in an automation rule it is
        noted on the target instead, so that a rule never refuses the change
        that triggered it (the runner's own writes of results included).
        """
        problem = self._deployment_operation_problem()
        if problem:
            raise UserError(problem)
        # run() and automation rules hand actions over in sudo mode: the
        # request is the triggering user's own, with that user's rights.
        env = self.env(su=False)
        targets = self._deployment_targets(env, eval_context or {})
        button = operation_kinds.get(self.deployment_operation_kind).button
        actions, queued = [], targets.browse()
        for target in targets:
            if not self.base_automation_id:
                actions.append(getattr(target, button)())
            else:
                try:
                    with env.cr.savepoint():
                        actions.append(getattr(target, button)())
                except (UserError, AccessError) as error:
                    self._deployment_note_refusal(target.sudo(), error)
                    continue
            queued |= target
        if len(actions) < 2:
            return actions[0] if actions else False
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": _(
                    "%(operation)s queued on %(targets)s.",
                    operation=self._deployment_kind_label(),
                    targets=", ".join(queued.mapped("display_name")),
                ),
            },
        }

    def _deployment_targets(self, env, eval_context):
        if self.deployment_target == "environment":
            return env["deployment.environment"].browse(
                self.deployment_environment_id.id
            )
        records = eval_context.get("records") or eval_context.get("record")
        model = env[
            TARGET_MODELS[self._deployment_kind_target(self.deployment_operation_kind)]
        ]
        return model.browse(records.ids if records else [])

    def _deployment_note_refusal(self, target, error):
        """Say on the target (as the system) why the rule queued nothing."""
        message = _(
            "The automation rule “%(rule)s” did not queue %(operation)s: %(reason)s",
            rule=self.base_automation_id.name,
            operation=self._deployment_kind_label(),
            reason=error.args[0] if error.args else error,
        )
        _logger.info("%s: %s", target.display_name, message)
        target.message_post(body=message, subtype_xmlid="mail.mt_note")
