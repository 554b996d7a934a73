"""Creating a tournament: every check before anything is written, then the tournament and its
schedule stored in one transaction (so a kill at any moment loses or duplicates nothing). The
SQL is in `arena.store.tournaments`."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from arena.specs import BotSpec, HumanSpec, OpenAISpec, SpecError, spec_to_dict
from arena.store import tournaments as store
from arena.store.db import write
from arena.store.players import builtin_specs, find_player
from arena.store.schema import now
from arena.tournament.config import ConfigError, TournamentConfig
from arena.tournament.schedule import GameEntry, Pairing, gauntlet, round_robin

if TYPE_CHECKING:
    from sqlite_utils import Database


def game_entries(config: TournamentConfig) -> list[GameEntry]:
    """The config's games, made once to check ids and params."""
    import games
    from games.registry import game_ids

    entries = []
    for ref in config.games:
        try:
            game = games.make(ref.id, **ref.params)
        except KeyError:
            raise ConfigError(f"unknown game {ref.id!r} (known: {', '.join(game_ids())})") from None
        except (games.GameParamError, ValueError, TypeError) as exc:
            raise ConfigError(f"{ref.id}: {exc}") from None
        entries.append(GameEntry(ref.id, game.num_players, dict(ref.params)))
    return entries


def cannot_play(spec: Any, game_id: str) -> str | None:
    """Why this player cannot play the game headless (None: it can)."""
    from games.registry import game_class

    if isinstance(spec, HumanSpec):
        return "a human plays in the app or with `arena match`, not in a headless tournament"
    if isinstance(spec, BotSpec):
        bot = spec.bot or spec.name
        if bot != "random" and bot not in game_class(game_id).BOTS:
            return f"there is no {bot!r} bot for {game_id}"
    return None


def resolve_specs(db: Database, config: TournamentConfig) -> dict[str, Any]:
    """Each player's validated spec: inline specs, the registry, or a built-in bot. Raises
    ConfigError for an unknown player, a missing model file, or a missing API key variable."""
    try:
        inline = {s.name: s for s in config.inline_specs()}
    except SpecError as exc:
        raise ConfigError(" ".join(str(exc).split())) from None
    builtin = builtin_specs()
    specs: dict[str, Any] = {}
    for name in config.field():
        if name in inline:
            spec = inline[name]
            row = find_player(db, name)
            if row is not None and row.spec != spec_to_dict(spec):
                raise ConfigError(
                    f"player {name!r} is defined in the config and registered with another spec"
                )
        elif name in builtin:
            spec = builtin[name]
        else:
            row = find_player(db, name)
            if row is None:
                raise ConfigError(
                    f"unknown player {name!r}: register it with `arena players add` or define "
                    "it in the config"
                )
            if row.retired_at is not None:
                raise ConfigError(f"player {name!r} is retired")
            try:
                spec = row.parsed_spec()
            except SpecError as exc:
                raise ConfigError(" ".join(str(exc).split())) from None
        if isinstance(spec, OpenAISpec) and spec.api_key_env and spec.api_key_env not in os.environ:
            raise ConfigError(
                f"player {name!r}: the environment variable {spec.api_key_env} is not set "
                "(it should hold the API key)"
            )
        specs[name] = spec
    return specs


def check_config(db: Database, config: TournamentConfig) -> tuple[list[GameEntry], dict[str, Any]]:
    """Every check that can fail before a match starts; returns the games and the specs."""
    entries = game_entries(config)
    field = config.field()
    if len(set(config.players)) != len(config.players):
        raise ConfigError("a player is listed twice")
    if config.format == "gauntlet":
        if config.challenger is None:
            raise ConfigError("a gauntlet needs a challenger (--challenger NAME)")
        if config.challenger in config.players:
            raise ConfigError("the challenger is also in the field")
    elif config.challenger is not None:
        raise ConfigError(f"a challenger is only for the gauntlet format, not {config.format}")
    if len(field) < 2:
        raise ConfigError("a tournament needs at least 2 players")
    for entry in entries:
        if config.format in ("swiss", "ladder") and entry.num_players != 2:
            raise ConfigError(
                f"{config.format} pairs two players; {entry.id} has {entry.num_players} seats"
            )
        if len(field) < entry.num_players:
            raise ConfigError(
                f"{entry.id} needs {entry.num_players} players; the field has {len(field)}"
            )
    specs = resolve_specs(db, config)
    for name, spec in specs.items():
        for entry in entries:
            reason = cannot_play(spec, entry.id)
            if reason:
                raise ConfigError(f"player {name!r} cannot play {entry.id}: {reason}")
    return entries, specs


def initial_schedule(config: TournamentConfig, entries: list[GameEntry]) -> list[Pairing]:
    """The matches known before play: all of them for round-robin and gauntlet, none for the
    ladder, and none for Swiss (its rounds are stored one at a time as they are paired)."""
    try:
        if config.format == "round_robin":
            return round_robin(
                config.players,
                entries,
                config.games_per_pair,
                config.seed,
                duplicate=config.duplicate,
            )
        if config.format == "gauntlet":
            assert config.challenger is not None
            return gauntlet(
                config.challenger,
                config.players,
                entries,
                config.games_per_pair,
                config.seed,
                duplicate=config.duplicate,
            )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return []


def insert_slots(db: Database, tournament_id: int, pairings: list[Pairing]) -> None:
    """Append pairings to the schedule (inside the caller's transaction)."""
    store.append_slots(
        db,
        tournament_id,
        [
            (p.round, p.game.id, p.game.params_key(), json.dumps(list(p.seats)), p.seed)
            for p in pairings
        ],
    )


def create_tournament(db: Database, config: TournamentConfig, *, unique_name: bool = False) -> int:
    """Check everything, then store the tournament, its inline players and its schedule in
    one transaction. With `unique_name`, a name taken already gets a ` (2)`, ` (3)`, ...
    suffix (chosen inside that transaction). Returns the tournament id."""
    entries, specs = check_config(db, config)
    pairings = initial_schedule(config, entries)
    inline = {s.name for s in config.inline_specs()}
    with write(db):
        store.insert_missing_players(
            db, [(name, specs[name].kind, spec_to_dict(specs[name])) for name in inline]
        )
        tournament_id = store.insert_tournament(
            db,
            name=config.name or f"{config.format} {now()[:16]}",
            format=config.format,
            config=config.model_dump(mode="json"),
            seed=config.seed,
            unique_name=unique_name,
        )
        insert_slots(db, tournament_id, pairings)
    return tournament_id
