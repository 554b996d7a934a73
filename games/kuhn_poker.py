"""Kuhn poker: the standard three-card game (as in OpenSpiel and the literature).

Three cards J < Q < K, two players, each antes 1 chip. Chance deals one card to player 0, then
one of the two remaining cards to player 1. Player 0 acts first and may check or bet 1 chip;
after a check player 1 may check (showdown for a pot of 2) or bet; a player facing a bet calls
(showdown for a pot of 4) or folds (the bettor takes the pot). Returns are +-1 or +-2 chips.

Not TextArena's variant, which pays +-1 per hand whatever the betting.

The betting tree is tiny, so it is built once at import time: a state is its dealt cards, its
history and a pointer to a precomputed betting node, which keeps `apply` and `clone` cheap.
"""

from __future__ import annotations

import re

from games.core import CHANCE, TERMINAL, Game, IllegalActionError, Parsed, State, replay
from games.parsing import format_moves, parse_from_legal

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
_PAST = {"check": "checked", "bet": "bet", "call": "called", "fold": "folded"}
_WORD_RE = re.compile(r"[a-z]+")

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


def _narrate(actions: tuple[str, ...], me: int) -> str:
    """ "you checked, opponent bet" from `me`'s point of view (seats alternate, 0 first)."""
    parts = []
    for i, action in enumerate(actions):
        who = "you" if i % 2 == me else "opponent"
        parts.append(f"{who} {_PAST[action]}")
    return ", ".join(parts)


def _chips(n: int) -> str:
    return f"{n} chip" if n == 1 else f"{n} chips"


def _card_text(card: int) -> str:
    return f"{CARD_NAMES[card]} ({CARDS[card]})"


class KuhnPokerState(State):
    __slots__ = ("game", "cards", "moves", "node", "player")

    def __init__(self, game: KuhnPoker) -> None:
        self.game = game
        self.cards: list[int] = []  # card of seat 0, then of seat 1, as dealt
        self.moves: list[str] = []  # every action, deals included
        self.node = ROOT
        self.player = CHANCE

    # --- the contract --------------------------------------------------------------------
    def current_player(self) -> int:
        return self.player

    def legal_actions(self) -> list[str]:
        if self.player < 0:
            return []
        return list(self.node.legal)

    def chance_outcomes(self) -> list[tuple[str, float]]:
        if self.player != CHANCE:
            return []
        cards = self.cards
        return list(_SECOND_DEAL[cards[0]] if cards else _FIRST_DEAL)

    def apply(self, action: str) -> None:
        if self.player == CHANCE:
            card = DEAL_INDEX.get(action, -1) if isinstance(action, str) else -1
            if card < 0 or card in self.cards:
                raise IllegalActionError(f"illegal Kuhn poker deal {action!r}")
            self.cards.append(card)
            self.moves.append(action)
            if len(self.cards) == 2:
                self.player = self.node.player
            return
        child = self.node.children.get(action) if isinstance(action, str) else None
        if child is None:
            raise IllegalActionError(f"illegal Kuhn poker move {action!r}")
        self.node = child
        self.player = child.player
        self.moves.append(action)

    def returns(self) -> list[float]:
        node = self.node
        if node.player != TERMINAL:
            return [0.0, 0.0]
        if node.folder >= 0:
            # The other seat wins what the folder put in.
            lost = float(node.contrib[node.folder])
            return [-lost, lost] if node.folder == 0 else [lost, -lost]
        won = float(node.contrib[0])
        return [won, -won] if self.cards[0] > self.cards[1] else [-won, won]

    def clone(self) -> KuhnPokerState:
        other = KuhnPokerState.__new__(KuhnPokerState)
        other.game = self.game
        other.cards = self.cards[:]
        other.moves = self.moves[:]
        other.node = self.node
        other.player = self.player
        return other

    def history(self) -> list[str]:
        return list(self.moves)

    def public_history(self) -> list[str]:
        return ["deal ?"] * len(self.cards) + list(self.node.actions)

    # --- what a seat knows ---------------------------------------------------------------
    def _showdown(self) -> bool:
        return self.player == TERMINAL and self.node.folder < 0

    def information_state(self, player: int) -> str:
        """`?` before the seat's card is dealt, the card alone while the deal goes on, then
        `card|betting` (e.g. `K|cb`); after a showdown the opponent's card is appended."""
        if len(self.cards) <= player:
            return "?"
        own = CARDS[self.cards[player]]
        if len(self.cards) < 2:
            return own
        key = f"{own}|{self.node.code}"
        if self._showdown():
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
            lines.append(f"Betting so far: {_narrate(node.actions, player)}.")
        else:
            lines.append("No bets yet.")
        mine, theirs = node.contrib[player], node.contrib[1 - player]
        lines.append(
            f"Pot: {_chips(mine + theirs)}; you have put in {mine}, your opponent {theirs}."
        )
        if self.player == TERMINAL:
            lines.append(self._result_text(player))
        elif self.player == player:
            lines.append(f"It is your turn. Legal moves: {', '.join(node.legal)}.")
        else:
            lines.append("It is your opponent's turn.")
        return "\n".join(lines)

    def _result_text(self, player: int) -> str:
        node = self.node
        won = self.returns()[player]
        result = f"You won {_chips(int(won))}." if won > 0 else f"You lost {_chips(int(-won))}."
        if node.folder >= 0:
            who = "You" if node.folder == player else "Your opponent"
            return f"The hand is over: {who} folded. {result}"
        theirs = _card_text(self.cards[1 - player])
        return f"The hand is over. Showdown: your opponent had the {theirs}. {result}"

    def indistinguishable_states(self, player: int) -> list[State]:
        """States differing from this one only in the opponent's card (see `State` for the idea)."""
        opp = 1 - player
        cards = self.cards
        if len(cards) <= opp or self._showdown():
            return []  # the opponent has no card yet, or it is on the table
        mine = cards[player] if len(cards) > player else -1
        found = []
        for card in range(3):
            if card in (mine, cards[opp]):
                continue
            other = replay(self.game, self.moves, {opp: DEALS[card]})
            if other is not None:
                found.append(other)
        return found

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

    def rules(self) -> str:
        return RULES

    def new_initial_state(self) -> KuhnPokerState:
        return KuhnPokerState(self)

    def parse_action(self, state: State, text: str) -> Parsed:
        legal = state.legal_actions()
        aliases = {"raise": "bet", "pass": "check" if "check" in legal else "fold"}
        return parse_from_legal(
            text, legal, aliases=aliases, explain=lambda c: self.explain_illegal(state, c)
        )

    def explain_illegal(self, state: State, candidate: str) -> str | None:
        legal = state.legal_actions()
        if not legal:
            return None
        moves = format_moves(legal)
        for word in reversed(_WORD_RE.findall(candidate.lower())):
            if word in ("call", "fold") and "check" in legal:
                return f"there is no bet to {word}; legal moves: {moves}"
            if word in ("check", "bet", "raise") and "call" in legal:
                return f"you are facing a bet and only one bet is allowed; legal moves: {moves}"
        return None
