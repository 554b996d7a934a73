"""How a player played in a tournament's matches, beyond the outcomes: its invalid-move rate and
the length of its replies. The trainer records them with each checkpoint's evaluation, so a
job's curves show a checkpoint that stops answering in form or stops reasoning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database


@dataclass(frozen=True)
class ReplyStats:
    """A player's attempts in a tournament's finished matches."""

    attempts: int
    """Replies asked of it (retries count)."""
    invalid_moves: int
    """Attempts whose answer was not a legal move."""
    reply_tokens: float | None
    """Mean completion tokens of its replies (None: no reply recorded its tokens)."""
    reply_chars: float | None
    """Mean characters of its raw replies (None: no reply recorded)."""

    @property
    def invalid_rate(self) -> float | None:
        """Invalid attempts as a share of all (None: no attempts)."""
        return self.invalid_moves / self.attempts if self.attempts else None


def tournament_reply_stats(db: Database, tournament_id: int, player_id: int) -> ReplyStats:
    """`player_id`'s attempts, invalid moves and mean reply length over the finished matches of
    tournament `tournament_id` (from the results' totals and the recorded moves)."""
    attempts, invalid = db.conn.execute(
        "SELECT COALESCE(SUM(r.attempts), 0), COALESCE(SUM(r.invalid_moves), 0) FROM results r "
        "JOIN matches m ON m.id = r.match_id "
        "WHERE m.tournament_id = ? AND m.status = 'finished' AND r.player_id = ?",
        (tournament_id, player_id),
    ).fetchone()
    tokens, chars = db.conn.execute(
        "SELECT AVG(mv.completion_tokens), AVG(LENGTH(mv.reply)) FROM moves mv "
        "JOIN matches m ON m.id = mv.match_id "
        "WHERE m.tournament_id = ? AND m.status = 'finished' AND mv.player_id = ? "
        "AND mv.reply IS NOT NULL",
        (tournament_id, player_id),
    ).fetchone()
    return ReplyStats(
        attempts=int(attempts),
        invalid_moves=int(invalid),
        reply_tokens=None if tokens is None else float(tokens),
        reply_chars=None if chars is None else float(chars),
    )
