# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The parameters of the operation kinds that take some, typed.

A request crosses the boundary between the models (which store it as JSON in
``deployment.operation.params``) and the kinds that run it: each is a frozen
dataclass read back with ``from_json``, which refuses unknown keys and values
of the wrong type instead of letting a typo travel to a remote host.
"""

import dataclasses
import types
import typing


class Request:
    """Base of the typed requests: JSON in, JSON out, checked both ways."""

    def to_json(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data):
        data = dict(data or {})
        fields = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown parameter(s) {unknown}")
        hints = typing.get_type_hints(cls)
        for name, value in data.items():
            data[name] = _checked(cls.__name__, name, hints[name], value)
        return cls(**data)


def _checked(owner, name, hint, value):
    """``value`` as the type ``hint`` says (lists for tuples), or a ValueError."""
    origin = typing.get_origin(hint)
    if origin is tuple:  # tuple[str, ...]
        if not isinstance(value, list | tuple) or not all(
            isinstance(item, str) for item in value
        ):
            raise ValueError(f"{owner}.{name}: a list of names is expected")
        return tuple(value)
    if origin in (typing.Union, types.UnionType):  # str | None
        if value is None:
            return None
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if hint is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{owner}.{name}: a mapping is expected")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{owner}.{name}: true or false is expected")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{owner}.{name}: a whole number is expected")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{owner}.{name}: a text is expected")
        return value
    raise TypeError(f"{owner}.{name}: unsupported type {hint!r}")


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
