"""Leduc hold'em: the standard six-card game (as OpenSpiel's leduc_poker).

Six cards, two suits of J Q K (Js Jh Qs Qh Ks Kh). Each player antes 1 chip and gets one private
card (player 0 first). Round 1 of betting, raises of 2 chips; then one public card; round 2,
raises of 4 chips. At most two raises per round; player 0 opens both rounds. A round ends when a
player calls a raise or both check. At the showdown a private card that pairs the public card
wins, otherwise the higher private rank; equal ranks split the pot.

Actions are fold, check, call and raise. OpenSpiel has a single call action that also checks;
here it is named "check" when there is nothing to call and "call" otherwise, so models read the
move they make. Fold is legal only when facing a raise, as in OpenSpiel.

The betting tree (both rounds, a few dozen nodes) is built once at import time; a state is its
cards, its history and a pointer to a betting node, which keeps `apply` and `clone` cheap
(`games.poker_common.PokerState`, shared with Kuhn poker).
"""

from __future__ import annotations

from games.core import CHANCE, TERMINAL, Game, IllegalActionError, Parsed, State
from games.poker_common import (
    PokerState,
    chips,
    explain_betting,
    hand_over_text,
    narrate,
    parse_betting,
    pot_text,
)

CARDS = ("Js", "Jh", "Qs", "Qh", "Ks", "Kh")
"""Card names; a card is its index here (OpenSpiel's numbering), its rank is index // 2."""
RANK_NAMES = ("Jack", "Queen", "King")
SUIT_NAMES = {"s": "spades", "h": "hearts"}
DEALS = tuple(f"deal {c}" for c in CARDS)
"""Chance outcomes of the private deals, by card index."""
PUBLIC_DEALS = tuple(f"public {c}" for c in CARDS)
"""Chance outcomes of the public card, by card index."""
_DEAL_INDEX = {d: i for i, d in enumerate(DEALS)}
_PUBLIC_INDEX = {d: i for i, d in enumerate(PUBLIC_DEALS)}
ANTE = 1
RAISE_SIZES = (2, 4)
"""Raise size of round 1 and round 2."""
MAX_RAISES = 2
"""Raises allowed per round."""

# Chance outcomes, cached: first private card, second given the first, public given both.
_FIRST_DEAL = tuple((DEALS[c], 1.0 / 6.0) for c in range(6))
_SECOND_DEAL = tuple(tuple((DEALS[c], 0.2) for c in range(6) if c != a) for a in range(6))
_PUBLIC_DEAL = {
    (a, b): tuple((PUBLIC_DEALS[c], 0.25) for c in range(6) if c not in (a, b))
    for a in range(6)
    for b in range(6)
    if a != b
}

# One-letter codes in information-state keys ("Ks|rc|Qh|cr"); check and call share "c" as in
# OpenSpiel's single call action, the position makes it unambiguous.
CODES = {"fold": "f", "check": "c", "call": "c", "raise": "r"}

RULES = """\
Leduc hold'em, a small two-player poker game.
The deck has six cards: two Jacks, two Queens and two Kings (Js Jh Qs Qh Ks Kh: J = Jack,
Q = Queen, K = King, s = spades, h = hearts). Suits never matter; King beats Queen beats Jack.
Each player puts 1 chip into the pot (the ante) and gets one private card that the other
player does not see.
Round 1 of betting, then one public card is dealt face up, then round 2 of betting.
In each round player 0 acts first. On your turn:
- check: bet nothing (only when there is no raise to answer);
- raise: put in enough chips to match your opponent, plus 2 more in round 1 or 4 more in
  round 2 (at most two raises per round, counting both players);
- call: match your opponent's chips (only when facing a raise);
- fold: give up the hand and the chips you put in (only when facing a raise).
A round ends when both players check or when a raise is called. Folding ends the hand at once
and the folded card is never shown.
Showdown after round 2: a private card of the same rank as the public card (a pair) wins;
otherwise the higher private card wins; equal ranks split the pot. The winner wins the chips
the loser put in.
A move is one word: fold, check, call or raise. "bet" is read as raise; "pass" is read as
check when there is no raise to answer and as fold when facing one."""


