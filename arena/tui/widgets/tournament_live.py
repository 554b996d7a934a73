"""What a live tournament view shows, kept as plain data.

The runner's callbacks (`on_progress`, `on_match_event`) fire for every move and every streamed
token. They only update this tracker (cheap, no widget touched); the screen draws from it on a
timer, so a flood of tokens becomes one repaint every ~80 ms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arena.match import AttemptMade, MatchEnded, MatchStarted, MovePlayed, ReplyText, TurnStarted

if TYPE_CHECKING:
    from arena.match import MatchEvent, MatchResult
    from arena.tournament.runner import Progress, Slot

REPLY_LIMIT = 6000  # characters of a streaming reply kept for display (the tail)


def result_text(players: list[str], outcomes: list[str] | None, status: str) -> str:
    """A one-line verdict: who won, a draw, or why the match did not finish."""
    if status != "finished" or not outcomes:
        return status
    winners = [p for p, o in zip(players, outcomes) if o == "win"]
    if not winners:
        return "draw"
    return " & ".join(winners) + (" wins" if len(winners) == 1 else " win")


def outcomes_of(result: MatchResult) -> list[str] | None:
    """Win/draw/loss per seat of a finished match (the store's own ranking rule)."""
    if result.status != "finished" or not result.returns:
        return None
    from arena.outcomes import seat_outcomes

    return seat_outcomes(result.returns, result.teams)[1]


@dataclass
class LiveMatch:
    """One match in flight: enough to list it and to spectate it."""

    slot_id: int
    number: int  # 1-based position in the schedule
    game: str
    players: list[str]
    moves: int = 0
    board: str = ""
    reply_title: str = ""  # whose reply is shown (a model's; bots only make moves)
    reply: list[str] = field(default_factory=list)
    reply_chars: int = 0
    verdict: str = ""  # the last attempt's fate (a legal move, or why it was illegal)
    outcome: str = ""  # set when the match ends: who won, or why it stopped
    turn_title: str = ""
    turn_fresh: bool = False  # a turn started and its reply has not begun yet
    version: int = 0  # bumped on every change; the view redraws when it moves

    def reply_text(self) -> str:
        """The reply shown: the tail of the latest model reply."""
        return "".join(self.reply)[-REPLY_LIMIT:]

    def start_reply(self) -> None:
        """A new reply begins: the previous one stays visible until now (bots move fast)."""
        self.reply, self.reply_chars = [], 0
        self.reply_title = self.turn_title
        self.turn_fresh = False

    def append_reply(self, piece: str) -> None:
        self.reply.append(piece)
        self.reply_chars += len(piece)
        if self.reply_chars > 2 * REPLY_LIMIT:  # keep memory flat on a runaway reply
            tail = self.reply_text()
            self.reply, self.reply_chars = [tail], len(tail)


@dataclass(frozen=True)
class FinishedRow:
    """A row of the finished-results table."""

    number: int
    game: str
    players: list[str]
    result: str
    moves: int
    status: str


class LiveRun:
    """A tournament this app is running: progress, matches in flight, results not drawn yet."""

    def __init__(self, tournament_id: int, name: str, total: int = 0) -> None:
        self.tournament_id = tournament_id
        self.name = name
        self.total = total
        self.done = 0
        self.failed = 0
        self.errors = 0
        self.aborted = 0
        self.in_flight_count = 0
        self.eta_s: float | None = None
        self.paused = False
        # starting, running, paused, stopping, then finished, interrupted or failed
        self.state = "starting"
        self.error: str | None = None
        self.matches: dict[int, LiveMatch] = {}
        self.ended: list[FinishedRow] = []  # finished since the view last drew them
        self.gone: dict[int, LiveMatch] = {}  # matches ended since the view last drew them
        self.version = 0

    # --- the runner's callbacks (event loop thread; plain data only) ---------------------
    def on_progress(self, progress: Progress) -> None:
        self.total = progress.total
        self.done = progress.done
        self.failed = progress.failed
        self.errors = progress.errors
        self.aborted = progress.aborted
        self.in_flight_count = progress.in_flight
        self.eta_s = progress.eta_s
        self.paused = progress.paused
        if self.state in ("starting", "running", "paused"):
            self.state = "paused" if progress.paused else "running"
        self.version += 1

    def on_match_event(self, slot: Slot, event: MatchEvent) -> None:
        match = self.matches.get(slot.id)
        if match is None:
            if isinstance(event, MatchEnded):
                return  # ended before we saw it start (should not happen): nothing to show
            match = LiveMatch(slot.id, slot.idx + 1, slot.game, list(slot.seats))
            self.matches[slot.id] = match
        if isinstance(event, MatchStarted):
            pass
        elif isinstance(event, TurnStarted):
            again = f", attempt {event.attempt + 1}" if event.attempt else ""
            match.turn_title = f"seat {event.seat} · {event.player}{again}"
            match.turn_fresh = True
        elif isinstance(event, ReplyText):
            if match.turn_fresh:
                match.start_reply()
            match.append_reply(event.text)
        elif isinstance(event, AttemptMade):
            attempt = event.attempt
            if match.turn_fresh and attempt.messages is not None:
                # a model whose backend did not stream: show the whole reply at once
                match.start_reply()
                match.append_reply(attempt.raw)
            match.turn_fresh = False
            if attempt.legal:
                match.verdict = f"{event.player} played {attempt.action}"
            else:
                match.verdict = f"{event.player}: illegal ({attempt.error or 'no legal move'})"
        elif isinstance(event, MovePlayed):
            match.moves += 1
            match.board = event.state_text
        elif isinstance(event, MatchEnded):
            self._end(match, event.result)
        match.version += 1
        self.version += 1

    def _end(self, match: LiveMatch, result: MatchResult) -> None:
        outcomes = outcomes_of(result)
        status = result.status
        text = result_text(match.players, outcomes, status)
        if status == "error" and result.error:
            text = f"error: {result.error}"
        match.outcome = text
        self.ended.append(
            FinishedRow(match.number, match.game, match.players, text, match.moves, status)
        )
        self.gone[match.slot_id] = match

    # --- for the view --------------------------------------------------------------------
    def take_ended(self) -> tuple[list[FinishedRow], dict[int, LiveMatch]]:
        """Results and ended matches not drawn yet; the ended matches leave the tracker."""
        rows, gone = self.ended, self.gone
        self.ended, self.gone = [], {}
        for slot_id in gone:
            self.matches.pop(slot_id, None)
        return rows, gone

    def status_line(self) -> str:
        """`running · 12/40 done · 3 in flight · ETA 0:07` and the like."""
        parts = [self.state, f"{self.done}/{self.total} done"]
        if self.in_flight_count:
            parts.append(f"{self.in_flight_count} in flight")
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.errors:
            parts.append(f"{self.errors} errors")
        if self.aborted:
            parts.append(f"{self.aborted} aborted")
        if self.state in ("running", "paused"):
            parts.append(f"ETA {format_eta(self.eta_s)}")
        if self.error:
            parts.append(self.error)
        return " · ".join(parts)


def format_eta(seconds: float | None) -> str:
    """`1:05`, `2:03:09`, or `--` when unknown."""
    if seconds is None:
        return "--"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def row_cells(row: Any) -> list[str]:
    """The cells of a finished row: #, result, players, moves, game."""
    return [str(row.number), row.result, " vs ".join(row.players), str(row.moves), row.game]
