# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""One calendar of the plans' go-lives and the freeze windows (issue 11, R1):
where a go-live can go is read at a glance."""

from odoo import fields, models, tools
from odoo.tools import SQL

from .deployment_plan import PLAN_STATES

# A go-live is shown at least this long (minutes), as scheduling counts it.
SHOWN_MINUTES = 60

_CALENDAR_VIEW = """
CREATE OR REPLACE VIEW %s AS (
SELECT p.id * 2 AS id, 'plan' AS event_type, p.id AS plan_id,
       NULL::int AS window_id,
       p.name || ' ' || p.title AS name, p.production_id, p.company_id,
       p.state, p.scheduled_at AS start_at,
       p.scheduled_at + make_interval(
           mins => GREATEST(COALESCE(p.expected_downtime, 0), %s)::int) AS end_at
  FROM deployment_plan p
 WHERE p.scheduled_at IS NOT NULL AND p.state != 'cancelled'
UNION ALL
SELECT o.id * 2 + 1, 'freeze', NULL, o.window_id, o.name, o.production_id,
       o.company_id, NULL, o.start_at, o.end_at
  FROM deployment_freeze_occurrence o
)
"""


class DeploymentCalendarEvent(models.Model):
    """A plan's go-live or an occurrence of a freeze window (a SQL view)."""

    _name = "deployment.calendar.event"
    _description = "Go-live or Freeze Window"
    _auto = False
    _order = "start_at"

    event_type = fields.Selection(
        [("plan", "Go-live"), ("freeze", "Freeze window")],
        string="Type",
        readonly=True,
    )
    name = fields.Char(readonly=True)
    plan_id = fields.Many2one("deployment.plan", string="Plan", readonly=True)
    window_id = fields.Many2one(
        "deployment.freeze.window", string="Freeze window", readonly=True
    )
    production_id = fields.Many2one(
        "deployment.environment", string="Production", readonly=True
    )
    company_id = fields.Many2one("res.company", readonly=True)
    state = fields.Selection(PLAN_STATES, readonly=True)
    start_at = fields.Datetime(string="Start", readonly=True)
    end_at = fields.Datetime(string="End", readonly=True)

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL(_CALENDAR_VIEW, SQL.identifier(self._table), SHOWN_MINUTES)
        )

    def action_open(self):
        """The plan or the freeze window behind the event."""
        self.ensure_one()
        record = self.plan_id or self.window_id
        return {
            "type": "ir.actions.act_window",
            "res_model": record._name,
            "res_id": record.id,
            "view_mode": "form",
            "target": "current",
        }
