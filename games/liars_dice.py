"""Liar's dice: hidden dice, rising bids, and one call of "liar".

Every player rolls their dice in secret (one chance node per die, seat by seat). Then players
bid in turn, starting with seat 0: a bid `bid Q F` claims that at least Q dice on the whole table
show face F. Each bid must be higher than the last: a larger quantity, or the same quantity with
a higher face (OpenSpiel's ordering, so bid index = (Q - 1) * faces + (F - 1)). Instead of bidding,
a player may call `liar` on the last bid; the dice are revealed and the game ends. The highest
face is wild: it counts toward any other face, while a bid on the highest face counts only those.
If the bid holds the challenger loses, otherwise the last bidder loses.

With the defaults (two players, one six-sided die each) the game has OpenSpiel's structure: two
chance nodes, then bids `bid 1 1` .. `bid 2 6` (12 of them) and `liar`.
"""

from __future__ import annotations

import re

from games.core import CHANCE, TERMINAL, Game, GameParamError, IllegalActionError, Parsed, State
from games.parsing import decide, format_moves, normalize, read_reply

LIAR = "liar"
_MAX_LISTED = 30  # legal moves listed in full in an observation; beyond that they are summarised

_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()
_PLURAL_WORDS = {
    "ones": 1,
    "twos": 2,
    "threes": 3,
    "fours": 4,
    "fives": 5,
    "sixes": 6,
    "sevens": 7,
    "eights": 8,
    "nines": 9,
    "tens": 10,
    "elevens": 11,
    "twelves": 12,
}
_WORD_VALUE = {w: str(i) for i, w in enumerate(_NUMBER_WORDS)}
_WORD_VALUE.update({w: f"{v}s" for w, v in _PLURAL_WORDS.items()})
_WORD_RE = re.compile(
    r"(?<![\w])(" + "|".join(sorted(_WORD_VALUE, key=len, reverse=True)) + r")(?![\w])"
)
# A bid: quantity then face, e.g. "bid 2 5", "2 5s", "2x5", "2, 5", "2-5", "2 dice showing 5".
_BID_RE = re.compile(
    r"(?<![\w.])(\d{1,3})"
    r"(?:\s*(?:[x×*,:/-]|\\times)\s*|\s+(?:(?:dice|die)\s+(?:(?:showing|show|of|with|that\s+show)\s+(?:a\s+)?)?|of\s+)?)"
    r"(\d{1,3})(?:'?s)?(?!\w|\.\d)"
)
_NAMED_BID_RE = re.compile(r"quantity\W{0,3}(\d{1,3})\W{1,6}face\W{0,3}(\d{1,3})(?!\w)")
_BID_WORD_RE = re.compile(r"^(?:i )?(?:bid|raise to)\b:? ?")
_LIAR_RE = re.compile(r"(?<![\w])(liar|call(?:ing)?|challenge|dudo)(?![\w])")
_NOT_A_MOVE = (
    "'{shown}' is not a move: write a bid as 'bid Q F' (e.g. bid 2 5: at least two dice show 5) "
    "or call 'liar'. Legal moves: {moves}"
)


def bid_text(quantity: int, face: int) -> str:
    """The canonical action string of a bid."""
    return f"bid {quantity} {face}"


def _words_to_digits(text: str) -> str:
    """`text` lower-cased, its whitespace collapsed (which keeps the bid patterns linear) and
    its number words written as digits ("two fives" -> "2 5s")."""
    return _WORD_RE.sub(lambda m: _WORD_VALUE[m.group(1)], " ".join(text.lower().split()))


def _candidates(text: str) -> list[tuple[int, int, int]]:
    """Every move mentioned in `text`, in order: (position, quantity, face) with quantity -1
    standing for `liar`. Quantities and faces are not range-checked here."""
    text = _words_to_digits(text)
    found = [(m.start(), int(m.group(1)), int(m.group(2))) for m in _BID_RE.finditer(text)]
    found += [(m.start(), int(m.group(1)), int(m.group(2))) for m in _NAMED_BID_RE.finditer(text)]
    found += [(m.start(), -1, 0) for m in _LIAR_RE.finditer(text)]
    found.sort()
    return found


