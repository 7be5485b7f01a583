# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Kinds that read production (the source) to change an environment derived
from it (D1–D3, S1–S3, C2)."""

import contextlib

from ..ops.context import OperationFailed
from .base import OperationKind


class FromProductionKind(OperationKind):
    """An operation on an environment, with production's transport at hand."""

    def production(self, op):
        target = op.environment_id
        if not target.production_id:
            raise OperationFailed(
                op.env._("%s is derived from no production: set it first.", target.name)
            )
        return target.production_id

    def from_production(self, op, journal, function, **kwargs):
        """Run an ops function from production (source) to this environment."""
        production = self.production(op)
        with contextlib.closing(production.host_id._open_transport()) as source:
            return function(
                journal,
                source,
                production._spec(),
                journal.transport(),
                op.environment_id._spec(),
                **kwargs,
            )
