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
cards, its history and a pointer to a betting node, which keeps `apply` and `clone` cheap.
"""

from __future__ import annotations

import re

from games.core import CHANCE, TERMINAL, Game, IllegalActionError, Parsed, State, replay
from games.parsing import format_moves, parse_from_legal

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
_PAST = {"fold": "folded", "check": "checked", "call": "called", "raise": "raised"}
_WORD_RE = re.compile(r"[a-z]+")

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


def _narrate(actions: tuple[str, ...], me: int) -> str:
    """ "you raised, opponent called" from `me`'s point of view (seat 0 opens each round)."""
    parts = []
    for i, action in enumerate(actions):
        who = "you" if i % 2 == me else "opponent"
        parts.append(f"{who} {_PAST[action]}")
    return ", ".join(parts) or "no action yet"


def _chips(n: int) -> str:
    return f"{n} chip" if n == 1 else f"{n} chips"


class LeducPokerState(State):
    __slots__ = ("game", "cards", "moves", "node", "player")

    def __init__(self, game: LeducPoker) -> None:
        self.game = game
        self.cards: list[int] = []  # seat 0's card, seat 1's card, then the public card
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
        n = len(cards)
        if n == 0:
            return list(_FIRST_DEAL)
        if n == 1:
            return list(_SECOND_DEAL[cards[0]])
        return list(_PUBLIC_DEAL[cards[0], cards[1]])

    def apply(self, action: str) -> None:
        if self.player == CHANCE:
            self._deal(action)
            return
        child = self.node.children.get(action) if isinstance(action, str) else None
        if child is None:
            raise IllegalActionError(f"illegal Leduc poker move {action!r}")
        self.node = child
        self.player = child.player
        self.moves.append(action)

    def _deal(self, action: str) -> None:
        cards = self.cards
        private = len(cards) < 2
        index = _DEAL_INDEX if private else _PUBLIC_INDEX
        card = index.get(action, -1) if isinstance(action, str) else -1
        if card < 0 or card in cards:
            raise IllegalActionError(f"illegal Leduc poker deal {action!r}")
        cards.append(card)
        self.moves.append(action)
        if private:
            if len(cards) == 2:
                self.player = self.node.player
        else:
            self.node = self.node.after_deal
            self.player = self.node.player

    def returns(self) -> list[float]:
        node = self.node
        if node.player != TERMINAL:
            return [0.0, 0.0]
        if node.folder >= 0:
            # The other seat wins what the folder put in.
            lost = float(node.contrib[node.folder])
            return [-lost, lost] if node.folder == 0 else [lost, -lost]
        cards = self.cards
        s0 = hand_strength(cards[0], cards[2])
        s1 = hand_strength(cards[1], cards[2])
        if s0 == s1:
            return [0.0, 0.0]
        won = float(node.contrib[0])
        return [won, -won] if s0 > s1 else [-won, won]

    def clone(self) -> LeducPokerState:
        other = LeducPokerState.__new__(LeducPokerState)
        other.game = self.game
        other.cards = self.cards[:]
        other.moves = self.moves[:]
        other.node = self.node
        other.player = self.player
        return other

    def history(self) -> list[str]:
        return list(self.moves)

    def public_history(self) -> list[str]:
        # Private deals are the first two moves; everything after them is public.
        return ["deal ?" if i < 2 else m for i, m in enumerate(self.moves)]

    # --- what a seat knows ---------------------------------------------------------------
    def _showdown(self) -> bool:
        return self.player == TERMINAL and self.node.folder < 0

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
        if self._showdown():
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
            lines.append(f"Round {i + 1} betting: {_narrate(actions, player)}.")
        mine, theirs = node.contrib[player], node.contrib[1 - player]
        lines.append(
            f"Pot: {_chips(mine + theirs)}; you have put in {mine}, your opponent {theirs}."
        )
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
            notes.append(f"calling costs {_chips(theirs - mine)}")
        if "raise" in node.legal:
            notes.append(f"raising puts in {_chips(theirs - mine + size)}")
        else:
            notes.append(f"no more raises this round, {MAX_RAISES} already made")
        return f"It is your turn ({'; '.join(notes)}). Legal moves: {', '.join(node.legal)}."

    def _result_text(self, player: int) -> str:
        node = self.node
        won = self.returns()[player]
        if won > 0:
            result = f"You won {_chips(int(won))}."
        elif won < 0:
            result = f"You lost {_chips(int(-won))}."
        else:
            result = "The pot is split: you neither won nor lost."
        if node.folder >= 0:
            who = "You" if node.folder == player else "Your opponent"
            return f"The hand is over: {who} folded. {result}"
        theirs = card_text(self.cards[1 - player])
        return f"The hand is over. Showdown: your opponent had {theirs}. {result}"

    def indistinguishable_states(self, player: int) -> list[State]:
        """States differing from this one only in the opponent's private card."""
        opp = 1 - player
        cards = self.cards
        if len(cards) <= opp or self._showdown():
            return []  # the opponent has no card yet, or it is on the table
        found: list[State] = []
        for card in range(6):
            if card in cards:  # own card, the opponent's actual card, the public card
                continue
            other = replay(self.game, self.moves, {opp: DEALS[card]})
            if other is not None:
                found.append(other)
        return found

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

    def rules(self) -> str:
        return RULES

    def new_initial_state(self) -> LeducPokerState:
        return LeducPokerState(self)

    def parse_action(self, state: State, text: str) -> Parsed:
        legal = state.legal_actions()
        aliases = {"bet": "raise", "pass": "check" if "check" in legal else "fold"}
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
                return f"there is no raise to {word}; legal moves: {moves}"
            if word == "check" and "call" in legal:
                return f"you are facing a raise, so you cannot check; legal moves: {moves}"
            if word in ("raise", "bet") and "raise" not in legal:
                return f"no more raises this round ({MAX_RAISES} already); legal moves: {moves}"
        return None
