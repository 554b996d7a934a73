"""Kuhn poker: the standard three-card game (as in OpenSpiel and the literature).

Three cards J < Q < K, two players, each antes 1 chip. Chance deals one card to player 0, then
one of the two remaining cards to player 1. Player 0 acts first and may check or bet 1 chip;
after a check player 1 may check (showdown for a pot of 2) or bet; a player facing a bet calls
(showdown for a pot of 4) or folds (the bettor takes the pot). Returns are +-1 or +-2 chips.

Not TextArena's variant, which pays +-1 per hand whatever the betting.

The betting tree is tiny, so it is built once at import time: a state is its dealt cards, its
history and a pointer to a precomputed betting node, which keeps `apply` and `clone` cheap
(`games.poker_common.PokerState`, shared with Leduc hold'em).
"""

from __future__ import annotations

from games.core import CHANCE, TERMINAL, Game, Parsed, State
from games.poker_common import (
    PokerState,
    explain_betting,
    hand_over_text,
    narrate,
    parse_betting,
    pot_text,
)

CARDS = ("J", "Q", "K")
"""Card letters by rank, lowest first; a card is its index here."""
CARD_NAMES = ("Jack", "Queen", "King")
DEALS = tuple(f"deal {c}" for c in CARDS)
"""Chance outcome strings, by card index."""
DEAL_INDEX = {d: i for i, d in enumerate(DEALS)}
ANTE = 1
BET = 1

# Chance outcomes, cached: the first deal, then the second deal given the first card.
_FIRST_DEAL = tuple((d, 1.0 / 3.0) for d in DEALS)
_SECOND_DEAL = tuple(tuple((DEALS[j], 0.5) for j in range(3) if j != i) for i in range(3))

# One-letter codes of the betting actions in information-state keys ("K|cb": King, check, bet).
# Check and call share "c" as in the poker literature; the position makes it unambiguous.
CODES = {"check": "c", "bet": "b", "call": "c", "fold": "f"}

RULES = """\
Kuhn poker, a tiny two-player poker game.
The deck has three cards: Jack (J), Queen (Q) and King (K); K beats Q and Q beats J.
Each player puts 1 chip into the pot (the ante) and gets one private card; the third card is
not used. Nobody sees the other player's card.
Player 0 acts first and either checks (bets nothing) or bets 1 chip.
- If player 0 checks, player 1 either checks (showdown for a pot of 2 chips) or bets 1 chip.
- A player facing a bet either calls (puts in 1 chip too; showdown for a pot of 4 chips) or
  folds (gives up: the bettor takes the pot and the folded card is never shown).
At a showdown the higher card takes the pot. You win or lose 1 chip (ante only) or 2 chips
(ante and bet).
A move is one word: check, bet, call or fold. "pass" is read as check when there is no bet to
answer and as fold when facing a bet; "raise" is read as bet."""


class _Node:
    """A point of the betting tree: who acts, the legal actions, where each one leads."""

    __slots__ = ("player", "legal", "children", "actions", "code", "contrib", "folder")

    def __init__(self, actions: tuple[str, ...], contrib: tuple[int, int]) -> None:
        self.actions = actions  # the betting actions so far, in order
        self.code = "".join(CODES[a] for a in actions)
        self.contrib = contrib  # chips each seat has put in, antes included
        self.player = TERMINAL
        self.legal: tuple[str, ...] = ()
        self.children: dict[str, _Node] = {}
        self.folder = -1  # the seat that folded, at a fold terminal


def _build(actions: tuple[str, ...], contrib: tuple[int, int]) -> _Node:
    node = _Node(actions, contrib)
    if actions and actions[-1] == "fold":
        node.folder = (len(actions) - 1) % 2
        return node
    # The hand is over after a call or after a second check.
    if actions and (actions[-1] == "call" or actions == ("check", "check")):
        return node
    player = len(actions) % 2
    node.player = player
    facing = contrib[player] < contrib[1 - player]
    node.legal = ("call", "fold") if facing else ("check", "bet")
    for action in node.legal:
        paid = list(contrib)
        if action == "bet":
            paid[player] += BET
        elif action == "call":
            paid[player] = paid[1 - player]
        node.children[action] = _build((*actions, action), (paid[0], paid[1]))
    return node


ROOT = _build((), (ANTE, ANTE))


