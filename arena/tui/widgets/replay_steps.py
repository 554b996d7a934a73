"""A stored match as replay steps: the board after every move, who moved, and every attempt.

Plain Python (no Textual), so the replay logic is tested without a screen. The board is rebuilt
by the game's own rules from the stored actions (`games.make(game, **params)`, then `apply`),
never by a widget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import games
from arena.outcomes import outcome, seat_names


@dataclass(frozen=True)
class AttemptView:
    """One ask-and-answer of a move, as stored."""

    number: int  # 0, 1, ...
    prompt: list[dict[str, str]] | None  # the messages sent (None for bots and people)
    reply: str | None  # the raw reply, verbatim (untrusted)
    parsed: str | None
    legal: bool
    error: str | None
    latency_s: float | None
    policy: dict[str, float] | None = None
    reasoning: str | None = None  # the model's reasoning, kept apart from its answer
    answer: str | None = None  # the reply without the reasoning written in it


@dataclass(frozen=True)
class Step:
    """The match after `index` moves (index 0 = the initial position)."""

    index: int
    board: str  # the referee's board text at this point
    seat: int | None = None  # the mover of move `index` (-1 = chance); None at the start
    player: str | None = None
    action: str | None = None
    forced: bool = False
    attempts: list[AttemptView] = field(default_factory=list)
    seat_name: str | None = None  # the game's name for the mover's seat ("X", "White")

    @property
    def mover(self) -> str:
        """Who made this step's move, in words."""
        if self.seat is None:
            return "start"
        if self.seat < 0:
            return "chance"
        return f"{self.player} ({self.seat_name or f'Player {self.seat}'})"


@dataclass(frozen=True)
class Replay:
    """Everything the replay view shows, computed once per match."""

    match_id: int
    game: str
    params: dict[str, Any]
    players: list[str]
    status: str
    returns: list[float | None]
    error: str | None
    result: str  # the outcome in words ("X won", "Draw"); "" when the match did not finish
    steps: list[Step]
    rebuild_error: str | None = None  # the stored history no longer replays (rules changed)

    @property
    def num_moves(self) -> int:
        return len(self.steps) - 1


def _attempt(row: dict[str, Any]) -> AttemptView:
    legal = row["legal"]
    return AttemptView(
        number=row["attempt"],
        prompt=row["prompt"],
        reply=row["reply"],
        parsed=row["parsed"],
        legal=True if legal is None else bool(legal),  # chance rows carry no verdict
        error=row["error"],
        latency_s=row["latency_s"],
        policy=row.get("policy"),
        # (`match_transcript` has already joined the stored reasoning with any still written
        # in the reply, and cut the answer out of it)
        reasoning=row.get("reasoning"),
        answer=row.get("answer", row["reply"]),
    )


def _grouped(moves: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Attempt rows grouped by move index, in history order."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for row in moves:
        groups.setdefault(row["idx"], []).append(row)
    return [groups[i] for i in sorted(groups)]


def build_replay(transcript: dict[str, Any]) -> Replay:
    """Steps for a `match_transcript(db, id)` record: replays the stored actions by the rules."""
    names = {s["seat"]: s["player"] for s in transcript["seats"]}
    players = [names[s] for s in sorted(names)]
    seats = sorted(transcript["seats"], key=lambda s: s["seat"])
    returns = [s["return"] for s in seats]
    labels = seat_names(transcript["game"], transcript["params"])
    result = ""
    if transcript["status"] == "finished" and None not in returns and returns:
        said = outcome(
            transcript["game"],
            returns,
            transcript.get("forfeit_seat"),
            [s["team"] for s in seats],
            params=transcript["params"],
        )
        result = said.sentence(players=players)
    steps: list[Step] = []
    rebuild_error = None
    try:
        state = games.make(transcript["game"], **transcript["params"]).new_initial_state()
        steps.append(Step(0, str(state)))
    except Exception as exc:  # an unknown game or parameter: still show the transcript
        state = None
        rebuild_error = f"cannot set up {transcript['game']}: {exc}"
        steps.append(Step(0, ""))
    for rows in _grouped(transcript["moves"]):
        first = rows[0]
        action = first["action"]
        board = steps[-1].board
        # A forfeit is a marker, not a move: the board stays as it was.
        if state is not None and action != "(forfeit)":
            try:
                state.apply(action)
                board = str(state)
            except Exception as exc:
                rebuild_error = f"move {first['idx'] + 1} ({action!r}) does not replay: {exc}"
                state = None
        seat = first["seat"]
        steps.append(
            Step(
                index=len(steps),
                board=board,
                seat=seat,
                player=names.get(seat),
                action=action,
                forced=bool(first["forced"]),
                attempts=[_attempt(r) for r in rows if seat >= 0 and r["reply"] is not None],
                seat_name=labels[seat] if 0 <= seat < len(labels) else None,
            )
        )
    return Replay(
        match_id=transcript["id"],
        game=transcript["game"],
        params=transcript["params"],
        players=players,
        status=transcript["status"],
        returns=returns,
        error=transcript["error"],
        result=result,
        steps=steps,
        rebuild_error=rebuild_error,
    )
