# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import contextlib

from .. import ops
from ..ops.common import human_size
from ..ops.results import FilestoreCopy, ReplicationResult
from ._from_production import FromProductionKind
from .base import register


def apply_replication(environment, result, operation):
    """What a replication (``result``: a ReplicationResult) left; a summary."""
    _ = environment.env._
    environment.ensure_one()
    environment.write(
        {
            "last_replication_at": operation.started_at,
            "last_replication_bytes": result.bytes_streamed,
            "replication_state": "neutralized" if result.neutralization else "standby",
        }
    )
    files = result.filestore or FilestoreCopy()
    return _(
        "Replicated %(production)s into %(database)s: %(size)s streamed, "
        "%(moved)s of %(files)s files moved; %(state)s.",
        production=environment.production_id.name,
        database=result.database,
        size=human_size(result.bytes_streamed),
        moved=files.files_moved,
        files=files.files_total,
        state=dict(
            environment._fields["replication_state"]._description_selection(
                environment.env
            )
        )[environment.replication_state],
    )


@register
class Replicate(FromProductionKind):
    """Production's database and filestore copied over the environment (D1, S1, C2)."""

    code = "replicate"
    label = "Replicate production"
    button = "action_replicate"
    resumes_from_saved_state = True
    result_type = ReplicationResult

    def run(self, op, journal):
        target = op.environment_id
        production = self.production(op)
        # The recovery site is an exact replica in standby: neither
        # neutralized nor started. Any other replica is neutralized under
        # its own name before the swap: its Odoo never serves production's
        # mail servers, crons or payment providers.
        standby = target.environment_type == "disaster_recovery"
        with contextlib.closing(production.host_id._open_transport()) as source:
            return op._resumable(
                ops.replicate,
                journal,
                source,
                production._spec(),
                journal.transport(),
                target._spec(),
                stamp=op._stamp(),
                keep_previous=target.keep_previous_database,
                neutralize=not standby,
                neutralization_rules=target._neutralization_rules(),
                start_after=not standby,
            )

    def apply_result(self, op, result):
        return apply_replication(op.environment_id.sudo(), result, op)

    def apply_failure(self, op, reason, message, cancelled=False):
        op.environment_id.sudo().replication_state = "failed"
