# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What the deployment kinds share: deploying (J1–J5), deciding about a
failed deployment (retry, ignore, roll back) and keeping rollback points."""

import contextlib
import tempfile

from .. import ops
from ..ops.context import OperationFailed
from ..ops.results import DeploymentResult
from ._backups import take_backup
from .base import OperationKind
from .log_check import apply_log_check, check_environment_log


class DeploymentKind(OperationKind):
    """Base of the kinds that run or go on with a deployment."""

    resumes_from_saved_state = True
    # J4 restarts PostgreSQL, which the host's other environments share.
    exclusive_on_host = True
    result_type = DeploymentResult

    def apply_result(self, op, result):
        if result.rolled_back:
            return op.env._(
                "Rolled back to the rollback point; the environment is healthy."
            )
        return op.env._(
            "Deployed %(modules)s; downtime %(downtime)s s.",
            modules=", ".join(f"{m} {v}" for m, v in result.versions.items()) or "-",
            downtime=round(result.downtime, 1),
        )

    def hooks(self, op, journal, spec, request):
        """The backup (J1, J2) and log check (J5) the deployment calls back."""
        return {
            "backup": (lambda: self._backup(op, journal, spec))
            if request.backup
            else None,
            "log_check": (lambda: self._log_check(op, journal))
            if request.log_check
            else None,
        }

    def call(self, op, function, journal, spec, *args, **kwargs):
        """Run a deployment function of the ops layer, saving its state at
        each step; return how it ended (a DeploymentResult)."""
        try:
            state = function(
                journal,
                journal.transport(),
                spec,
                *args,
                on_state=op._save_state,
                **kwargs,
            )
        except ops.RollbackAvailable as failure:
            # Kept before the failure is recorded (which drops what is not
            # committed): a manager decides what happens next.
            op.write(
                {
                    "rollback_data": op._jsonable(failure.rollback_data()),
                    "decision": "pending",
                }
            )
            op._commit()
            raise
        result = DeploymentResult.from_state(state)
        op.downtime = result.downtime
        return result

    def resume_failed(self, op, journal, failed, action, reason=None):
        """Guided failure: go on from where the failed deployment stopped."""
        data = failed.rollback_data or {}
        spec = op.environment_id._spec()
        request = failed._kind().request(failed)
        hooks = self.hooks(op, journal, spec, request)
        result = self.call(
            op,
            ops.resume_deployment,
            journal,
            spec,
            op._saved_state() or data.get("state"),
            "continue" if op.deployment_state else action,
            reason=reason,
            log_check=hooks["log_check"],
        )
        self.keep_rollback_point(op, journal, spec, result)
        return result

    def _backup(self, op, journal, spec):
        """J1, J2: a verified bundle, kept as long as this deployment refers to it."""
        backup = take_backup(op, journal, spec, keep=True)
        if backup.state != "verified":
            raise OperationFailed(
                op.env._("The backup did not verify: %s", backup.verification_message)
            )
        return {"bundle": backup.bundle_dir}

    def _log_check(self, op, journal):
        """J5: the log since the last check; a fail verdict fails the deployment."""
        result = check_environment_log(journal, op.environment_id)
        apply_log_check(op.environment_id, result, op)
        # The reason names the signatures behind the verdict: a failure
        # that rolls back says why.
        return result.verdict, result.reason

    def keep_rollback_point(self, op, journal, spec, result):
        """After a healthy deployment: record its rollback point, drop the older
        ones beyond what the environment keeps.

        A rolled-back deployment swapped its point in: there is none to keep,
        and nothing is dropped after a failure.
        """
        point = result.rollback_point
        if result.rolled_back or not point or not point.database:
            return
        Point = op.env["deployment.rollback.point"].sudo()
        environment = op.environment_id
        record = Point.search(
            [("environment_id", "=", environment.id), ("name", "=", point.database)],
            limit=1,
        )
        if not record:
            sizes = ops.rollback_point_sizes(
                journal, journal.transport(), spec, point.to_json()
            )
            record = Point.create(
                {
                    "name": point.database,
                    "environment_id": environment.id,
                    "operation_id": op.id,
                    "filestore": point.filestore or False,
                    "created_at": op.started_at,
                    "database_size": sizes["database"] or 0,
                    "filestore_size": sizes["filestore"] or 0,
                }
            )
            op._commit()
        for expired in environment.rollback_point_ids._expired():
            try:
                ops.drop_rollback_point(
                    journal, journal.transport(), spec, expired._as_ops_point()
                )
            except OperationFailed as error:
                # The deployment is good; an old copy that cannot be dropped
                # is said on the point, not a reason to fail the deployment.
                expired.drop_message = str(error)
                continue
            expired._mark_dropped(op.env._("Dropped after %s succeeded.", op.name))


@contextlib.contextmanager
def attachment_file(op, source):
    """The uploaded zip as a file on the manager, for the time of the upload."""
    attachment = op.env["ir.attachment"].sudo().browse(source.get("attachment_id"))
    if not attachment.exists():
        raise OperationFailed(op.env._("The uploaded zip file is gone."))
    with tempfile.NamedTemporaryFile(suffix=".zip") as handle:
        handle.write(attachment.raw)
        handle.flush()
        yield handle.name


def shares_manager_database(op, spec):
    """Whether the environment's PostgreSQL is the manager's own cluster.

    Restarting it (J4) would cut the manager's own connection in the middle
    of the deployment, so the restart is skipped and the notes say so.
    """
    from odoo.tools import config

    if op.host_id.kind != "local":
        return False
    manager_port = int(config.get("db_port") or 5432)
    local_names = (None, "localhost", "127.0.0.1", config.get("db_host") or None)
    same_host = (spec.db_host or None) in local_names
    return same_host and int(spec.db_port or 5432) == manager_port
