"""What Kuhn poker and Leduc hold'em share: two seats, one private card each, a betting tree.

Both games keep their own betting tree, rules and card names; this module holds what works the
same in both: `PokerState` (moving through a betting tree, fold payoffs, cloning, the
opponent-card variants of the leak test), the betting narration, pot line and end-of-hand text of
an observation, and reading a betting word (with the aliases models use) or explaining why it is
not legal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from games.core import CHANCE, TERMINAL, Game, IllegalActionError, Parsed, State, replay
from games.parsing import format_moves, parse_from_legal

_PAST = {
    "check": "checked",
    "bet": "bet",
    "raise": "raised",
    "call": "called",
    "fold": "folded",
}
_WORD_RE = re.compile(r"[a-z]+")
# Every betting word, legal now or not: a list of them is an echo of the moves, not a choice.
_BETTING_WORDS = frozenset({"check", "bet", "raise", "call", "fold", "pass"})


def chips(n: int) -> str:
    """`1 chip`, `3 chips`."""
    return f"{n} chip" if n == 1 else f"{n} chips"


def narrate(actions: Sequence[str], me: int) -> str:
    """The betting `actions` from `me`'s point of view, e.g. "you checked, opponent bet" (seat 0
    acts first); "" when there are none."""
    parts = []
    for i, action in enumerate(actions):
        who = "you" if i % 2 == me else "opponent"
        parts.append(f"{who} {_PAST[action]}")
    return ", ".join(parts)


def pot_text(contrib: Sequence[int], player: int) -> str:
    """The pot line of `player`'s observation, from the chips each seat has put in."""
    mine, theirs = contrib[player], contrib[1 - player]
    return f"Pot: {chips(mine + theirs)}; you have put in {mine}, your opponent {theirs}."


def hand_over_text(won: float, folder: int, player: int, their_card: str) -> str:
    """The end of the hand for `player`: who folded (`folder` >= 0) or the opponent's card at
    the showdown (`their_card`), then what `player` won or lost."""
    if won > 0:
        result = f"You won {chips(int(won))}."
    elif won < 0:
        result = f"You lost {chips(int(-won))}."
    else:
        result = "The pot is split: you neither won nor lost."
    if folder >= 0:
        who = "You" if folder == player else "Your opponent"
        return f"The hand is over: {who} folded. {result}"
    return f"The hand is over. Showdown: your opponent had {their_card}. {result}"


