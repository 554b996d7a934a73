"""Writing a played match: its record, per-seat results, every move and attempt, and (for a
rated match) its rating update, all in one short transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from arena.outcomes import seat_outcomes
from arena.store.db import write
from arena.store.ratings import SeatResult, rate_recorded_match
from arena.store.schema import now

if TYPE_CHECKING:
    from sqlite_utils import Database

    from arena.match import MatchResult

_MOVE_SQL = (
    "INSERT INTO moves (match_id, idx, attempt, seat, player_id, action, forced, prompt, reply, "
    "parsed, legal, error, latency_s, prompt_tokens, completion_tokens, cost_usd, finish_reason, "
    "timed_out, policy, reasoning) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def is_rated(result: MatchResult, player_ids: Sequence[int]) -> bool:
    """Only finished matches between distinct players, on at least two sides, move ratings
    (errors and aborted matches never do, a player cannot gain from playing itself, and a
    one-player game or a cooperative one, all seats on one team, has nobody to beat)."""
    sides = set(result.teams) if result.teams else set(range(len(player_ids)))
    return (
        result.status == "finished"
        and result.returns is not None
        and len(set(player_ids)) == len(player_ids)
        and len(sides) >= 2
    )


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _move_rows(match_id: int, result: MatchResult, player_ids: Sequence[int]) -> list[tuple]:
    rows = []
    for m in result.moves:
        pid = player_ids[m.seat] if m.seat >= 0 else None
        if not m.attempts:  # chance, a bot's move without a record, or a forfeit marker
            rows.append(
                (match_id, m.index, 0, m.seat, pid, m.action, int(m.forced))
                + (None,) * 10
                + (0, None, None)
            )
            continue
        for n, a in enumerate(m.attempts):
            rows.append(
                (
                    match_id,
                    m.index,
                    n,
                    m.seat,
                    pid,
                    m.action,
                    int(m.forced),
                    _json(a.messages),
                    a.raw,
                    a.action,
                    int(a.legal),
                    a.error,
                    a.latency_s,
                    a.prompt_tokens,
                    a.completion_tokens,
                    a.cost_usd,
                    a.finish_reason,
                    int(a.timed_out),
                    _json(a.policy),
                    a.reasoning,
                )
            )
    return rows


def _seat_totals(result: MatchResult) -> list[dict[str, float]]:
    totals = [
        {
            "decisions": 0,
            "attempts": 0,
            "invalid_moves": 0,
            "latency_s": 0.0,
            "tokens": 0,
            "cost_usd": 0.0,
        }
        for _ in result.players
    ]
    for m in result.moves:
        if m.seat < 0:
            continue
        t = totals[m.seat]
        t["decisions"] += 1
        for a in m.attempts:
            t["attempts"] += 1
            t["invalid_moves"] += not a.legal
            t["latency_s"] += a.latency_s
            t["tokens"] += (a.prompt_tokens or 0) + (a.completion_tokens or 0)
            t["cost_usd"] += a.cost_usd or 0.0
    return totals


def record_match(
    db: Database,
    result: MatchResult,
    player_ids: Sequence[int],
    *,
    tournament_id: int | None = None,
    schedule_id: int | None = None,
    max_tries: int = 3,
) -> int:
    """Store `result` (players given by row id, seat order) and rate it; returns the match id.

    For a scheduled match, the schedule slot is marked done (finished), counted as a try
    (error; `failed` after `max_tries`), or left pending (aborted) in the same transaction.
    """
    if len(player_ids) != len(result.players):
        raise ValueError("one player id per seat")
    rated = is_rated(result, player_ids)
    teams = result.teams or list(range(len(result.players)))
    if result.returns is not None:
        ranks, outcomes, _ = seat_outcomes(result.returns, teams)
    else:
        ranks, outcomes = [None] * len(teams), [None] * len(teams)
    totals = _seat_totals(result)
    with write(db):
        cur = db.conn.execute(
            "INSERT INTO matches (tournament_id, schedule_id, game, params, seed, status, error, "
            "forfeit_seat, rated, num_moves, duration_s, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                tournament_id,
                schedule_id,
                result.game_id,
                json.dumps(result.params, sort_keys=True),
                result.seed,
                result.status,
                result.error,
                result.forfeit_seat,
                int(rated),
                len(result.moves),
                result.duration_s,
                now(),
            ),
        )
        match_id = cur.lastrowid
        db.conn.executemany(
            "INSERT INTO results (match_id, seat, player_id, team, return, rank, outcome, "
            "decisions, attempts, invalid_moves, latency_s, tokens, cost_usd) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    match_id,
                    seat,
                    pid,
                    teams[seat],
                    result.returns[seat] if result.returns is not None else None,
                    ranks[seat],
                    outcomes[seat],
                    int(totals[seat]["decisions"]),
                    int(totals[seat]["attempts"]),
                    int(totals[seat]["invalid_moves"]),
                    totals[seat]["latency_s"],
                    int(totals[seat]["tokens"]),
                    totals[seat]["cost_usd"],
                )
                for seat, pid in enumerate(player_ids)
            ],
        )
        db.conn.executemany(_MOVE_SQL, _move_rows(match_id, result, player_ids))
        if schedule_id is not None:
            if result.status == "finished":
                db.conn.execute("UPDATE schedule SET state = 'done' WHERE id = ?", (schedule_id,))
            elif result.status == "error":
                db.conn.execute(
                    "UPDATE schedule SET tries = tries + 1, state = CASE WHEN tries + 1 >= ? "
                    "THEN 'failed' ELSE state END WHERE id = ?",
                    (max_tries, schedule_id),
                )
        if rated:
            seats = [
                SeatResult(
                    player_id=pid,
                    team=teams[seat],
                    ret=result.returns[seat],
                    decisions=int(totals[seat]["decisions"]),
                    attempts=int(totals[seat]["attempts"]),
                    invalid_moves=int(totals[seat]["invalid_moves"]),
                    latency_s=totals[seat]["latency_s"],
                    tokens=int(totals[seat]["tokens"]),
                    cost_usd=totals[seat]["cost_usd"],
                )
                for seat, pid in enumerate(player_ids)
            ]
            rate_recorded_match(db, match_id, result.game_id, seats)
    return match_id
