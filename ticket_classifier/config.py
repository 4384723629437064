"""Strict loading of YAML configuration files into dataclasses.

Every config in the project is a dataclass; this module turns a YAML mapping into one and
rejects what it does not know: an unknown (say, misspelt) key, or a value of the wrong type,
ends in a :class:`TicketClassifierError` that names the key and the file.
"""

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ticket_classifier.errors import TicketClassifierError

T = TypeVar("T")


def read_yaml_mapping(path: "str | os.PathLike[str]") -> dict:
    """Read a YAML file whose top level is a mapping; an empty file gives ``{}``."""
    path = Path(path)
    if not path.is_file():
        raise TicketClassifierError(f"file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise TicketClassifierError(f"config file {path} is not valid YAML: {first_line}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TicketClassifierError(f"config file {path} must hold a mapping at the top level")
    return data


def load_config(cls: type[T], path: "str | os.PathLike[str]") -> T:
    """Load the YAML file at ``path`` into the dataclass ``cls``, strictly."""
    return config_from_mapping(cls, read_yaml_mapping(path), source=str(path))


def load_section(cls: type[T], path: "str | os.PathLike[str]", section: str) -> T:
    """The dataclass ``cls`` from the ``section`` mapping of a YAML file, or from the whole file when it
    has no such key (a file holding only that section)."""
    data = read_yaml_mapping(path)
    return config_from_mapping(cls, data.get(section, data), source=str(path), prefix=f"{section}.")


def config_from_mapping(cls: type[T], data: Mapping[str, Any], *, source: str = "config", prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; nested dataclasses are built from nested mappings.

    Keys missing from ``data`` keep the dataclass defaults. ``source`` names the file in messages.
    """
    if not isinstance(data, Mapping):
        raise TicketClassifierError(f"{source}: '{prefix.rstrip('.') or 'config'}' must be a mapping")
    hints = typing.get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls) if field.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise TicketClassifierError(f"{source}: unknown config key '{prefix}{unknown[0]}' (known keys here: {known})")
    values = {name: _coerce(hints[name], value, f"{prefix}{name}", source) for name, value in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise TicketClassifierError(f"{source}: {exc}") from None


def _coerce(hint: Any, value: Any, key: str, source: str) -> Any:
    """Check ``value`` against the type ``hint`` (converting lists and nested mappings)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return config_from_mapping(hint, value, source=source, prefix=f"{key}.")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        for option in options:
            try:
                return _coerce(option, value, key, source)
            except TicketClassifierError:
                if len(options) == 1:
                    raise
        expected = " or ".join(_describe(option) for option in options)
        raise TicketClassifierError(f"{source}: '{key}' must be {expected}, got {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise TicketClassifierError(f"{source}: '{key}' must be {_describe(hint)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise TicketClassifierError(f"{source}: '{key}' must be a list, got {value!r}")
        item_hint = args[0] if args else Any
        items = [_coerce(item_hint, item, f"{key}[{index}]", source) for index, item in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise TicketClassifierError(f"{source}: '{key}' must be a mapping, got {value!r}")
        value_hint = args[1] if len(args) == 2 else Any
        return {str(name): _coerce(value_hint, item, f"{key}.{name}", source) for name, item in value.items()}
    return _coerce_scalar(hint, value, key, source)


def _coerce_scalar(hint: Any, value: Any, key: str, source: str) -> Any:
    """Check a scalar: ints are accepted for floats, bools are never taken for numbers."""
    if hint is Any:
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint in (str, bool) and isinstance(value, hint):
        return value
    raise TicketClassifierError(f"{source}: '{key}' must be {_describe(hint)}, got {value!r}")


def _describe(hint: Any) -> str:
    """What a value of type ``hint`` looks like, in words."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in typing.get_args(hint))
    if origin in (list, tuple):
        return "a list"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "a mapping"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))
