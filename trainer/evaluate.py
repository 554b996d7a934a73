"""Evaluation games for a checkpoint: a gauntlet against anchors, recorded and rated like any match.

Anchors are players whose strength is known or comparable: the built-in bots and the job's
previous checkpoint. Each game is played as its own small gauntlet tournament with the
checkpoint as challenger, so seat alternation, per-match seeds, recording (every move) and the
TrueSkill update come from arena's tournament runner; one tournament per game because a
tournament requires every player to play every one of its games (minimax cannot play
kuhn_poker). Everything is checked before the first tournament is stored: a bad call writes
nothing. An evaluation cut short (a stop request, a killed process) is resumed with
`resume=True`: its tournaments are found by name and played on, so no match is lost or repeated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database

    from arena.tournament.config import TournamentConfig

log = logging.getLogger("trainer")

_POINTS = {"win": 1.0, "draw": 0.5, "loss": 0.0}


class EvaluationStopped(Exception):
    """`should_stop` ended an evaluation before its last match; what was played is stored and
    the evaluation resumes with `resume=True`."""


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
    resume: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, float]:
    """Play `player` against each anchor on each game the anchor can play (combinations it
    cannot play are skipped), `games_per_anchor` matches per pair with seats alternating, each
    match stored and rated. Returns, per game and anchor, `eval/<game>/<anchor>/score` (mean of
    win 1, draw 0.5, loss 0), `.../not_lose` and `.../games` (finished matches), and per game
    `rating/<game>/mu`, `.../sigma` and `.../conservative` of `player` afterwards, and how it
    answered: `eval/<game>/invalid_rate` (invalid attempts / attempts), `eval/<game>/reply_tokens`
    and `eval/<game>/reply_chars` (mean length of its replies, where recorded).

    With `resume`, a game whose evaluation tournament of the same name exists is not played
    again: an unfinished one is played on, a finished one only read. `should_stop()` is polled
    while matches play; when it turns true the matches in flight end and EvaluationStopped is
    raised (the tournament stays resumable).

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
        return _run(db, player, configs, resume=resume, should_stop=should_stop)
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


def _run(
    db: Database,
    player: str,
    configs: list[TournamentConfig],
    *,
    resume: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, float]:
    from arena.store.tournaments import first_match_error, tournaments_named
    from arena.tournament.setup import create_tournament

    metrics: dict[str, float] = {}
    errors: list[str] = []
    for config in configs:
        earlier = tournaments_named(db, config.name) if resume else []
        if earlier:  # the newest of that name: an evaluation an earlier run began
            tid, _, status = earlier[-1]
            if status != "finished":
                log.info("resuming the evaluation tournament %d (%s)", tid, config.name)
        else:
            tid, status = create_tournament(db, config, unique_name=True), "created"
        if status != "finished":
            summary = asyncio.run(_play(db, tid, should_stop))
            if summary["errors_this_run"]:
                found = first_match_error(db, tid)
                errors.append(f"{found[0]}: {found[1]}" if found else f"tournament {tid}")
            if summary["status"] != "finished" and should_stop is not None and should_stop():
                raise EvaluationStopped(f"evaluation of {player} stopped in tournament {tid}")
        metrics.update(_game_metrics(db, tid, player, config.games[0].id))
    if errors:
        raise RuntimeError(f"evaluation of {player} had matches end in error: {'; '.join(errors)}")
    return metrics


async def _play(db: Database, tid: int, should_stop: Callable[[], bool] | None) -> dict[str, Any]:
    """Run (or resume) one evaluation tournament, ending it when `should_stop()` turns true."""
    from arena.tournament.runner import run_tournament
    from trainer.crash import crash_point

    stop = asyncio.Event()

    async def watch() -> None:
        while not stop.is_set():
            if should_stop is not None and should_stop():
                stop.set()
            await asyncio.sleep(0.1)

    def progress(p: Any) -> None:  # after each batch of stored matches
        if p.played:
            crash_point("during_evaluation")
        if should_stop is not None and should_stop():
            stop.set()

    watcher = asyncio.ensure_future(watch())
    try:
        return await run_tournament(db, tid, stop=stop, on_progress=progress)
    finally:
        watcher.cancel()


def _game_metrics(db: Database, tid: int, player: str, game_id: str) -> dict[str, float]:
    """Score and not-losing rate per anchor over the tournament's finished matches, the
    player's invalid-move rate and reply length in them, and its rating in the game now."""
    from arena.store.eval_stats import tournament_reply_stats
    from arena.store.players import get_player
    from arena.store.ratings import player_standing
    from arena.store.tournaments import results_against

    pid = get_player(db, player).id
    points: dict[str, list[float]] = {}
    by_seat: dict[tuple[str, int], list[float]] = {}
    for outcome, anchor, seat in results_against(db, tid, pid):
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
    replies = tournament_reply_stats(db, tid, pid)
    for name, value in (
        ("invalid_rate", replies.invalid_rate),
        ("reply_tokens", replies.reply_tokens),
        ("reply_chars", replies.reply_chars),
    ):
        if value is not None:
            out[f"eval/{game_id}/{name}"] = value
    rating = player_standing(db, pid, game_id).rating
    out[f"rating/{game_id}/mu"] = rating.mu
    out[f"rating/{game_id}/sigma"] = rating.sigma
    out[f"rating/{game_id}/conservative"] = rating.conservative
    return out
