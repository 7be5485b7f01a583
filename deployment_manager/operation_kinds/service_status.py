# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).

from .. import ops
from ..ops.results import ServiceStates
from . import access
from .base import OperationKind, register


def apply_service_states(environment, services, notes=None):
    """Record the services' states and derive the health badge; return a summary."""
    _ = environment.env._
    environment.ensure_one()
    odoo_state = services.get("odoo") or False
    pg_state = services.get("postgresql") or False
    states = [state for state in (odoo_state, pg_state) if state]
    if any(state != "active" for state in states):
        health = "error"
    elif notes or not states:
        health = "warning"
    else:
        health = "ok"
    environment.write(
        {
            "odoo_service_state": odoo_state,
            "pg_service_state": pg_state,
            "health_state": health,
        }
    )
    return _(
        "Odoo service: %(odoo)s; PostgreSQL service: %(pg)s.",
        odoo=odoo_state or _("not checked"),
        pg=pg_state or _("not checked"),
    )


@register
class ServiceStatus(OperationKind):
    """Ask the Odoo and PostgreSQL services for their state."""

    code = "service_status"
    label = "Service status"
    button = "action_service_status"
    level = access.USER
    changes_target = False
    health_evidence = True
    result_type = ServiceStates

    def run(self, op, journal):
        return ServiceStates(
            services=ops.service_status(
                journal, journal.transport(), op.environment_id._spec()
            )
        )

    def apply_result(self, op, result):
        return apply_service_states(op.environment_id.sudo(), result.services)
