# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import fields

from .. import ops
from ..ops.results import ConfigurationDrift
from ._from_production import FromProductionKind
from .base import register


def apply_drift(environment, report):
    """Keep a ConfigurationDrift's differences; return a summary."""
    _ = environment.env._
    lines = [
        f"{kind}: {line.key} — production: {line.source!s} / "
        f"{environment.name}: {line.target!s}"
        for kind, entries in (
            (_("Option"), report.options),
            (_("System parameter"), report.parameters),
        )
        for line in entries
    ]
    environment.write(
        {
            "drift_checked_at": fields.Datetime.now(),
            "drift_count": report.count,
            "drift_details": "\n".join(lines) or False,
        }
    )
    return _("%s difference(s) with production.", environment.drift_count)


@register
class DriftReport(FromProductionKind):
    """How the environment's configuration differs from production's (S3)."""

    code = "drift_report"
    label = "Configuration drift"
    button = "action_drift_report"
    changes_target = False
    result_type = ConfigurationDrift

    def run(self, op, journal):
        return self.from_production(op, journal, ops.drift_report)

    def apply_result(self, op, result):
        return apply_drift(op.environment_id.sudo(), result)