def _card_text(card: int) -> str:
    return f"{CARD_NAMES[card]} ({CARDS[card]})"


class KuhnPokerState(PokerState):
    """Cards: seat 0's, then seat 1's, as dealt; betting through the tree from `ROOT`."""

    __slots__ = ()
    DEALS = DEALS
    DEAL_INDEX = DEAL_INDEX
    LABEL = "Kuhn poker"
    CARDS = CARDS

    # --- the contract (deals and betting moves are `PokerState`'s) --------------------------
    def chance_outcomes(self) -> list[tuple[str, float]]:
        if self.player != CHANCE:
            return []
        cards = self.cards
        return list(_SECOND_DEAL[cards[0]] if cards else _FIRST_DEAL)

    def _showdown_returns(self) -> list[float]:
        won = float(self.node.contrib[0])
        return [won, -won] if self.cards[0] > self.cards[1] else [-won, won]

    def public_history(self) -> list[str]:
        return ["deal ?"] * len(self.cards) + list(self.node.actions)

    def betting_rounds(self) -> list[tuple[str, ...]]:
        return [self.node.actions]

    # --- what a seat knows ---------------------------------------------------------------
    def information_state(self, player: int) -> str:
        """`?` before the seat's card is dealt, the card alone while the deal goes on, then
        `card|betting` (e.g. `K|cb`); after a showdown the opponent's card is appended."""
        if len(self.cards) <= player:
            return "?"
        own = CARDS[self.cards[player]]
        if len(self.cards) < 2:
            return own
        key = f"{own}|{self.node.code}"
        if self.showdown():
            key += "|" + CARDS[self.cards[1 - player]]
        return key

    def observation(self, player: int) -> str:
        lines = [f"You are player {player} in Kuhn poker."]
        cards = self.cards
        if len(cards) <= player:
            lines.append("The cards are being dealt.")
            return "\n".join(lines)
        lines.append(f"Your card: {_card_text(cards[player])}.")
        if len(cards) < 2:
            lines.append("Your opponent's card is being dealt.")
            return "\n".join(lines)
        node = self.node
        if node.actions:
            lines.append(f"Betting so far: {narrate(node.actions, player)}.")
        else:
            lines.append("No bets yet.")
        lines.append(pot_text(node.contrib, player))
        if self.player == TERMINAL:
            lines.append(self._result_text(player))
        elif self.player == player:
            lines.append(f"It is your turn. Legal moves: {', '.join(node.legal)}.")
        else:
            lines.append("It is your opponent's turn.")
        return "\n".join(lines)

    def _result_text(self, player: int) -> str:
        # Kuhn has no split pot: a finished hand is always won or lost.
        their_card = "the " + _card_text(self.cards[1 - player])
        return hand_over_text(self.returns()[player], self.node.folder, player, their_card)

    def __str__(self) -> str:
        # A spectator's full view: both cards (a referee's table, not a seat's observation).
        cards = " ".join(CARDS[c] for c in self.cards) or "-"
        betting = " ".join(self.node.actions) or "-"
        return f"Kuhn poker; cards (p0 p1): {cards}; betting: {betting}"


class KuhnPoker(Game):
    id = "kuhn_poker"
    name = "Kuhn poker"
    chance = True
    hidden_info = True
    zero_sum = True
    description = "Three-card poker: one private card each, one bet of 1 chip."
    BOTS = {"cfr": "games.bots.cfr_bot:CFRBot"}

    def seat_names(self) -> tuple[str, ...]:
        """Seat 0 acts first."""
        return ("the first player", "the second player")

    def rules(self) -> str:
        return RULES

    def new_initial_state(self) -> KuhnPokerState:
        return KuhnPokerState(self, ROOT)

    def parse_action(self, state: State, text: str) -> Parsed:
        return parse_betting(self, state, text, bet="bet")

    def explain_illegal(self, state: State, candidate: str) -> str | None:
        return explain_betting(state.legal_actions(), candidate, _why_illegal)


def _why_illegal(word: str, legal: list[str]) -> str | None:
    """Why the betting word `word` is not one of `legal` (None if it is, or is no move)."""
    if word in ("call", "fold") and "check" in legal:
        return f"there is no bet to {word}"
    if word in ("check", "bet", "raise") and "call" in legal:
        return "you are facing a bet and only one bet is allowed"
    return None