class PokerState(State):
    """A state of a two-seat poker game: the dealt cards, the history and a pointer to a node
    of the game's betting tree (built once at import time), which keeps `apply` and `clone`
    cheap. A node has `player` (a seat, CHANCE or TERMINAL), `legal`, `children` (action ->
    node), `contrib` (chips each seat has put in) and `folder` (the seat that folded, or -1).

    Chance first deals seat 0's private card, then seat 1's. Subclasses set the class
    attributes below and implement `chance_outcomes`, `_showdown_returns` and the texts; a game
    with a public card also `_deal_public`."""

    __slots__ = ("game", "cards", "moves", "node", "player")
    DEALS: ClassVar[tuple[str, ...]]
    """The chance outcomes that deal a private card, by card index."""
    DEAL_INDEX: ClassVar[dict[str, int]]
    """The card index of each outcome in `DEALS`."""
    LABEL: ClassVar[str]
    """The game's name in error messages."""
    CARDS: ClassVar[tuple[str, ...]]
    """Card names by card index ("K", "Ks")."""

    def __init__(self, game: Game, root: Any) -> None:
        self.game = game
        self.cards: list[int] = []  # seat 0's card, seat 1's card, then any public card
        self.moves: list[str] = []  # every action, deals included
        self.node = root  # the betting tree's first node
        self.player = CHANCE

    # --- the contract --------------------------------------------------------------------
    def current_player(self) -> int:
        return self.player

    def legal_actions(self) -> list[str]:
        if self.player < 0:
            return []
        return list(self.node.legal)

    def apply(self, action: str) -> None:
        if self.player == CHANCE:
            cards = self.cards
            dealt = len(cards)
            if dealt >= 2:
                self._deal_public(action)
                return
            # Inline, not a method call: deals are a good share of a random playout's steps.
            card = self.DEAL_INDEX.get(action, -1) if isinstance(action, str) else -1
            if card < 0 or card in cards:
                raise IllegalActionError(f"illegal {self.LABEL} deal {action!r}")
            cards.append(card)
            self.moves.append(action)
            if dealt == 1:  # both private cards are out: the betting starts
                self.player = self.node.player
            return
        child = self.node.children.get(action) if isinstance(action, str) else None
        if child is None:
            raise IllegalActionError(f"illegal {self.LABEL} move {action!r}")
        self.node = child
        self.player = child.player
        self.moves.append(action)

    def _deal_public(self, action: str) -> None:
        """Deal a public card (the betting tree has a CHANCE node after both private deals)."""
        raise IllegalActionError(f"illegal {self.LABEL} deal {action!r}")

    def returns(self) -> list[float]:
        node = self.node
        if node.player != TERMINAL:
            return [0.0, 0.0]
        if node.folder >= 0:
            # The other seat wins what the folder put in.
            lost = float(node.contrib[node.folder])
            return [-lost, lost] if node.folder == 0 else [lost, -lost]
        return self._showdown_returns()

    def _showdown_returns(self) -> list[float]:
        raise NotImplementedError

    def clone(self) -> PokerState:
        cls = type(self)
        other = cls.__new__(cls)
        other.game = self.game
        other.cards = self.cards[:]
        other.moves = self.moves[:]
        other.node = self.node
        other.player = self.player
        return other

    def history(self) -> list[str]:
        return list(self.moves)

    def indistinguishable_states(self, player: int) -> list[State]:
        """States differing from this one only in the opponent's private card."""
        opp = 1 - player
        cards = self.cards
        if len(cards) <= opp or self.showdown():
            return []  # the opponent has no card yet, or it is on the table
        found: list[State] = []
        for card, deal in enumerate(self.DEALS):
            if card in cards:  # own card, the opponent's actual card, a public card
                continue
            # The private deals are the first moves, seat by seat: the opponent's is at `opp`.
            other = replay(self.game, self.moves, {opp: deal})
            if other is not None:
                found.append(other)
        return found

    # --- shared pieces of what a seat knows ----------------------------------------------
    def showdown(self) -> bool:
        """Whether the hand ended in a showdown (the private cards shown)."""
        return self.player == TERMINAL and self.node.folder < 0

    # --- read-only accessors for boards (a seat may see its own card, the public card, the
    # betting and the pot; the opponent's card only after `showdown()`) ----------------------
    def private_card(self, seat: int) -> str | None:
        """The name of `seat`'s private card ("K", "Ks"), None before it is dealt. Secret: show
        it to `seat` only, or to everyone once `showdown()` is true."""
        return self.CARDS[self.cards[seat]] if seat < len(self.cards) else None

    def public_card(self) -> str | None:
        """The name of the public card, None when there is none (yet, or in this game)."""
        return self.CARDS[self.cards[2]] if len(self.cards) > 2 else None

    def contributions(self) -> tuple[int, int]:
        """The chips each seat has put in the pot so far, antes included."""
        return self.node.contrib

    def betting_rounds(self) -> list[tuple[str, ...]]:
        """The betting actions of each round so far (seat 0 opens every round)."""
        raise NotImplementedError

    def folder(self) -> int:
        """The seat that folded at the end of the hand, or -1."""
        return self.node.folder


def parse_betting(game: Game, state: State, text: object, bet: str) -> Parsed:
    """`parse_from_legal` with the words models use: "bet" and "raise" both name the game's
    betting action `bet`; "pass" is a check when there is nothing to answer, else a fold."""
    legal = state.legal_actions()
    aliases = {
        "raise" if bet == "bet" else "bet": bet,
        "pass": "check" if "check" in legal else "fold",
    }
    return parse_from_legal(
        text,
        legal,
        aliases=aliases,
        explain=lambda c: game.explain_illegal(state, c),
        move_like=_BETTING_WORDS.__contains__,
    )


def explain_betting(
    legal: list[str], candidate: str, why: Callable[[str, list[str]], str | None]
) -> str | None:
    """The reason the last betting word in `candidate` that `why(word, legal)` objects to is
    illegal, with the legal moves; None when no word is objected to."""
    if not legal:
        return None
    for word in reversed(_WORD_RE.findall(candidate.lower())):
        reason = why(word, legal)
        if reason:
            return f"{reason}; legal moves: {format_moves(legal)}"
    return None
