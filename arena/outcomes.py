"""Outcomes in words people use: who won, a draw, a resignation, chips and points.

The one place that turns a finished match's returns into results. `seat_outcomes` ranks the
seats (the store rates by it); `outcome` adds the game's seat names and units and says it in a
sentence, for a seat's own player ("You won as X") or a spectator ("O won by resignation
(illegal move)"). The Play screen, the replays, `arena match` and `arena matches` call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arena.ratings import outcome_ranks

if TYPE_CHECKING:
    from games import Game

# What a game's returns count, where they count something people name.
UNITS = {"kuhn_poker": "chip", "leduc_poker": "chip", "prisoners_dilemma": "point"}
RESIGNED = "resignation (illegal move)"


def seat_outcomes(
    returns: Sequence[float], teams: Sequence[int] | None
) -> tuple[list[int], list[str], bool]:
    """Rank (0 = best), outcome (win/draw/loss) per seat, and whether the match is a draw
    (every team tied)."""
    groups, ranks = outcome_ranks(returns, teams)
    seat_rank = [0] * len(returns)
    for group, rank in zip(groups, ranks):
        for seat in group:
            seat_rank[seat] = rank
    drawn = len(set(ranks)) == 1
    outcomes = ["draw" if drawn else ("win" if r == 0 else "loss") for r in seat_rank]
    return seat_rank, outcomes, drawn


def seat_names(game: Game | str, params: dict[str, Any] | None = None) -> tuple[str, ...]:
    """The seat names of `game` (a game, or a game id with its parameters); the generic
    "Player 0", "Player 1", ... when the game cannot be set up (an unknown id, changed rules)."""
    if isinstance(game, str):
        import games

        try:
            game = games.make(game, **(params or {}))
        except Exception:
            n = int((params or {}).get("num_players", 2))
            return tuple(f"Player {seat}" for seat in range(n))
    return game.seat_names()


def _join(names: Sequence[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def capitalize_first(text: str) -> str:
    """Capitalise the first letter: "the first player" -> "The first player"."""
    return text[:1].upper() + text[1:]


def _count(value: float, unit: str) -> str:
    return f"{value:g} {unit}{'' if abs(value) == 1 else 's'}"


@dataclass(frozen=True)
class Outcome:
    """A finished match's result: per seat its name, return and win/draw/loss."""

    game_id: str
    names: tuple[str, ...]  # the game's seat names
    returns: tuple[float, ...]
    results: tuple[str, ...]  # "win", "draw" or "loss" per seat
    forfeit_seat: int | None = None
    unit: str | None = None  # "chip", "point": what the returns count, if anything
    teams: tuple[int, ...] | None = None  # a team id per seat, when seats play in teams

    @property
    def draw(self) -> bool:
        return all(r == "draw" for r in self.results)

    @property
    def winners(self) -> tuple[int, ...]:
        """The seats that won (none on a draw)."""
        return tuple(s for s, r in enumerate(self.results) if r == "win")

    def seat_label(self, seat: int, players: Sequence[str] | None = None) -> str:
        """A seat in words: "X", or "alice (X)" when the players' names are given."""
        name = self.names[seat] if seat < len(self.names) else f"Player {seat}"
        return f"{players[seat]} ({name})" if players else name

    def sentence(self, viewer: int | None = None, players: Sequence[str] | None = None) -> str:
        """The result in one sentence: for the player in seat `viewer` ("You won as X"), or
        for a spectator ("X won", "Draw"); `players` adds the players' names to the seats."""
        if viewer is not None:
            return self._for_viewer(viewer)
        text = self._for_spectator(players)
        return text if players else capitalize_first(text)  # a player's name keeps its own case

    # --- the sentences -----------------------------------------------------------------
    def _winners(self, players: Sequence[str] | None, but: int | None = None) -> str:
        return _join([self.seat_label(s, players) for s in self.winners if s != but])

    def _score(self, first: int, second: int) -> str:
        """ ", 12 points to 7" for two seats that score points; "" otherwise."""
        if self.unit != "point" or len(self.returns) != 2:
            return ""
        return f", {_count(self.returns[first], 'point')} to {self.returns[second]:g}"

    def _alone(self) -> bool:
        """Nobody to beat: a one-player game, or every seat on one team (cooperative)."""
        sides = set(self.teams) if self.teams else set(range(len(self.returns)))
        return len(sides) < 2

    def _scored(self) -> str:
        """The return of a game played alone or together: "scored 10" (each seat's, if they
        differ)."""
        if len(set(self.returns)) == 1:
            together = " together" if len(self.returns) > 1 else ""
            return f"scored {self.returns[0]:g}{together}"
        return "scored " + ", ".join(f"{r:g}" for r in self.returns)

    def _for_spectator(self, players: Sequence[str] | None) -> str:
        if self._alone() and self.forfeit_seat is None:
            who = _join([self.seat_label(s, players) for s in range(len(self.returns))])
            return f"{who} {self._scored()}"
        if self.draw:
            return self._draw_text()
        winners = self._winners(players)
        if self.forfeit_seat is not None:
            if len(self.returns) == 2:
                return f"{winners} won by {RESIGNED}"
            return f"{winners} won: {self.seat_label(self.forfeit_seat, players)} resigned"
        if self.unit == "chip" and len(self.winners) == 1:
            return f"{winners} won {_count(self.returns[self.winners[0]], 'chip')}"
        if len(self.returns) == 2:
            loser = 1 - self.winners[0]
            return f"{winners} won{self._score(self.winners[0], loser)}"
        return f"{winners} won together" if self._one_team() else f"{winners} won"

    def _for_viewer(self, seat: int) -> str:
        mine = self.seat_label(seat)
        if self._alone() and self.forfeit_seat is None:
            return f"You {self._scored()} as {mine}"
        if self.draw:
            return self._draw_text()
        won = self.results[seat] == "win"
        if self.forfeit_seat is not None:
            if seat == self.forfeit_seat:
                return f"You lost as {mine}: {self._winners(None)} won by {RESIGNED}"
            forfeited = self.seat_label(self.forfeit_seat)
            return f"You won as {mine}: {forfeited} resigned (illegal move)"
        if self.unit == "chip":
            verb = "won" if won else "lost"
            return f"You {verb} {_count(abs(self.returns[seat]), 'chip')} as {mine}"
        if len(self.returns) == 2:
            return f"You {'won' if won else 'lost'} as {mine}{self._score(seat, 1 - seat)}"
        if won:
            mates = self._winners(None, but=seat)
            return f"You won as {mine}" + (f" with {mates}" if mates else "")
        return f"You lost as {mine}: {self._winners(None)} won"

    def _draw_text(self) -> str:
        if self.unit == "point" and len(set(self.returns)) == 1:
            return f"Draw, {_count(self.returns[0], 'point')} each"
        if self.unit == "chip":
            return "Draw: the pot was split"
        return "Draw"

    def _one_team(self) -> bool:
        """Whether the winners are one team of several seats (spy's civilians)."""
        if self.teams is None or len(self.winners) < 2:
            return False
        return len({self.teams[s] for s in self.winners}) == 1


def outcome(
    game: Game | str,
    returns: Sequence[float],
    forfeit_seat: int | None = None,
    teams: Sequence[int] | None = None,
    params: dict[str, Any] | None = None,
) -> Outcome:
    """The result of a finished match of `game` (a game, or a game id with its `params`) from
    its returns, the seat that forfeited (if one did) and the seats' teams (if any)."""
    game_id = game if isinstance(game, str) else game.id
    names = seat_names(game, params)
    if len(names) != len(returns):  # a stored match of a game whose seats changed since
        names = tuple(f"Player {seat}" for seat in range(len(returns)))
    _, results, _ = seat_outcomes(returns, teams)
    return Outcome(
        game_id=game_id,
        names=names,
        returns=tuple(float(r) for r in returns),
        results=tuple(results),
        forfeit_seat=forfeit_seat,
        unit=UNITS.get(game_id),
        teams=None if teams is None else tuple(teams),
    )
