# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import dataclasses
from datetime import timedelta

from odoo import fields

from .. import ops
from ..ops.context import OperationFailed
from ..ops.results import LeftoversRemoved
from .base import HOST, OperationKind, register


@register
class RemoveLeftovers(OperationKind):
    """What operations left on the host (logs, uploads, run directories, the
    previous versions of modules) removed once older than the host keeps."""

    code = "remove_leftovers"
    label = "Remove old leftovers"
    button = "action_remove_leftovers"
    target = HOST
    changes_target = False
    result_type = LeftoversRemoved

    def run(self, op, journal):
        host = op.host_id.sudo()
        environments = (
            op.env["deployment.environment"]
            .sudo()
            .with_context(active_test=False)
            .search([("host_id", "=", host.id)])
        )
        addons_paths = sorted(
            {path for env in environments for path in env._spec().addons_paths}
        )
        result = LeftoversRemoved.from_json(
            ops.remove_leftovers(
                journal,
                journal.transport(),
                host.work_dir,
                addons_paths,
                host.leftover_retention_days,
            )
        )
        zips = self._remove_uploaded_zips(
            op, environments, host.leftover_retention_days
        )
        dropped, problems = self._drop_old_copies(op, journal, environments)
        if problems:
            # What could be cleaned was; the rest is said, not passed over.
            raise OperationFailed(
                op.env._(
                    "Leftovers removed, but not every old copy could be dropped: %s",
                    "; ".join(problems),
                )
            )
        return dataclasses.replace(
            result, attachments_removed=zips, databases_dropped=tuple(dropped)
        )

    def _drop_old_copies(self, op, journal, environments):
        """Each environment's old copies of its database, by its own retention:
        (the databases dropped, what went wrong where)."""
        dropped, problems = [], []
        for environment in environments:
            if not environment.db_name or environment.copies_keep_days < 1:
                continue
            try:
                dropped += ops.drop_old_copies(
                    journal,
                    journal.transport(),
                    environment._spec(),
                    environment.copies_keep_days,
                )
            except OperationFailed as error:
                problems.append(f"{environment.name}: {error}")
        return dropped, problems

    def _remove_uploaded_zips(self, op, environments, days):
        """Zips uploaded for deployments that ended more than ``days`` ago."""
        ended = (
            op.env["deployment.operation"]
            .sudo()
            .search(
                [
                    ("environment_id", "in", environments.ids),
                    ("kind", "=", "deployment_run"),
                    ("state", "not in", ("queued", "running")),
                    ("finished_at", "<", fields.Datetime.now() - timedelta(days=days)),
                ]
            )
        )
        ids = [
            (past.params or {}).get("source", {}).get("attachment_id")
            for past in ended
            if past.decision != "pending"
        ]
        attachments = op.env["ir.attachment"].sudo().browse([i for i in ids if i])
        attachments = attachments.exists()
        count = len(attachments)
        attachments.unlink()
        return count

    def apply_result(self, op, result):
        return op.env._(
            "%(files)s leftover(s) older than %(days)s days removed from the "
            "host, %(zips)s uploaded zip(s) from the manager, %(databases)s old "
            "database copy(ies) dropped.",
            files=len(result.removed),
            days=result.kept_days,
            zips=result.attachments_removed,
            databases=len(result.databases_dropped),
        )
