# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from .. import ops
from . import access
from .base import OperationKind, register


def check_environment_log(journal, environment):
    """The log since the environment's last check, judged by its thresholds."""
    return ops.check_log(
        journal,
        journal.transport(),
        environment._spec().log_file,
        environment.log_check_position or None,
        environment.log_finding_ids.mapped("signature"),
        ops.Thresholds(
            max_errors=environment.log_check_max_errors,
            max_warnings=environment.log_check_max_warnings,
        ),
    )


@register
class LogCheck(OperationKind):
    """Read what the log gained since the last check; find, group and judge."""

    code = "log_check"
    label = "Log check"
    button = "action_check_log"
    level = access.USER
    changes_target = False

    def run(self, op, journal):
        return check_environment_log(journal, op.environment_id)

    def apply_result(self, op, result):
        return op.environment_id.sudo()._apply_log_check(result, op)

    def tells_success(self, op, result):
        # A scheduled check every few minutes would otherwise mail the
        # followers each time: only a verdict other than pass, or something
        # new, is worth a message (new errors have their own).
        return result.get("verdict") not in (None, "pass") or any(
            finding.get("new") for finding in result.get("findings", [])
        )
