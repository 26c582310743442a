"""Grid overrides (``lab run EXPERIMENT --set key=value``): change a parameter of every run
of an experiment's grid without editing the experiment.

A scalar sets the key in every config (``hidden=16``); a list sets the grid's axis to
those values (``lag=5,10`` or ``lag=[5,10]``: every config once per value, duplicates
dropped). Only keys the grid has are accepted, with the grid's own types. The overrides
become part of every run's config, so of its id: an overridden run is never mistaken
for the default one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lab.errors import UsageError


def _value(text: str) -> Any:
    """JSON where it parses (numbers, true/false, null, [lists]), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered in ("none", "null"):
            return None
        return text


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["hidden=16", "lag=5,10"]`` -> ``{"hidden": 16, "lag": [5, 10]}``; UsageError for
    an item without ``=`` or a key given twice."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected key=value (e.g. hidden=16)")
        if key in out:
            raise UsageError(f"--set {key}: given twice")
        parts = [p.strip() for p in text.split(",")] if "," in text and "[" not in text else []
        values = [_value(p) for p in parts]
        if parts and all(isinstance(v, (int, float, bool)) or v is None for v in values):
            out[key] = values
        else:
            out[key] = _value(text.strip())
    return out


def _coerce(key: str, value: Any, existing: list[Any]) -> Any:
    """``value`` in the type the grid's values of ``key`` have; UsageError otherwise."""
    kinds = {type(v) for v in existing if v is not None}
    if not kinds or type(value) in kinds or value is None:
        return value
    if kinds == {float} and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    shown = sorted({repr(v) for v in existing})[:4]
    raise UsageError(
        f"--set {key}={value!r}: expected a {'/'.join(sorted(k.__name__ for k in kinds))} "
        f"like the grid's values ({', '.join(shown)})"
    )


def apply_overrides(configs: Sequence[dict], overrides: dict[str, Any]) -> list[dict]:
    """The grid ``configs`` with ``overrides`` applied (module doc); UsageError naming the
    grid's keys for one it does not have. Order kept, duplicates dropped."""
    configs = [dict(c) for c in configs]
    if not overrides:
        return configs
    known = sorted(set().union(*configs)) if configs else []
    for key, value in overrides.items():
        if key not in known:
            raise UsageError(f"--set {key}: not a key of this grid; its keys: {known}")
        existing = [c[key] for c in configs if key in c]
        values = value if isinstance(value, list) else [value]
        values = [_coerce(key, v, existing) for v in values]
        if isinstance(value, list):
            expanded = [{**c, key: v} for c in configs for v in values]
        else:
            expanded = [{**c, key: values[0]} for c in configs]
        seen, configs = set(), []
        for config in expanded:
            canonical = json.dumps(config, sort_keys=True, default=str)
            if canonical not in seen:
                seen.add(canonical)
                configs.append(config)
    return configs


def describe(overrides: dict[str, Any]) -> str:
    """``"hidden=16, lag=5,10"``: the overrides as a user typed them."""
    return ", ".join(
        f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in overrides.items()
    )
