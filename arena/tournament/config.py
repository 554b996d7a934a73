"""A tournament's configuration: plain data from flags or a TOML file, validated up front.

name = "bots and tiny"
format = "round_robin"        # round_robin, gauntlet, swiss, ladder
games = ["tictactoe", { id = "liars_dice", params = { num_players = 3 } }]
players = ["random", "minimax", "tiny-greedy"]
games_per_pair = 4
concurrency = 4
seed = 7

[[player]]                    # players defined inline are registered on first run
name = "tiny-greedy"
kind = "llamacpp"
path = "models/tiny.gguf"
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from arena.errors import ArenaError
from arena.fields import Problem, problems
from arena.specs import DAY_S, SpecError, anchor_paths, parse_spec, storable_number_problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Format = Literal["round_robin", "gauntlet", "swiss", "ladder"]


class ConfigError(ArenaError, ValueError):
    """The tournament config is malformed or cannot be played; the message says why
    (`problems`: each wrong setting, for a form to name by its own label)."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class _Storable(BaseModel):
    # NaN and infinity are never a setting; whole numbers (seeds, params) must fit SQLite.
    # The docstrings under the fields are their help, in the form and in --help.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, use_attribute_docstrings=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, v: Any, info: ValidationInfo) -> Any:
        if info.field_name == "player":
            return v  # inline player specs: their own validation names the field
        problem = storable_number_problem(v)
        if problem:
            raise ValueError(problem)
        return v


class GameRef(_Storable):
    model_config = ConfigDict(frozen=True)

    id: str
    params: dict[str, Any] = {}


class TournamentConfig(_Storable):
    name: str = ""
    """A name to find it by."""
    format: Format = "round_robin"
    """round_robin: everyone plays everyone; gauntlet: the challenger plays the field; swiss:
    rounds between players of like score; ladder: pairs chosen where ratings are least sure."""
    games: list[GameRef] = Field(min_length=1)
    players: list[str] = Field(default_factory=list)
    """Registered player names or built-in bot names (for a gauntlet: the field)."""
    challenger: str | None = None
    """The gauntlet's challenger."""
    games_per_pair: int = Field(2, ge=1, le=100_000)
    """Matches per pair of players and game (seats alternate)."""
    duplicate: bool | None = None
    """Duplicate deals: every seed (the cards, the dice) is played once in each seating, seats
    swapped (rotated for 3+ seats), so luck cancels; games_per_pair is rounded up to whole
    deals. Off: each match its own seed. Unset: round-robin, gauntlet and Swiss pair seats
    over one seed (an odd games_per_pair leaves the last deal unpaired); the ladder does not."""
    rounds: int | None = Field(None, ge=1)
    """Swiss rounds (default: ceil(log2(players)))."""
    matches: int | None = Field(None, ge=1)
    """The ladder's budget of matches (default: 10 per player)."""
    min_games: int = Field(4, ge=0)
    """The ladder's floor of games per player before uncertainty drives pairing."""
    concurrency: int = Field(4, ge=1, le=1024)
    """Matches played at once."""
    seed: int = 0
    """The tournament's seed: every match's chance and sampling follow from it."""
    retries: int = Field(1, ge=0, le=10)
    """Re-asks after an illegal reply."""
    on_illegal: Literal["forfeit", "random"] = "forfeit"
    """After the last illegal attempt: forfeit the match, or play a random legal move."""
    move_time_limit_s: float | None = Field(None, gt=0, le=DAY_S)
    """Seconds per model attempt (none: no limit beyond each player's own)."""
    max_reply_bytes: int = Field(64 * 1024, ge=64, le=64 * 1024 * 1024)
    """A longer reply is cut there (and marked as cut) before it is parsed and stored."""
    executor: Literal["local", "ray"] = "local"
    """local: every match in this process (asyncio); ray: matches as tasks and models as
    actors on a Ray cluster (pip install 'arena-games[ray]'); this process stays the only
    writer of the database."""
    address: str | None = None
    """The Ray cluster to join ("auto", "ray://head:10001", "head:6379"); none: start one on
    this machine."""
    replicas: int = Field(1, ge=1, le=1024)
    """Ray: actors (model copies) per model player."""
    model_cpus: float = Field(1.0, ge=0, le=1024)
    """Ray: CPUs reserved by each model replica."""
    model_gpus: float = Field(0.0, ge=0, le=64)
    """Ray: GPUs reserved by each model replica (a fraction shares one)."""
    max_error_tries: int = Field(3, ge=1, le=100)
    """A match that ends in error is retried (on resume) until it has failed this often."""
    player: list[dict[str, Any]] = Field(default_factory=list)
    """Inline player specs ([[player]] tables), registered when the tournament is created."""

    @field_validator("games", mode="before")
    @classmethod
    def _games(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"id": g} if isinstance(g, str) else g for g in v]
        return v

    def inline_specs(self) -> list[Any]:
        return [parse_spec(p, source=" in the tournament config") for p in self.player]

    def field(self) -> list[str]:
        """Everyone who plays, challenger first."""
        names = list(self.players)
        if self.challenger is not None and self.challenger not in names:
            names.insert(0, self.challenger)
        return names


# What an unset `duplicate` means, per format: the formats with a fixed schedule already play
# mirrored couples over one seed; the ladder draws each match's seats and seed on its own.
DUPLICATE_DEFAULT = {"round_robin": True, "gauntlet": True, "swiss": True, "ladder": False}


def duplicate_deals(config: TournamentConfig) -> bool:
    """Whether the tournament plays duplicate deals (its setting, or its format's default)."""
    if config.duplicate is None:
        return DUPLICATE_DEFAULT[config.format]
    return config.duplicate


def _error(exc: ValidationError, source: str) -> ConfigError:
    found = problems(exc)
    sentences = "; ".join(p.sentence() for p in found)
    return ConfigError(f"invalid tournament config{source}: {sentences}", found)


def parse_config(data: dict[str, Any], *, source: str = "") -> TournamentConfig:
    """Validate a config dict; `ConfigError` names every field that is wrong (and `source`,
    the file it came from)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a tournament config{source} must be a table, got {type(data).__name__}")
    try:
        config = TournamentConfig.model_validate(data)
    except ValidationError as exc:
        raise _error(exc, source) from None
    where = source or " in the tournament config"
    try:
        for i, spec in enumerate(config.player):
            parse_spec(spec, source=f" player[{i}]{where}")
    except SpecError as exc:
        raise ConfigError(" ".join(str(exc).split())) from None
    return config


def load_config(path: str | Path, **overrides: Any) -> TournamentConfig:
    """Read a TOML config; `overrides` (from command-line flags) replace its fields."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    if isinstance(data.get("player"), list):  # inline specs' paths: from the config's folder
        data["player"] = [anchor_paths(p, path.parent) for p in data["player"]]
    return parse_config(data, source=f" in {path}")
