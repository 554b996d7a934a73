"""`KEY=VALUE` options on the command line, read as JSON values where they parse."""

from __future__ import annotations

import json
from typing import Any


def parse_params(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """`("rows=5", "messages=true", "start_fen=8/8/...")` -> {"rows": 5, ...}."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"a parameter is KEY=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out
