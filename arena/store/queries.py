"""Reading the record back: match lists, transcripts and the move-level dataset export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from arena.backends.reasoning import answer_of, reasoning_of_record

if TYPE_CHECKING:
    from sqlite_utils import Database


def _match_filter(
    game: str | None, tournament: int | None, player: str | None, status: str | None
) -> tuple[str, list[Any]]:
    where, args = [], []
    if game is not None:
        where.append("m.game = ?")
        args.append(game)
    if tournament is not None:
        where.append("m.tournament_id = ?")
        args.append(tournament)
    if status is not None:
        where.append("m.status = ?")
        args.append(status)
    if player is not None:
        where.append(
            "m.id IN (SELECT r.match_id FROM results r JOIN players p ON p.id = r.player_id "
            "WHERE p.name = ?)"
        )
        args.append(player)
    return (" WHERE " + " AND ".join(where) if where else ""), args


def count_matches(
    db: Database,
    *,
    game: str | None = None,
    tournament: int | None = None,
    player: str | None = None,
    status: str | None = None,
) -> int:
    where, args = _match_filter(game, tournament, player, status)
    return db.conn.execute(f"SELECT COUNT(*) FROM matches m{where}", args).fetchone()[0]


def list_matches(
    db: Database,
    *,
    game: str | None = None,
    tournament: int | None = None,
    player: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    """Matches in finish order (or newest first) with their players by seat, returns,
    outcomes and teams, and the seat that forfeited (if one did)."""
    where, args = _match_filter(game, tournament, player, status)
    sql = (
        "SELECT m.id, m.tournament_id, m.game, m.params, m.seed, m.status, m.error, m.rated, "
        "m.num_moves, m.duration_s, m.finished_at, m.forfeit_seat, "
        "(SELECT json_group_array(json_array(p.name, r.return, r.outcome, r.team)) FROM "
        "(SELECT * FROM results WHERE match_id = m.id ORDER BY seat) r "
        "JOIN players p ON p.id = r.player_id) AS seats FROM matches m" + where
    )
    sql += " ORDER BY m.id DESC" if newest_first else " ORDER BY m.id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    out = []
    for row in db.query(sql, args):
        seats = json.loads(row.pop("seats"))
        row["params"] = json.loads(row["params"])
        row["rated"] = bool(row["rated"])
        row["players"] = [s[0] for s in seats]
        row["returns"] = None if row["status"] != "finished" else [s[1] for s in seats]
        row["outcomes"] = [s[2] for s in seats]
        row["teams"] = [s[3] for s in seats]
        out.append(row)
    return out


def match_transcript(db: Database, match_id: int) -> dict[str, Any] | None:
    """Everything about one match: the row, the seats and every attempt of every move."""
    rows = list(db.query("SELECT * FROM matches WHERE id = ?", [match_id]))
    if not rows:
        return None
    match = rows[0]
    match["params"] = json.loads(match["params"])
    match["seats"] = list(
        db.query(
            "SELECT r.*, p.name AS player FROM results r JOIN players p ON p.id = r.player_id "
            "WHERE r.match_id = ? ORDER BY r.seat",
            [match_id],
        )
    )
    moves = []
    for mv in db.query("SELECT * FROM moves WHERE match_id = ? ORDER BY idx, attempt", [match_id]):
        mv["prompt"] = json.loads(mv["prompt"]) if mv["prompt"] else None
        mv["policy"] = json.loads(mv["policy"]) if mv["policy"] else None
        _reasoning_apart(mv)
        moves.append(mv)
    match["moves"] = moves
    return match


def export_moves(
    db: Database,
    *,
    game: str | None = None,
    tournament: int | None = None,
    player: str | None = None,
    include_unfinished: bool = False,
) -> Iterator[dict[str, Any]]:
    """One record per player attempt (chance moves skipped): the prompt, the raw reply, the
    model's reasoning and its answer apart (`reasoning`, `answer`), the action it parsed to,
    its legality, and the final return of the mover's seat."""
    matches, args = _match_filter(
        game, tournament, None, None if include_unfinished else "finished"
    )
    where = [matches.removeprefix(" WHERE ")] if matches else []
    where.append("mv.seat >= 0")
    if player is not None:  # the mover, not anyone in the match
        where.append("p.name = ?")
        args.append(player)
    sql = (
        "SELECT m.id AS match_id, m.game, m.params, m.seed, m.status, mv.idx AS move, "
        "mv.attempt, mv.seat, p.name AS player, mv.prompt, mv.reply, mv.parsed AS action, "
        "mv.legal, mv.error, mv.action AS played, mv.forced, mv.prompt_tokens, "
        "mv.completion_tokens, mv.latency_s, mv.cost_usd, mv.reasoning, "
        "r.return AS final_return "
        "FROM moves mv JOIN matches m ON m.id = mv.match_id "
        "JOIN results r ON r.match_id = mv.match_id AND r.seat = mv.seat "
        "JOIN players p ON p.id = mv.player_id WHERE "
        + " AND ".join(where)
        + " ORDER BY m.id, mv.idx, mv.attempt"
    )
    for row in db.query(sql, args):
        row["params"] = json.loads(row["params"])
        row["prompt"] = json.loads(row["prompt"]) if row["prompt"] else None
        row["legal"] = None if row["legal"] is None else bool(row["legal"])
        row["forced"] = bool(row["forced"])
        _reasoning_apart(row)
        yield row


def _reasoning_apart(row: dict[str, Any]) -> None:
    """Fill a move row's `reasoning` (the stored column, plus what is still written in the raw
    reply of an older record) and `answer` (the raw reply without its reasoning)."""
    row["reasoning"] = reasoning_of_record(row.get("reasoning"), row["reply"])
    row["answer"] = answer_of(row["reply"])


def is_match_rated(db: Database, match_id: int) -> bool:
    """Whether the stored match `match_id` moved ratings (False for an unknown id)."""
    row = db.conn.execute("SELECT rated FROM matches WHERE id = ?", (match_id,)).fetchone()
    return bool(row and row[0])


def tournaments_with_progress(db: Database) -> list[dict[str, Any]]:
    """Every tournament row, newest first, with `scheduled` (schedule slots) and `played`
    (finished matches) counts. One query: cheap to poll."""
    return list(
        db.query(
            "SELECT t.*, (SELECT COUNT(*) FROM schedule s WHERE s.tournament_id = t.id) "
            "AS scheduled, (SELECT COUNT(*) FROM matches m WHERE m.tournament_id = t.id "
            "AND m.status = 'finished') AS played FROM tournaments t ORDER BY t.id DESC"
        )
    )
