"""A tournament's settings as a person sets them: the app's tournament form and the options of
`arena tournament run` are both built from `FIELDS`, and `TournamentConfig` (which the runner
reads) stays the only validator. Games and players are lists, gathered apart (selection lists
in the form, repeated --game/--player on the command line)."""

from __future__ import annotations

from typing import Any

from arena.fields import FieldDef, FieldType, describe
from arena.tournament.config import TournamentConfig

FORMATS = ("round_robin", "gauntlet", "swiss", "ladder")


def _f(key: str, label: str, type: FieldType, formats: tuple[str, ...] = FORMATS, **kw: Any):
    return describe(TournamentConfig, key, label, type, formats, **kw)


FIELDS: tuple[FieldDef, ...] = (
    _f("format", "format", "choice"),
    _f("challenger", "challenger", "text", ("gauntlet",), blank="none"),
    _f("rounds", "rounds", "int", ("swiss",), blank="none", hint="auto: log2(players)"),
    _f("matches", "matches", "int", ("ladder",), blank="none", hint="auto: 10 per player"),
    _f("min_games", "min games", "int", ("ladder",)),
    _f("games_per_pair", "games per pair", "int"),
    _f("duplicate", "duplicate deals", "bool"),
    _f("concurrency", "concurrency", "int"),
    _f("seed", "seed", "int"),
    _f("retries", "retries", "int"),
    _f("on_illegal", "on illegal", "choice"),
    _f("move_time_limit_s", "move time limit s", "float", blank="none", hint="no limit"),
    _f("max_reply_bytes", "max reply bytes", "int"),
    _f("max_error_tries", "error tries", "int"),
    _f("executor", "executor", "choice"),
    _f("address", "Ray address", "text", blank="none", hint="start one here"),
    _f("replicas", "model replicas", "int"),
    _f("model_cpus", "CPUs per replica", "float"),
    _f("model_gpus", "GPUs per replica", "float"),
    _f("name", "name", "text", hint="a name to find it by"),
)
BY_KEY = {f.key: f for f in FIELDS}
LABELS = {f.key: f.label for f in FIELDS}


def default(key: str) -> Any:
    """The config's default for a field (None where it has none)."""
    return TournamentConfig.model_fields[key].get_default(call_default_factory=True)


def placeholder(field: FieldDef) -> str:
    """What an empty input of the field says it means."""
    if field.blank == "none":
        return f"blank: {field.hint or 'none'}"
    value = default(field.key)
    return f"blank: {value}" if value not in (None, "") else (field.hint or "")