class LiarsDiceState(State):
    __slots__ = ("game", "dice", "moves", "player", "bid", "loser", "challenger")

    def __init__(self, game: LiarsDice) -> None:
        self.game = game
        self.dice: list[int] = []  # flat: seat s owns dice[s * per_player:(s + 1) * per_player]
        self.moves: list[str] = []
        self.player = CHANCE  # seat to move, CHANCE while rolling, or TERMINAL
        self.bid = -1  # index of the standing bid, -1 before the first bid
        self.loser = -1
        self.challenger = -1

    # --- the contract ----------------------------------------------------------------------
    def current_player(self) -> int:
        return self.player

    def legal_actions(self) -> list[str]:
        if self.player < 0:
            return []
        if self.bid < 0:
            return self.game.bid_actions[:]
        # Precomputed bids + liar: the legal moves are always a suffix of it.
        return self.game.actions[self.bid + 1 :]

    def chance_outcomes(self) -> list[tuple[str, float]]:
        if self.player != CHANCE:
            return []
        return self.game.roll_outcomes[:]

    def apply(self, action: str) -> None:
        game = self.game
        code = game.codes.get(action)
        player = self.player
        if player == CHANCE:
            if code is None or code >= 0:
                raise IllegalActionError(f"liars_dice: {action!r} is not a die roll")
            self.dice.append(-code)
            self.moves.append(action)
            if len(self.dice) == game.total_dice:
                self.player = 0
            return
        if player < 0 or code is None or code < 0:
            raise IllegalActionError(f"illegal liars_dice move {action!r}")
        if code == game.num_bids:  # liar
            if self.bid < 0:
                raise IllegalActionError("liars_dice: liar is illegal before the first bid")
            self.moves.append(action)
            self.challenger = player
            bidder = (player - 1) % game.num_players
            self.loser = player if self._bid_holds() else bidder
            self.player = TERMINAL
            return
        if code <= self.bid:
            raise IllegalActionError(f"liars_dice: {action!r} does not raise the current bid")
        self.bid = code
        self.moves.append(action)
        self.player = player + 1 if player + 1 < game.num_players else 0

    def returns(self) -> list[float]:
        n = self.game.num_players
        if self.loser < 0:
            return [0.0] * n
        win = 1.0 / (n - 1)
        return [-1.0 if seat == self.loser else win for seat in range(n)]

    def clone(self) -> LiarsDiceState:
        other = LiarsDiceState.__new__(LiarsDiceState)
        other.game = self.game
        other.dice = self.dice[:]
        other.moves = self.moves[:]
        other.player = self.player
        other.bid = self.bid
        other.loser = self.loser
        other.challenger = self.challenger
        return other

    def history(self) -> list[str]:
        return list(self.moves)

    def public_history(self) -> list[str]:
        return ["roll ?" if m.startswith("roll") else m for m in self.moves]

    # --- helpers ---------------------------------------------------------------------------
    def own_dice(self, player: int) -> list[int]:
        """The dice of `player` rolled so far."""
        per = self.game.dice_per_player
        return self.dice[player * per : (player + 1) * per]

    def current_bid(self) -> tuple[int, int] | None:
        """(quantity, face) of the standing bid, or None before the first bid."""
        return self.game.bid_of(self.bid) if self.bid >= 0 else None

    def bids(self) -> list[tuple[int, str]]:
        """(bidder, bid action) of every bid so far, in order."""
        n = self.game.num_players
        made = [m for m in self.moves[self.game.total_dice :] if m != LIAR]
        return [(i % n, m) for i, m in enumerate(made)]

    def count_matching(self, face: int) -> int:
        """How many dice on the table count toward `face` (wild dice included)."""
        wild = self.game.faces
        if face == wild:
            return sum(1 for d in self.dice if d == wild)
        return sum(1 for d in self.dice if d == face or d == wild)

    def _bid_holds(self) -> bool:
        quantity, face = self.game.bid_of(self.bid)
        return self.count_matching(face) >= quantity

    def indistinguishable_states(self, player: int) -> list[State]:
        # Once the game ends every die is shown, so nothing is hidden any more.
        if self.player == TERMINAL:
            return []
        game = self.game
        per = game.dice_per_player
        own = range(player * per, (player + 1) * per)
        others: list[State] = []
        changed_all = self.clone()
        hidden = 0
        for i, face in enumerate(self.dice):
            if i in own:
                continue
            hidden += 1
            # One state per alternative face of each hidden die, plus one with all of them
            # changed: enough variety without enumerating every combination.
            for alt in range(1, game.faces + 1):
                if alt != face:
                    other = self.clone()
                    other.dice[i] = alt
                    other.moves[i] = game.roll_actions[alt - 1]
                    others.append(other)
            alt = face % game.faces + 1
            changed_all.dice[i] = alt
            changed_all.moves[i] = game.roll_actions[alt - 1]
        if hidden > 1:
            others.append(changed_all)
        return others

    # --- text ------------------------------------------------------------------------------
    def information_state(self, player: int) -> str:
        own = "".join(str(d) for d in self.own_dice(player)) or "-"
        key = f"p{player}|{own}|{len(self.dice)}|{','.join(self.moves[self.game.total_dice :])}"
        if self.player == TERMINAL:
            key += "|" + "".join(str(d) for d in self.dice)
        return key

    def observation(self, player: int) -> str:
        game = self.game
        lines = [
            f"Liar's dice: {game.num_players} players, {game.total_dice} dice in total "
            f"({game.dice_per_player} each), faces 1-{game.faces}; {game.faces}s are wild.",
            f"You are player {player}.",
        ]
        own = self.own_dice(player)
        if self.player == CHANCE:
            shown = ", ".join(str(d) for d in own) if own else "not rolled yet"
            lines.append(f"Your dice: {shown}. The dice are being rolled.")
            return "\n".join(lines)
        lines.append(f"Your dice: {', '.join(str(d) for d in own)}.")
        bids = self.bids()
        if bids:
            lines.append("Bids so far: " + "; ".join(f"player {s}: {b}" for s, b in bids) + ".")
            quantity, face = game.bid_of(self.bid)
            lines.append(
                f"Current bid: {bid_text(quantity, face)} by player {bids[-1][0]} "
                f"(at least {quantity} {'die shows' if quantity == 1 else 'dice show'} {face})."
            )
        else:
            lines.append("No bids yet.")
        if self.player == TERMINAL:
            lines.append(self._result_text(player))
        elif self.player == player:
            lines.append(f"It is your turn. Legal moves: {self._moves_text()}")
        else:
            lines.append(f"It is player {self.player}'s turn.")
        return "\n".join(lines)

    def _moves_text(self) -> str:
        legal = self.legal_actions()
        if len(legal) <= _MAX_LISTED:
            return ", ".join(legal)
        bid = self.current_bid()
        first, last = legal[0], legal[-1 if self.bid < 0 else -2]
        if bid is None:
            return f"any bid from {first} to {last} ({len(legal)} bids)"
        return f"any bid higher than {bid_text(*bid)} (from {first} to {last}), or {LIAR}"

    def _result_text(self, player: int) -> str:
        game = self.game
        quantity, face = game.bid_of(self.bid)
        bidder = (self.challenger - 1) % game.num_players
        reveal = "; ".join(
            f"player {s}: {', '.join(str(d) for d in self.own_dice(s))}"
            for s in range(game.num_players)
        )
        count = self.count_matching(face)
        wild = "" if face == game.faces else f" ({game.faces}s wild)"
        held = "held" if count >= quantity else "failed"
        who = "the challenger" if self.loser == self.challenger else "the bidder"
        you = "You lost." if self.loser == player else "You won."
        return (
            f"Player {self.challenger} called liar on {bid_text(quantity, face)} by player "
            f"{bidder}. Dice: {reveal}. {count} {'die counts' if count == 1 else 'dice count'} "
            f"as {face}{wild}, so the bid {held}: player {self.loser} ({who}) loses. "
            f"The game is over. {you}"
        )

    def __str__(self) -> str:
        dice = " | ".join(
            " ".join(str(d) for d in self.own_dice(s)) or "?" for s in range(self.game.num_players)
        )
        bid = self.current_bid()
        return f"dice: {dice}; bid: {bid_text(*bid) if bid else '-'}"


