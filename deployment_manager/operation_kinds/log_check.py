# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import fields

from .. import ops
from ..ops.results import LogCheckResult
from . import access
from .base import OperationKind, register


def check_environment_log(journal, environment):
    """The log since the environment's last check, judged by its thresholds."""
    result = ops.check_log(
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
    return LogCheckResult.from_json(result)


def apply_log_check(environment, result, operation):
    """Keep where the check stopped (``result``: a LogCheckResult), add up
    the findings, notify new errors."""
    _ = environment.env._
    environment.ensure_one()
    Finding = environment.env["deployment.log.finding"].sudo()
    new_errors = Finding.browse()
    for found in result.findings:
        finding = Finding.search(
            [
                ("environment_id", "=", environment.id),
                ("signature", "=", found.signature),
            ]
        )
        if finding:
            finding.write(
                {
                    "count": finding.count + found.count,
                    "last_seen": found.last_seen or finding.last_seen,
                    "last_operation_id": operation.id,
                }
            )
            continue
        finding = Finding.create(
            {
                "environment_id": environment.id,
                "signature": found.signature,
                "template": found.template,
                "level": found.level,
                "logger": found.logger,
                "exception_type": found.exception_type,
                "count": found.count,
                "first_seen": found.first_seen,
                "last_seen": found.last_seen,
                "sample_message": found.sample_message,
                "sample_traceback": found.sample_traceback,
                "first_operation_id": operation.id,
                "last_operation_id": operation.id,
            }
        )
        if finding.level in ("ERROR", "CRITICAL"):
            new_errors |= finding
    verdict = result.verdict
    environment.write(
        {
            "log_check_position": result.state,
            "last_log_check_at": fields.Datetime.now(),
            "last_log_verdict": verdict,
        }
    )
    if new_errors:
        environment.message_post(
            body=_(
                "The log check %(operation)s found %(count)s new error "
                "signature(s): "
                "%(list)s",
                operation=operation.name,
                count=len(new_errors),
                list="; ".join(
                    f"{f.logger}: {(f.sample_message or '')[:120]}" for f in new_errors
                ),
            ),
            subtype_xmlid="deployment_manager.mt_log_new_error",
        )
    labels = dict(
        environment._fields["last_log_verdict"]._description_selection(environment.env)
    )
    return _(
        "Log check: %(verdict)s — %(bytes)s bytes read, %(findings)s signature(s), "
        "%(new)s new.",
        verdict=labels[verdict],
        bytes=result.bytes_read,
        findings=len(result.findings),
        new=len(result.new_findings),
    )


@register
class LogCheck(OperationKind):
    """Read what the log gained since the last check; find, group and judge."""

    code = "log_check"
    label = "Log check"
    button = "action_check_log"
    level = access.USER
    changes_target = False
    result_type = LogCheckResult

    def run(self, op, journal):
        return check_environment_log(journal, op.environment_id)

    def apply_result(self, op, result):
        return apply_log_check(op.environment_id.sudo(), result, op)

    def tells_success(self, op, result):
        # A scheduled check every few minutes would otherwise mail the
        # followers each time: only a verdict other than pass, or something
        # new, is worth a message (new errors have their own).
        return result.verdict != "pass" or bool(result.new_findings)
