# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The parameters of the operation kinds that take some, typed.

A request crosses the boundary between the models (which store it as JSON in
``deployment.operation.params``) and the kinds that run it: each is a frozen
dataclass read back with ``from_json``, which refuses unknown keys and values
of the wrong type instead of letting a typo travel to a remote host.
"""

import dataclasses

from ..ops.typed import Typed


class Request(Typed):
    """Base of the typed requests: JSON in, JSON out, checked both ways."""

    _what = "parameter"


@dataclasses.dataclass(frozen=True)
class DeploymentRequest(Request):
    """Deploy modules (J1–J5): where they come from and what to do with them.

    ``source`` is what ops.deploy takes: ``{"kind": "git", "url", "ref",
    "addons_path", "modules"}`` or ``{"kind": "zip", "attachment_id",
    "addons_path"}``.
    """

    source: dict = dataclasses.field(default_factory=dict)
    install: tuple[str, ...] = ()
    upgrade: tuple[str, ...] = ()
    backup: bool = False
    log_check: bool = True


@dataclasses.dataclass(frozen=True)
class DecisionRequest(Request):
    """A manager's decision about a failed deployment: roll it back, run the
    failed step again, or ignore the failure (with a reason)."""

    operation_id: int = 0
    action: str | None = None
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class ModuleTestsRequest(Request):
    """Run a module's tests on a throwaway copy of the environment (D4, D5)."""

    module: str = ""
    mode: str = "auto"


@dataclasses.dataclass(frozen=True)
class RollbackPointRequest(Request):
    """Drop one kept rollback point."""

    point_id: int = 0