class _Node:
    """A point of the betting tree: who acts (a seat, CHANCE for the public card, TERMINAL),
    the legal actions and where each one leads."""

    __slots__ = (
        "player",
        "legal",
        "children",
        "after_deal",
        "rounds",
        "key",
        "contrib",
        "raises",
        "folder",
    )

    def __init__(self, rounds: tuple[tuple[str, ...], ...], contrib: tuple[int, int]) -> None:
        self.rounds = rounds  # the betting actions of each round so far
        self.key = "|".join("".join(CODES[a] for a in r) for r in rounds)
        self.contrib = contrib  # chips each seat has put in, antes included
        self.player = TERMINAL
        self.legal: tuple[str, ...] = ()
        self.children: dict[str, _Node] = {}
        self.after_deal: _Node | None = None  # round 2's first node, after the public card
        self.raises = 0  # raises so far in the current round
        self.folder = -1  # the seat that folded, at a fold terminal


def _build(rounds: tuple[tuple[str, ...], ...], contrib: tuple[int, int], raises: int) -> _Node:
    node = _Node(rounds, contrib)
    node.raises = raises
    current = rounds[-1]
    if current and current[-1] == "fold":
        node.folder = (len(current) - 1) % 2
        return node
    if current and (current[-1] == "call" or current == ("check", "check")):
        if len(rounds) == 1:
            node.player = CHANCE  # the public card comes next, then round 2
            node.after_deal = _build((*rounds, ()), contrib, 0)
        return node  # after round 2: showdown
    player = len(current) % 2
    node.player = player
    facing = contrib[player] < contrib[1 - player]
    legal = ["fold", "call"] if facing else ["check"]
    if raises < MAX_RAISES:
        legal.append("raise")
    node.legal = tuple(legal)
    size = RAISE_SIZES[len(rounds) - 1]
    for action in legal:
        paid = list(contrib)
        if action == "call":
            paid[player] = paid[1 - player]
        elif action == "raise":
            paid[player] = paid[1 - player] + size
        after = (*rounds[:-1], (*current, action))
        node.children[action] = _build(after, (paid[0], paid[1]), raises + (action == "raise"))
    return node


ROOT = _build(((),), (ANTE, ANTE), 0)


def card_text(card: int) -> str:
    """`Ks (King of spades)`."""
    name = CARDS[card]
    return f"{name} ({RANK_NAMES[card // 2]} of {SUIT_NAMES[name[1]]})"


def hand_strength(private: int, public: int) -> int:
    """Showdown strength: any pair with the public card beats any high card."""
    rank = private // 2
    return 10 + rank if rank == public // 2 else rank


