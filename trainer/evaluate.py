"""Evaluation games for a checkpoint: a gauntlet against anchors, recorded and rated like any match.

Anchors are players whose strength is known or comparable: the built-in bots and the job's
previous checkpoint. Each game is played as its own small gauntlet tournament with the
checkpoint as challenger, so seat alternation, per-match seeds, recording (every move) and the
TrueSkill update come from arena's tournament runner; one tournament per game because a
tournament requires every player to play every one of its games (minimax cannot play
kuhn_poker). Everything is checked before the first tournament is stored: a bad call writes
nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database

    from arena.tournament.config import TournamentConfig

log = logging.getLogger("trainer")

_POINTS = {"win": 1.0, "draw": 0.5, "loss": 0.0}


def default_anchors(db: Database, game_ids: Sequence[str], player: str) -> list[str]:
    """The anchors for `player` on `game_ids`: `random`, every built-in bot of any of the games
    (minimax for tictactoe and connect_four, cfr for the poker games, ...), then the job's
    previous checkpoint (`players.parent`) when it is registered, active and loadable."""
    from arena.specs import SpecError
    from arena.store.players import find_player, get_player

    anchors = ["random"]
    for bot in _game_bots(game_ids):
        if bot not in anchors:
            anchors.append(bot)
    parent_name = get_player(db, player).parent
    parent = find_player(db, parent_name) if parent_name else None
    if parent is not None and parent.retired_at is None and parent.name != player:
        try:
            parent.parsed_spec()
            anchors.append(parent.name)
        except SpecError as exc:  # its checkpoint folder was deleted: evaluate without it
            log.warning("previous checkpoint %s left out of the anchors: %s", parent.name, exc)
    return anchors


def _game_bots(game_ids: Sequence[str]) -> list[str]:
    from games.registry import game_class

    bots: list[str] = []
    for game_id in game_ids:
        try:
            cls = game_class(game_id)
        except KeyError:
            raise ValueError(f"unknown game {game_id!r}") from None
        bots.extend(sorted(cls.BOTS))
    return bots


def evaluate_checkpoint(
    db_path: str | Path,
    player: str,
    *,
    games: list[str],
    anchors: list[str],
    games_per_anchor: int,
    seed: int,
) -> dict[str, float]:
    """Play `player` against each anchor on each game the anchor can play (combinations it
    cannot play are skipped), `games_per_anchor` matches per pair with seats alternating, each
    match stored and rated. Returns, per game and anchor, `eval/<game>/<anchor>/score` (mean of
    win 1, draw 0.5, loss 0), `.../not_lose` and `.../games` (finished matches), and per game
    `rating/<game>/mu`, `.../sigma` and `.../conservative` of `player` afterwards.

    Raises ValueError, before anything is written, for an unknown or retired player or anchor,
    an unknown game, or nothing to play; RuntimeError after play if a match ended in error
    (an infrastructure failure: the finished matches stay recorded)."""
    from arena.store import open_db

    if games_per_anchor < 1:
        raise ValueError(f"games_per_anchor must be at least 1, got {games_per_anchor}")
    db = open_db(db_path)
    try:
        configs = _plan(
            db, player, games=games, anchors=anchors, games_per_anchor=games_per_anchor, seed=seed
        )
        return _run(db, player, configs)
    finally:
        db.conn.close()


def _plan(
    db: Database,
    player: str,
    *,
    games: list[str],
    anchors: list[str],
    games_per_anchor: int,
    seed: int,
) -> list[TournamentConfig]:
    """One checked gauntlet config per game that has an anchor able to play it (nothing is
    stored). ValueError with the reason when the call cannot be played."""
    from arena.store.players import builtin_specs, find_player
    from arena.tournament.config import parse_config
    from arena.tournament.setup import check_config

    if len(set(anchors)) != len(anchors):
        raise ValueError(f"an anchor is listed twice: {anchors}")
    if player in anchors:
        raise ValueError(f"{player!r} cannot be its own anchor")
    builtin = builtin_specs()
    for name in [player, *anchors]:
        # Checked before find_player, which writes a built-in bot's row on first use.
        if name not in builtin and find_player(db, name) is None:
            what = "checkpoint player" if name == player else "anchor"
            raise ValueError(
                f"unknown {what} {name!r}: neither a registered player nor a built-in bot "
                f"({', '.join(sorted(builtin))})"
            )
    specs = {name: _spec(db, name, builtin) for name in [player, *anchors]}
    configs = []
    for game_id in dict.fromkeys(games):
        seats = _num_players(game_id)
        field = [a for a in anchors if _can_play(specs[a], game_id)]
        skipped = [a for a in anchors if a not in field]
        if skipped:
            log.info("evaluation of %s on %s skips %s", player, game_id, ", ".join(skipped))
        if len(field) < seats - 1:
            log.warning("evaluation of %s skips %s: too few anchors can play it", player, game_id)
            continue
        config = parse_config(
            {
                "name": f"eval {player} on {game_id}",
                "format": "gauntlet",
                "games": [game_id],
                "challenger": player,
                "players": field,
                "games_per_pair": games_per_anchor,
                "seed": seed,
            }
        )
        check_config(db, config)  # the checkpoint's own spec, the anchors' files and keys
        configs.append(config)
    if not configs:
        raise ValueError(f"none of the anchors {anchors} can play any of {games}")
    return configs


def _spec(db: Database, name: str, builtin: dict[str, Any]) -> Any:
    from arena.specs import SpecError
    from arena.store.players import get_player

    if name in builtin:
        return builtin[name]
    row = get_player(db, name)
    if row.retired_at is not None:
        raise ValueError(f"player {name!r} is retired")
    try:
        return row.parsed_spec()
    except SpecError as exc:
        raise ValueError(" ".join(str(exc).split())) from None


def _num_players(game_id: str) -> int:
    import games

    try:
        return games.make(game_id).num_players
    except KeyError:
        raise ValueError(f"unknown game {game_id!r}") from None


def _can_play(spec: Any, game_id: str) -> bool:
    # The tournament's own rule (a bot plays only the games that have it), so that the
    # gauntlet built here passes the runner's check.
    from arena.tournament.setup import cannot_play

    return cannot_play(spec, game_id) is None


def _run(db: Database, player: str, configs: list[TournamentConfig]) -> dict[str, float]:
    from arena.tournament.runner import run_tournament
    from arena.tournament.setup import create_tournament

    metrics: dict[str, float] = {}
    errors: list[str] = []
    for config in configs:
        config.name = _unique_name(db, config.name)
        tid = create_tournament(db, config)
        summary = asyncio.run(run_tournament(db, tid))
        if summary["errors_this_run"]:
            errors.append(_first_error(db, tid))
        metrics.update(_game_metrics(db, tid, player, config.games[0].id))
    if errors:
        raise RuntimeError(f"evaluation of {player} had matches end in error: {'; '.join(errors)}")
    return metrics


def _unique_name(db: Database, name: str) -> str:
    """`name`, or `name (2)`, `name (3)`, ... when an earlier evaluation took it."""
    taken = {r[0] for r in db.conn.execute("SELECT name FROM tournaments")}
    candidate, k = name, 1
    while candidate in taken:
        k += 1
        candidate = f"{name} ({k})"
    return candidate


def _first_error(db: Database, tid: int) -> str:
    row = db.conn.execute(
        "SELECT game, error FROM matches WHERE tournament_id = ? AND status = 'error' "
        "ORDER BY id LIMIT 1",
        (tid,),
    ).fetchone()
    return f"{row[0]}: {row[1]}" if row else f"tournament {tid}"


def _game_metrics(db: Database, tid: int, player: str, game_id: str) -> dict[str, float]:
    """Score and not-losing rate per anchor over the tournament's finished matches, and the
    player's rating in the game now."""
    from arena.store.players import get_player
    from arena.store.ratings import player_standing

    pid = get_player(db, player).id
    points: dict[str, list[float]] = {}
    by_seat: dict[tuple[str, int], list[float]] = {}
    for outcome, anchor, seat in db.conn.execute(
        "SELECT mine.outcome, p.name, mine.seat FROM matches m "
        "JOIN results mine ON mine.match_id = m.id AND mine.player_id = ? "
        "JOIN results other ON other.match_id = m.id AND other.player_id != ? "
        "JOIN players p ON p.id = other.player_id "
        "WHERE m.tournament_id = ? AND m.status = 'finished' ORDER BY m.id",
        (pid, pid, tid),
    ):
        # In a game of more than two seats a match counts for every anchor at the table.
        points.setdefault(anchor, []).append(_POINTS[outcome])
        by_seat.setdefault((anchor, seat), []).append(_POINTS[outcome])
    out: dict[str, float] = {}
    for anchor, values in points.items():
        prefix = f"eval/{game_id}/{anchor}"
        out[f"{prefix}/score"] = sum(values) / len(values)
        out[f"{prefix}/not_lose"] = sum(v > 0.0 for v in values) / len(values)
        out[f"{prefix}/games"] = float(len(values))
    for (anchor, seat), values in sorted(by_seat.items()):
        out[f"eval/{game_id}/{anchor}/not_lose/seat{seat}"] = sum(v > 0.0 for v in values) / len(
            values
        )
    rating = player_standing(db, pid, game_id).rating
    out[f"rating/{game_id}/mu"] = rating.mu
    out[f"rating/{game_id}/sigma"] = rating.sigma
    out[f"rating/{game_id}/conservative"] = rating.conservative
    return out
