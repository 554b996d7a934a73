"""Single matches that are stored and rated: a person against any player in the app, or
`arena match --save`. Also the one-move probe behind the app's "test" button."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arena.specs import HumanSpec
from arena.store.players import add_player, find_player, get_player

if TYPE_CHECKING:
    import asyncio

    from sqlite_utils import Database

    from arena.match import EventSink, MatchResult, MatchRules
    from arena.players.base import Player
    from arena.players.factory import BackendPool
    from games import Game


def ensure_human(db: Database, name: str) -> None:
    """Register a person under `name` (people are rated players) unless already there."""
    row = find_player(db, name)
    if row is None:
        add_player(db, HumanSpec(name=name))
    elif row.kind != "human":
        raise ValueError(f"{name!r} is a {row.kind} player, not a person")


def players_by_name(db: Database, names: Sequence[str], pool: BackendPool) -> list[Player]:
    """Registered players (or built-in bots) ready to play; people get a UI hand-off."""
    from arena.players.factory import make_player

    return [make_player(get_player(db, n).parsed_spec(), pool) for n in names]


async def play_recorded(
    db: Database,
    game: Game,
    players: Sequence[Player],
    seed: int,
    *,
    rules: MatchRules | None = None,
    on_event: EventSink | None = None,
    stop: asyncio.Event | None = None,
    stream: bool = False,
) -> tuple[int, MatchResult]:
    """Play one match and store it (rated when finished between distinct players)."""
    from arena.match import play_match
    from arena.store.records import record_match

    ids = [get_player(db, p.name).id for p in players]  # unknown names fail before play
    result = await play_match(
        game, players, seed, rules=rules, on_event=on_event, stop=stop, stream=stream
    )
    return record_match(db, result, ids), result


@dataclass(frozen=True)
class Probe:
    """What a player answered when asked for one move."""

    game: str
    observation: str
    reply: str
    action: str | None
    legal: bool
    error: str | None
    latency_s: float


async def probe_player(spec: Any, game_id: str = "tictactoe", seed: int = 0) -> Probe:
    """Ask a player for one move at the start of `game_id` (the app's "test" action). Backend
    failures propagate as `BackendError`; an illegal reply is reported, not raised."""
    import random

    import games
    from arena.match import attempt_from_reply
    from arena.players.base import Turn
    from arena.players.factory import BackendPool, make_player

    game = games.make(game_id)
    state = game.new_initial_state()
    rng = random.Random(seed)
    while state.current_player() == games.CHANCE:
        state.apply(games.sample_chance(state, rng))
    pool = BackendPool()
    player = make_player(spec, pool)
    seat = state.current_player()
    turn = Turn(
        game=game,
        state=state.clone(),
        seat=seat,
        legal_actions=state.legal_actions(),
        rng=rng,
        move_index=0,
        attempt=0,
        feedback=None,
        memory={},
        on_text=None,
        match_seed=seed,
    )
    try:
        t0 = time.perf_counter()
        reply = await player.act(turn)
        attempt = attempt_from_reply(turn, reply, time.perf_counter() - t0)
    finally:
        await player.aclose()
        await pool.aclose()
    return Probe(
        game=game_id,
        observation=state.observation(seat),
        reply=attempt.raw,
        action=attempt.action,
        legal=attempt.legal,
        error=attempt.error,
        latency_s=attempt.latency_s,
    )
