# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What the module changed on pre-production (issue 11, S5), on the plan.

A ``module_changes`` operation compares pre-production's database after the
plan's deployment with that deployment's rollback point; the plan shows the
latest one's summary and flags.
"""

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError

# At most this many items a section: the operation's data holds them all.
SHOWN = 20


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
    module_change_details = fields.Html(
        string="Details", compute="_compute_module_changes", sanitize=False
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
            changes = latest._result() if latest else None
            plan.module_change_operation_id = latest
            plan.module_change_summary = latest.result_summary or False
            plan.module_adds_scheduled_actions = bool(
                changes and changes.adds_scheduled_actions
            )
            plan.module_adds_outgoing_mail = bool(
                changes and changes.adds_outgoing_mail
            )
            plan.module_change_details = plan._module_change_details(changes)

    def _module_change_details(self, changes):
        """The differences (a ModuleChangesResult) as short HTML lists, every
        value escaped."""
        if not changes:
            return False
        _ = self.env._
        sections = [
            (_("Tables added"), changes.tables_added),
            (_("Tables dropped"), changes.tables_dropped),
            (
                _("Columns"),
                [
                    _(
                        "%(table)s: %(added)s added, %(dropped)s dropped, "
                        "%(altered)s altered",
                        table=table,
                        added=", ".join(c["column"] for c in part["added"]) or "-",
                        dropped=", ".join(part["dropped"]) or "-",
                        altered=", ".join(c["column"] for c in part["altered"]) or "-",
                    )
                    for table, part in changes.columns.items()
                ],
            ),
            (
                _("Rows"),
                [
                    _(
                        "%(table)s: %(before)s → %(after)s%(estimated)s",
                        table=table,
                        before=row["before"] if row["before"] is not None else "-",
                        after=row["after"] if row["after"] is not None else "-",
                        estimated="" if row["exact"] else " " + _("(estimated)"),
                    )
                    for table, row in changes.rows.items()
                ],
            ),
            (
                _("Records of the plan's modules"),
                [
                    _(
                        "%(model)s: %(created)s created, %(changed)s changed, "
                        "%(removed)s removed",
                        model=model,
                        **counts,
                    )
                    for model, counts in changes.records_by_model.items()
                ],
            ),
        ]
        for key, title in (
            ("views", _("Views")),
            ("access_rights", _("Access rights")),
            ("record_rules", _("Record rules")),
            ("scheduled_actions", _("Scheduled actions")),
            ("mail_templates", _("Mail templates")),
            ("mail_servers", _("Outgoing mail servers")),
            ("parameters", _("System parameters")),
        ):
            part = getattr(changes, key)
            items = []
            for state, label in (
                ("added", _("added")),
                ("changed", _("changed")),
                ("removed", _("removed")),
            ):
                for record in part.get(state, []):
                    items.append(f"{label}: {self._describe_change(key, record)}")
            sections.append((title, items))
        html = Markup()
        for title, items in sections:
            if not items:
                continue
            lines = Markup().join(
                Markup("<li>%s</li>") % item for item in items[:SHOWN]
            )
            if len(items) > SHOWN:
                lines += Markup("<li>%s</li>") % _(
                    "and %(count)s more", count=len(items) - SHOWN
                )
            html += Markup("<p><strong>%s</strong></p><ul>%s</ul>") % (title, lines)
        return html or Markup("<p>%s</p>") % _("No difference found.")

    def _describe_change(self, key, record):
        if key == "parameters":
            if record.get("secret"):
                return self.env._("%(key)s (value not shown)", key=record["key"])
            return f"{record['key']} = {record.get('value')}"
        text = str(record.get("name") or record.get("id"))
        if record.get("model"):
            text += f" ({record['model']})"
        if key == "scheduled_actions":
            text += " " + self.env._(
                "every %(number)s %(unit)s, %(state)s",
                number=record.get("interval_number"),
                unit=record.get("interval_type"),
                state=self.env._("active")
                if record.get("active")
                else self.env._("inactive"),
            )
        return text

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

    def _queue_module_changes(self, deployment):
        """Once the plan's module is deployed on pre-production, compare its
        database with that deployment's rollback point (S5) while the point is
        still kept: nobody has to remember to press the button."""
        self.ensure_one()
        try:
            operation = (
                self.env["deployment.operation"]
                .sudo()
                .with_context(deployment_plan_id=self.id)
                ._enqueue(
                    "module_changes",
                    environment=self.preproduction_id,
                    params={"operation_id": deployment.id},
                )
            )
        except UserError as error:
            # The deployment itself went well: say why the comparison was not
            # queued rather than failing the runner that reports it.
            self.message_post(
                body=self.env._(
                    "What the module changed could not be checked after "
                    "%(deployment)s: %(reason)s",
                    deployment=deployment.name,
                    reason=str(error),
                )
            )
            return self.env["deployment.operation"]
        return operation


class DeploymentOperation(models.Model):
    _inherit = "deployment.operation"

    def write(self, vals):
        result = super().write(vals)
        if vals.get("state") == "done":
            for deployment in self.filtered(
                lambda o: (
                    o.kind == "deployment_run"
                    and o.plan_id
                    and o.environment_id == o.plan_id.preproduction_id
                )
            ):
                deployment.plan_id._queue_module_changes(deployment)
        return result