RULES = """\
Liar's dice for {n} players, {d} {dice_word} each ({total} dice in total), faces 1 to {faces}.
Every player rolls their dice in secret: you see only your own dice.
Players then take turns, starting with player 0. On your turn either make a bid or call liar.
A bid "bid Q F" claims that at least Q of all {total} dice on the table show face F. Each bid must
be higher than the current one: a larger quantity Q, or the same quantity with a higher face F
(so bid 2 3 < bid 2 5 < bid 3 1). Quantities go from 1 to {total}.
Face {faces} is wild: it counts toward every other face. A bid on face {faces} itself counts only
the dice showing {faces}.
Instead of bidding you may call "liar" on the last bid (not before the first bid). All dice are
revealed: if the bid holds (enough dice match), the caller loses; otherwise the last bidder loses.
{payoff}
A move is either a bid, written "bid Q F" (for example: bid 2 5, meaning at least two dice show
5), or: liar"""


class LiarsDice(Game):
    id = "liars_dice"
    name = "Liar's dice"
    min_players = 2
    max_players = 6
    chance = True
    hidden_info = True
    zero_sum = True
    description = "Secret dice, rising bids on the whole table, and one call of liar."
    PARAMS = {"num_players": 2, "dice": 1, "faces": 6}
    BOTS = {"heuristic": "games.bots.liars_dice_heuristic:LiarsDiceHeuristic"}

    def validate_params(self) -> None:
        if not 1 <= self.params["dice"] <= 5:
            raise GameParamError(
                f"liars_dice: dice must be between 1 and 5, got {self.params['dice']}"
            )
        if not 2 <= self.params["faces"] <= 12:
            raise GameParamError(
                f"liars_dice: faces must be between 2 and 12, got {self.params['faces']}"
            )
        self.dice_per_player: int = self.params["dice"]
        self.faces: int = self.params["faces"]
        self.total_dice: int = self.num_players * self.dice_per_player
        self.num_bids: int = self.total_dice * self.faces
        # Precomputed once so that moves are list slices and dictionary look-ups.
        self.bid_actions: list[str] = [
            bid_text(q, f) for q in range(1, self.total_dice + 1) for f in range(1, self.faces + 1)
        ]
        self.actions: list[str] = [*self.bid_actions, LIAR]
        self.roll_actions: list[str] = [f"roll {f}" for f in range(1, self.faces + 1)]
        self.roll_outcomes: list[tuple[str, float]] = [
            (r, 1.0 / self.faces) for r in self.roll_actions
        ]
        self.codes: dict[str, int] = {a: i for i, a in enumerate(self.actions)}
        self.codes.update({r: -(f + 1) for f, r in enumerate(self.roll_actions)})

    def bid_of(self, index: int) -> tuple[int, int]:
        """(quantity, face) of the bid with this index."""
        return index // self.faces + 1, index % self.faces + 1

    def bid_index(self, quantity: int, face: int) -> int:
        """The index of a bid: higher bids have higher indices."""
        return (quantity - 1) * self.faces + (face - 1)

    def rules(self) -> str:
        n = self.num_players
        if n == 2:
            payoff = "The loser scores -1 and the winner +1."
        else:
            payoff = f"The loser scores -1 and every other player +1/{n - 1}."
        return RULES.format(
            n=n,
            d=self.dice_per_player,
            dice_word="die" if self.dice_per_player == 1 else "dice",
            total=self.total_dice,
            faces=self.faces,
            payoff=payoff,
        )

    def new_initial_state(self) -> LiarsDiceState:
        return LiarsDiceState(self)

    # --- parsing ---------------------------------------------------------------------------
    def _action_of(self, quantity: int, face: int) -> str | None:
        if quantity < 0:
            return LIAR
        if 1 <= quantity <= self.total_dice and 1 <= face <= self.faces:
            return bid_text(quantity, face)
        return None

    def parse_action(self, state: State, text: str) -> Parsed:
        legal = state.legal_actions()
        if not legal:
            return Parsed.illegal("no move is possible now: it is not this player's turn")
        reply = read_reply(text)
        if reply is None:
            return Parsed.illegal(f"the reply was empty; legal moves: {self._legal_text(state)}")
        return decide(
            reply,
            _BidScanner(self, legal),
            self._legal_text(state),
            explain=lambda c: self.explain_illegal(state, c),
            fallback=_NOT_A_MOVE,
        )

    def explain_illegal(self, state: State, candidate: str) -> str | None:
        if not isinstance(candidate, str) or not isinstance(state, LiarsDiceState):
            return None
        found = _candidates(candidate)
        if not found:
            return None
        _, quantity, face = found[-1]
        moves = self._legal_text(state)
        if quantity < 0:
            if state.bid < 0:
                return f"you cannot call liar before anyone has bid; make the first bid. Legal moves: {moves}"
            return None
        said = bid_text(quantity, face)
        if quantity == 0:
            return (
                f"{said} is impossible: a bid needs a quantity of at least 1. Legal moves: {moves}"
            )
        if not 1 <= face <= self.faces:
            return (
                f"{said} is impossible: the dice show faces 1 to {self.faces}. Legal moves: {moves}"
            )
        if quantity > self.total_dice:
            return (
                f"{said} is impossible: there are only {self.total_dice} dice in play. "
                f"Legal moves: {moves}"
            )
        bid = state.current_bid()
        if bid is not None and self.bid_index(quantity, face) <= state.bid:
            return (
                f"{said} is not higher than the current bid {bid[0]} {bid[1]}; raise the quantity, "
                f"or keep it and raise the face. Legal moves: {moves}"
            )
        return None

    def _legal_text(self, state: State) -> str:
        if isinstance(state, LiarsDiceState) and state.player >= 0:
            return state._moves_text()
        return format_moves(state.legal_actions())


