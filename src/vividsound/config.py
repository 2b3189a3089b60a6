"""Dataclass configs: strict conversion from dicts / YAML / JSON, and typed ``--set key=value`` overrides.

Frozen dataclasses are the schema. :func:`from_dict` builds one from plain data, checking every
value's type and rejecting unknown keys; :func:`to_dict` goes back. Nested dataclasses, tuples,
``Optional`` and ``Literal`` fields are supported.
"""

from __future__ import annotations

import dataclasses
import json
import types
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from vividsound.errors import ConfigError

T = TypeVar("T")

__all__ = ["to_dict", "from_dict", "load_config_file", "apply_overrides", "parse_override", "save_config"]


def to_dict(obj: Any) -> Any:
    """A dataclass (recursively) as JSON-ready plain data; tuples become lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: {value!r} is not a valid {_type_name(tp)}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {list(allowed)}")
        return value
    if origin in (tuple, list, Sequence) or tp in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            out = [_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            a = args[0] if args else Any
            out = [_coerce(v, a, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if (origin is tuple or tp is tuple) else out
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, _where=where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "3e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{where}: cannot use {value!r} as {_type_name(tp)}")


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def from_dict(cls: type[T], data: Mapping[str, Any], *, _where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise :class:`ConfigError`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{_where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{_where}." if _where else ""
        raise ConfigError(f"unknown config key(s) {', '.join(repr(prefix + str(k)) for k in unknown)} "
                          f"for {cls.__name__}; known: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, value in data.items():
        where = f"{_where}.{name}" if _where else name
        f = fields[name]
        # A partial mapping for a nested dataclass overrides this class's own default for that field
        # (its default_factory value), not the nested class's bare defaults.
        if isinstance(value, Mapping) and dataclasses.is_dataclass(hints[name]):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else (
                f.default if f.default is not dataclasses.MISSING else None)
            if dataclasses.is_dataclass(default) and isinstance(default, hints[name]):
                value = _merge(to_dict(default), value)
        kwargs[name] = _coerce(value, hints[name], where)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{_where or cls.__name__}: {e}") from None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into plain data."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as e:
        raise ConfigError(f"config file {p} is not valid {'JSON' if p.suffix == '.json' else 'YAML'}: "
                          f"{str(e).splitlines()[0]}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping at the top level")
    return data


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"gpt.n_layer=12"`` -> (["gpt", "n_layer"], 12). Values are parsed as YAML scalars/lists."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key=value (e.g. gpt.n_layer=12)")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def set_path(data: dict[str, Any], path: Sequence[str], value: Any, *, where: str) -> None:
    """Set ``data[path[0]][path[1]]... = value`` in place, making missing sections; ``where`` names the
    change in the error when a step of the path is a value, not a section."""
    node = data
    for part in path[:-1]:
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"{where}: {part!r} is not a section")
        node = nxt
    node[path[-1]] = value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with dotted overrides applied (types are checked by ``from_dict``)."""
    out = json.loads(json.dumps(data))
    for item in overrides:
        path, value = parse_override(item)
        set_path(out, path, value, where=f"override {item!r}")
    return out


def save_config(obj: Any, path: str | Path) -> None:
    """Write a (dataclass) config as JSON or YAML, by the file's suffix."""
    from vividsound.checkpoint import atomic_write_text  # a resume reads it back: never half-written

    p = Path(path)
    data = to_dict(obj)
    if p.suffix in (".yaml", ".yml"):
        atomic_write_text(p, yaml.safe_dump(data, sort_keys=False))
    else:
        atomic_write_text(p, json.dumps(data, indent=2) + "\n")

