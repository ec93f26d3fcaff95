"""Dataclass configs loaded from YAML, with `key=value` overrides from the command line."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from audioqual.errors import AudioqualError

T = TypeVar("T")


class ConfigError(AudioqualError):
    """A config file or override does not fit its dataclass."""


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Build `cls` from a YAML file (optional) and `a.b=value` overrides (YAML-parsed values)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"{path}: cannot read config ({err})") from err
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level of a config must be a mapping")
        data = loaded or {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        target = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = yaml.safe_load(raw)
    return from_dict(cls, data, where=str(path) if path else "config")


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Recursively build a dataclass, rejecting unknown keys with their location."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} for {cls.__name__}; known: {sorted(names)}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}")
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    """Plain-dict form of a config dataclass, ready for YAML or JSON."""
    return dataclasses.asdict(config)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        for option in typing.get_args(hint):
            if option is type(None):
                continue
            try:
                return _coerce(option, value, where)
            except (ConfigError, TypeError, ValueError):
                continue
        raise ConfigError(f"{where}: {value!r} does not fit {hint}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        items = [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads "1e-3" (no dot) as a string
        except ValueError:
            raise ConfigError(f"{where}: expected float, got {value!r}") from None
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, (str, int, float)):
        return str(value)
    if hint in (float, int, bool):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value