class _BidScanner:
    """Bids and `liar` as text, for `games.parsing.decide`: a bid in any of the spellings of
    `_BID_RE` ("bid 2 5", "two 5s", "2x5"), `liar` as "liar", "call", "challenge" or "dudo"."""

    def __init__(self, game: LiarsDice, legal: list[str]) -> None:
        self.game = game
        self.legal = set(legal)

    def _alone(self, text: str) -> tuple[int, int] | None:
        """(quantity, face) of the one move `text` is by itself (quantity -1: liar), or None."""
        bare = _BID_WORD_RE.sub("", _words_to_digits(normalize(text)))
        if len(bare) > 40:
            return None
        if _LIAR_RE.fullmatch(bare):
            return -1, 0
        m = _BID_RE.fullmatch(bare) or _NAMED_BID_RE.fullmatch(bare)
        return (int(m.group(1)), int(m.group(2))) if m else None

    def exact(self, text: str) -> str | None:
        alone = self._alone(text)
        action = self.game._action_of(*alone) if alone is not None else None
        return action if action in self.legal else None

    def move_like(self, text: str) -> bool:
        return self._alone(text) is not None

    def mentions(self, text: str) -> list[str]:
        named = {self.game._action_of(q, f) for _, q, f in _candidates(text)}
        return sorted((a for a in named if a in self.legal), key=self.game.codes.__getitem__)
