"""`KEY=VALUE` options on the command line, read as JSON values where they parse; and the
numeric option types that refuse, before anything runs, what no command can use: NaN and
infinity, and seeds beyond SQLite's 64 bits."""

from __future__ import annotations

import json
import math
from typing import Any

import click

from arena.secrets import looks_like_secret

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def parse_params(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """`("rows=5", "messages=true", "start_fen=8/8/...")` -> {"rows": 5, ...}."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            shown = (
                "a value that looks like a key (not shown)"
                if looks_like_secret(item)
                else repr(item)
            )
            raise ValueError(f"a parameter is KEY=VALUE, got {shown}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out


class Seed(click.ParamType):
    """A whole number that fits in 64 bits (seeds are stored in SQLite)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a whole number", param, ctx)
        if not INT64_MIN <= number <= INT64_MAX:
            self.fail(
                f"{number} is beyond 64 bits (a seed is between {INT64_MIN} and {INT64_MAX})",
                param,
                ctx,
            )
        return number


SEED = Seed()


class FiniteFloatRange(click.FloatRange):
    """`click.FloatRange` that also refuses NaN and infinity (which pass its comparisons)."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


def storable_param_problem(params: dict[str, Any]) -> str | None:
    """Why a `KEY=VALUE` parameter cannot be used (NaN, infinity, a whole number beyond 64
    bits), naming it; None when all can."""
    from arena.specs import storable_number_problem

    for key, value in params.items():
        problem = storable_number_problem(value)
        if problem:
            return f"{key}: {problem}"
    return None
