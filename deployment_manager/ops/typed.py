# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Dataclasses that cross the boundary between the models and the operations.

What the models ask of an operation (its request) and what an operation
tells back (its result) are stored as JSON in ``deployment.operation``. Read
back through :meth:`Typed.from_json`, a key that is not a field, or a value
of the wrong type, is an error where it enters, instead of a ``KeyError`` or
a silent ``None`` in whichever model reads it later.
"""

import dataclasses
import functools
import types
import typing


class Typed:
    """Base of the typed requests and results: JSON in, JSON out, checked."""

    #: what one key is called in the errors ("parameter", "key")
    _what = "key"

    def to_json(self):
        """Plain JSON: nested dataclasses as mappings, tuples as lists."""
        return _plain(self)

    @classmethod
    def from_json(cls, data, *, stored=False):
        """The dataclass of ``data``; ``stored`` for JSON kept by an earlier
        version, whose keys that are no longer fields are left out (types are
        still checked). What is built now is read strictly."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            # ValueError as every other refusal: callers catch that one.
            raise ValueError(f"{cls.__name__}: a mapping is expected")  # noqa: TRY004
        data = dict(data)
        fields = _fields(cls)
        unknown = sorted(set(data) - set(fields))
        if unknown and not stored:
            raise ValueError(f"{cls.__name__}: unknown {cls._what}(s) {unknown}")
        hints = _hints(cls)
        return cls(
            **{
                name: _checked(f"{cls.__name__}.{name}", hints[name], value, stored)
                for name, value in data.items()
                if name in fields
            }
        )


@functools.cache
def _fields(cls):
    return {field.name: field for field in dataclasses.fields(cls)}


@functools.cache
def _hints(cls):
    return typing.get_type_hints(cls)


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _plain(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


_EXPECTED = {
    str: "a text",
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    dict: "a mapping",
    list: "a list",
}


def _checked(where, hint, value, stored=False):
    """``value`` as ``hint`` says (tuples from lists, dataclasses from
    mappings, whole numbers accepted as numbers), or a ValueError."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):  # X | None
        if value is None:
            return None
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        origin = typing.get_origin(hint)
    if origin is tuple:  # tuple[X, ...]
        if not isinstance(value, list | tuple):
            raise ValueError(f"{where}: a list is expected")
        item_hint = typing.get_args(hint)[0]
        return tuple(
            _checked(f"{where}[{index}]", item_hint, item, stored)
            for index, item in enumerate(value)
        )
    if isinstance(hint, type) and issubclass(hint, Typed):
        try:
            return hint.from_json(value, stored=stored)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint not in _EXPECTED:
        raise TypeError(f"{where}: unsupported type {hint!r}")
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ValueError(f"{where}: {_EXPECTED[hint]} is expected")
    return value
