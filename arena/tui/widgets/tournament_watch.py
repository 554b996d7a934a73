"""Following tournaments through the database: the list of every tournament, and one run by
another process (`arena tournament run`), whose moves never reach this process. Plain data
read with short queries on the app's connection; the screen draws it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arena.tui.widgets.tournament_live import FinishedRow, format_eta, result_text

if TYPE_CHECKING:
    from sqlite_utils import Database


def tournament_rows(db: Database) -> list[dict[str, Any]]:
    """Every tournament, newest first, with `scheduled` and `played` counts and
    `shown_status` (a run whose process died shows as interrupted). One query: cheap to poll."""
    from arena.store.queries import tournaments_with_progress
    from arena.tournament.runner import tournament_status

    rows = tournaments_with_progress(db)
    return [row | {"shown_status": tournament_status(row)} for row in rows]


@dataclass
class WatchPoll:
    """One reading of a watched tournament."""

    summary: dict[str, Any]
    status_line: str
    done: int  # schedule slots no longer pending
    total: int  # slots scheduled so far
    rows: list[FinishedRow] = field(default_factory=list)  # matches stored since last poll
    changed: bool = False  # anything besides the clock moved (redraw results, standings)


class WatchedTournament:
    """A tournament followed by polling; remembers what was already read."""

    def __init__(self, tournament_id: int, poll_s: float) -> None:
        self.tournament_id = tournament_id
        self.poll_s = poll_s
        self.last_match_id = 0
        self.counts: tuple[Any, ...] | None = None
        self.first: tuple[float, int] | None = None  # (clock, played) at the first poll
        self.status = ""

    def poll(self, db: Database) -> WatchPoll:
        """Read the summary, and the matches stored since the last poll when counts moved.
        Raises TournamentError when the tournament does not exist."""
        from arena.store.queries import list_matches
        from arena.tournament.runner import summary

        s = summary(db, self.tournament_id)
        now = time.monotonic()
        if self.first is None:
            self.first = (now, s["matches_played"])
        counts = (s["status"], s["scheduled"], s["pending"], s["matches_played"])
        counts += (s["matches_error"], s["matches_aborted"])
        reading = WatchPoll(s, self._status_line(s, now), s["scheduled"] - s["pending"], 0)
        reading.total = s["scheduled"]
        if counts == self.counts:
            return reading
        self.counts, self.status, reading.changed = counts, s["status"], True
        for m in list_matches(db, tournament=self.tournament_id):
            if m["id"] <= self.last_match_id:
                continue
            self.last_match_id = m["id"]
            outcomes = m["outcomes"] if m["status"] == "finished" else None
            result = result_text(m["players"], outcomes, m["status"])
            reading.rows.append(
                FinishedRow(m["id"], m["game"], m["players"], result, m["num_moves"], m["status"])
            )
        return reading

    def _status_line(self, s: dict[str, Any], now: float) -> str:
        where = "running elsewhere" if s["status"] == "running" else s["status"]
        parts = [f"#{s['id']} {s['name']}", where, f"{s['matches_played']}/{s['scheduled']} played"]
        if s["matches_error"]:
            parts.append(f"{s['matches_error']} errors")
        if s["matches_aborted"]:
            parts.append(f"{s['matches_aborted']} aborted")
        if s["status"] == "running":
            parts.append(f"ETA {format_eta(self._eta(s, now))}")
        return " · ".join(parts)

    def _eta(self, s: dict[str, Any], now: float) -> float | None:
        """Remaining slots over the rate seen since watching began."""
        assert self.first is not None
        t0, played0 = self.first
        if s["matches_played"] <= played0 or now <= t0:
            return None
        return s["pending"] / ((s["matches_played"] - played0) / (now - t0))

    def note(self, s: dict[str, Any]) -> str:
        """What the watch view says in place of the in-flight table."""
        text = f"{s['format']} · games: {', '.join(s['games'])}\nplayers: {', '.join(s['players'])}"
        if s["status"] == "running":
            text += (
                "\n\nThis tournament runs in another process: its moves are not visible here."
                f" Progress and results are read from the database every {self.poll_s:g} s."
            )
        elif s["status"] in ("interrupted", "created"):
            text += f"\n\n{s['pending']} matches pending: resume them here with u."
        return text

    @property
    def resumable(self) -> bool:
        return self.status in ("interrupted", "created")