class LeducPokerState(PokerState):
    """Cards: seat 0's, seat 1's, then the public card; betting through the tree from `ROOT`."""

    __slots__ = ()
    DEALS = DEALS
    DEAL_INDEX = _DEAL_INDEX
    LABEL = "Leduc poker"
    CARDS = CARDS

    # --- the contract (private deals and betting moves are `PokerState`'s) ------------------
    def chance_outcomes(self) -> list[tuple[str, float]]:
        if self.player != CHANCE:
            return []
        cards = self.cards
        n = len(cards)
        if n == 0:
            return list(_FIRST_DEAL)
        if n == 1:
            return list(_SECOND_DEAL[cards[0]])
        return list(_PUBLIC_DEAL[cards[0], cards[1]])

    def _deal_public(self, action: str) -> None:
        card = _PUBLIC_INDEX.get(action, -1) if isinstance(action, str) else -1
        if card < 0 or card in self.cards:
            raise IllegalActionError(f"illegal Leduc poker deal {action!r}")
        self.cards.append(card)
        self.moves.append(action)
        self.node = self.node.after_deal
        self.player = self.node.player

    def _showdown_returns(self) -> list[float]:
        cards = self.cards
        s0 = hand_strength(cards[0], cards[2])
        s1 = hand_strength(cards[1], cards[2])
        if s0 == s1:
            return [0.0, 0.0]
        won = float(self.node.contrib[0])
        return [won, -won] if s0 > s1 else [-won, won]

    def betting_rounds(self) -> list[tuple[str, ...]]:
        return list(self.node.rounds)

    def public_history(self) -> list[str]:
        # Private deals are the first two moves; everything after them is public.
        return ["deal ?" if i < 2 else m for i, m in enumerate(self.moves)]

    # --- what a seat knows ---------------------------------------------------------------
    def information_state(self, player: int) -> str:
        """`?` before the seat's card is dealt, the card alone while the deal goes on, then
        `card|round 1` and `card|round 1|public card|round 2` (e.g. `Ks|rc|Qh|cr`: c is a
        check or a call, r a raise, f a fold); after a showdown the opponent's card is
        appended."""
        cards = self.cards
        if len(cards) <= player:
            return "?"
        own = CARDS[cards[player]]
        if len(cards) < 2:
            return own
        rounds = self.node.key.split("|")
        key = f"{own}|{rounds[0]}"
        if len(cards) == 3:
            key += f"|{CARDS[cards[2]]}|{rounds[1]}"
        if self.showdown():
            key += "|" + CARDS[cards[1 - player]]
        return key

    def observation(self, player: int) -> str:
        lines = [f"You are player {player} in Leduc hold'em."]
        cards = self.cards
        if len(cards) <= player:
            lines.append("The cards are being dealt.")
            return "\n".join(lines)
        lines.append(f"Your private card: {card_text(cards[player])}.")
        if len(cards) < 2:
            lines.append("Your opponent's card is being dealt.")
            return "\n".join(lines)
        node = self.node
        if len(cards) == 3:
            lines.append(f"Public card: {card_text(cards[2])}.")
        else:
            lines.append("Public card: not dealt yet.")
        for i, actions in enumerate(node.rounds):
            # Seat 0 opens each round, so `narrate`'s alternation holds per round.
            betting = narrate(actions, player) or "no action yet"
            lines.append(f"Round {i + 1} betting: {betting}.")
        lines.append(pot_text(node.contrib, player))
        if self.player == TERMINAL:
            lines.append(self._result_text(player))
        elif self.player == CHANCE:
            lines.append("Round 1 is over; the public card is being dealt.")
        elif self.player == player:
            lines.append(self._turn_text(player))
        else:
            lines.append("It is your opponent's turn.")
        return "\n".join(lines)

    def _turn_text(self, player: int) -> str:
        node = self.node
        mine, theirs = node.contrib[player], node.contrib[1 - player]
        size = RAISE_SIZES[len(node.rounds) - 1]
        notes = []
        if theirs > mine:
            notes.append(f"calling costs {chips(theirs - mine)}")
        if "raise" in node.legal:
            notes.append(f"raising puts in {chips(theirs - mine + size)}")
        else:
            notes.append(f"no more raises this round, {MAX_RAISES} already made")
        return f"It is your turn ({'; '.join(notes)}). Legal moves: {', '.join(node.legal)}."

    def _result_text(self, player: int) -> str:
        their_card = card_text(self.cards[1 - player])
        return hand_over_text(self.returns()[player], self.node.folder, player, their_card)

    def __str__(self) -> str:
        # A spectator's full view: every card (a referee's table, not a seat's observation).
        cards = " ".join(CARDS[c] for c in self.cards) or "-"
        betting = " / ".join(" ".join(r) or "-" for r in self.node.rounds)
        return f"Leduc hold'em; cards (p0 p1 public): {cards}; betting: {betting}"


class LeducPoker(Game):
    id = "leduc_poker"
    name = "Leduc hold'em"
    chance = True
    hidden_info = True
    zero_sum = True
    can_draw = True
    description = "Six-card poker: one private card, one public card, two betting rounds."
    BOTS = {"cfr": "games.bots.cfr_bot:CFRBot"}

    def seat_names(self) -> tuple[str, ...]:
        """Seat 0 opens both betting rounds."""
        return ("the first player", "the second player")

    def rules(self) -> str:
        return RULES

    def new_initial_state(self) -> LeducPokerState:
        return LeducPokerState(self, ROOT)

    def parse_action(self, state: State, text: str) -> Parsed:
        return parse_betting(self, state, text, bet="raise")

    def explain_illegal(self, state: State, candidate: str) -> str | None:
        return explain_betting(state.legal_actions(), candidate, _why_illegal)


def _why_illegal(word: str, legal: list[str]) -> str | None:
    """Why the betting word `word` is not one of `legal` (None if it is, or is no move)."""
    if word in ("call", "fold") and "check" in legal:
        return f"there is no raise to {word}"
    if word == "check" and "call" in legal:
        return "you are facing a raise, so you cannot check"
    if word in ("raise", "bet") and "raise" not in legal:
        return f"no more raises this round ({MAX_RAISES} already)"
    return None
