"""What every frozen config dataclass shares: building one from a plain dict."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C")


def config_from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """``cls(**data)``; a non-dict -> TypeError, an unknown key -> ValueError listing the
    valid keys."""
    if not isinstance(data, dict):
        raise TypeError(f"expected a dict, got {type(data).__name__}")
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; valid keys: {valid}")
    types = {f.name: str(f.type) for f in fields(cls)}
    for key, value in data.items():
        check_type(key, value, types[key])
    return cls(**data)


def check_type(key: str, value: Any, type_name: str) -> None:
    """ValueError unless ``value`` has the field type ``type_name`` (a string annotation
    such as "bool", "int", "float | None", "str | None"): a JSON config's "false" (a
    string) is no bool, 1.5 no int, and a float must be finite."""
    import math

    kinds = [k.strip() for k in type_name.split("|")]
    if value is None:
        if "None" in kinds:
            return
        raise ValueError(f"{key}: expected a {type_name}, got null")
    ok = (
        ("bool" in kinds and isinstance(value, bool))
        or ("int" in kinds and isinstance(value, int) and not isinstance(value, bool))
        or (
            "float" in kinds
            and isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
        )  # fmt: skip
        or ("str" in kinds and isinstance(value, str))
        or not {"bool", "int", "float", "str"} & set(kinds)
    )
    if not ok:
        finite = "finite " if isinstance(value, float) and not math.isfinite(value) else ""
        raise ValueError(f"{key}: expected a {finite}{type_name}, got {value!r}")


def _coerce(value: str, type_name: str, key: str) -> Any:
    """``value`` as the field type ``type_name`` (a string annotation, e.g. 'float | None')."""
    text = value.strip()
    if "None" in type_name and text.lower() in ("none", "null"):
        return None
    try:
        if type_name.startswith("bool"):
            lowered = text.lower()
            if lowered in ("true", "yes", "1"):
                return True
            if lowered in ("false", "no", "0"):
                return False
            raise ValueError
        if type_name.startswith("int"):
            return int(text)
        if type_name.startswith("float"):
            return float(text)
    except ValueError:
        raise ValueError(f"{key}={value!r}: expected a value of type {type_name}") from None
    return text


def parse_config(text: str, cls: type) -> Any:
    """A frozen config dataclass (with ``from_dict``) from a JSON file path or an inline
    ``key=value,key=value`` string; ValueError naming a bad key or value."""
    path = Path(text)
    if text.endswith(".json") or path.is_file():
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"config file {path} does not exist") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
        except IsADirectoryError:
            raise ValueError(f"config {path} is a directory; expected a JSON file") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object of {cls.__name__} fields")
        return cls.from_dict(data)
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    data: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"expected key=value in {text!r}, got {item!r}")
        if key not in types:
            raise ValueError(f"unknown {cls.__name__} key {key!r}; valid keys: {list(types)}")
        data[key] = _coerce(value, types[key], key)
    return cls.from_dict(data)
