"""OpenSpiel's games as arena games, under ids `openspiel/<name>` (extra `arena-games[openspiel]`).

Every game `pyspiel.registered_games()` lists is checked once (`check_game`): it must load with
its default parameters, seat 1-4 players, show each seat a text view (an observation or
information-state string), draw its chance outcomes from listed probabilities (so the arena's
seeded generator can sample them) and survive a short random playout. Simultaneous-move games
are played as hidden sequential turns (`pyspiel.convert_to_turn_based`: a seat never sees the
choices of the seats that moved before it in the same round). `docs/openspiel_games.md`, written
by `bench/openspiel_catalogue.py`, lists what is exposed and why the rest is left out.

An arena state wraps a pyspiel state: actions are the game's own `action_to_string` names
(duplicates get ` #<id>`), a seat sees the game's own string for that seat (the
information-state string in hidden-information games, for perfect recall; the observation
string otherwise), and chance outcomes are named the same way with their probabilities.

pyspiel is imported on first use only: `import games` never loads it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from games.bots.base import Bot
from games.core import CHANCE, TERMINAL, Game, GameParamError, IllegalActionError, Parsed, State
from games.parsing import ANSWER_MARKER

PREFIX = "openspiel/"
MAX_PLAYERS = 4
SMOKE_STEPS = 60
"""Moves of the seeded random playout that `check_game(smoke=True)` asks a game to survive."""
# Games that pass the cheap checks but fail the smoke playout (found by
# bench/openspiel_catalogue.py, which plays every game; listing games does not play them).
SMOKE_FAILURES = {
    "crossword": "fails a short random playout (LegalActions unimplemented for non-chance "
    "node. This game uses action structs only.)",
}

# Two-player zero-sum games whose whole tree has at most `CFR_MAX_NODES` nodes (checked by
# bench/openspiel_catalogue.py): the `cfr` bot solves them with the arena's CFR+ when first made
# (kuhn_poker in 0.04 s). Leduc (9,457 nodes) would take about 8 s of pure Python per process:
# the native leduc_poker ships its solved equilibrium instead.
CFR_MAX_NODES = 5_000
CFR_GAMES = frozenset(
    {
        "blotto",
        "coordinated_mp",
        "kuhn_poker",
        "matrix_brps",
        "matrix_mp",
        "matrix_rps",
        "matrix_rpsw",
    }
)
# Deterministic two-player zero-sum perfect-information games whose printed position (`str`)
# plus the player to move is the whole state, small enough to solve exactly with memoisation.
MINIMAX_GAMES = frozenset({"tic_tac_toe", "nim"})


def _pyspiel() -> Any:
    import pyspiel

    return pyspiel


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """OpenSpiel's C++ writes its exceptions and warnings ("OpenSpiel exception: ...") to the
    process's stderr before Python sees them; the reason is kept, so the echo is muted."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_spiel_game(name: str, params: dict[str, Any] | None = None) -> Any:
    """`pyspiel.load_game(name, params)`, made turn-based when its moves are simultaneous."""
    pyspiel = _pyspiel()
    game = pyspiel.load_game(name, params or {})
    if game.get_type().dynamics == pyspiel.GameType.Dynamics.SIMULTANEOUS:
        game = pyspiel.convert_to_turn_based(game)
    return game


@functools.cache
def _default_game(name: str) -> Any:
    """pyspiel's game `name` with default parameters, loaded once (a few take 0.1-0.6 s)."""
    with _quiet_stderr():
        return _pyspiel().load_game(name)


def action_names(state: Any, actor: int, ids: list[int]) -> dict[str, int]:
    """`{name: action id}` for `ids`: the game's `action_to_string` with whitespace collapsed;
    a name that several ids share gets ` #<id>` (deterministic), an empty one `action <id>`."""
    raw = [" ".join(state.action_to_string(actor, a).split()) or f"action {a}" for a in ids]
    counts = Counter(raw)
    return {(f"{n} #{a}" if counts[n] > 1 else n): a for n, a in zip(raw, ids)}


# --- which games qualify -------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """Whether an OpenSpiel game is exposed, and the reason when it is not."""

    name: str
    reason: str | None = None  # None: exposed
    players: int = 0
    simultaneous: bool = False

    @property
    def exposed(self) -> bool:
        return self.reason is None


@functools.cache
def check_game(name: str, smoke: bool = False) -> Verdict:
    """Decide whether the OpenSpiel game `name` (default parameters) is an arena game. The
    checks read pyspiel's type information; `smoke=True` also plays `SMOKE_STEPS` seeded random
    moves (seconds for a few games, e.g. bridge's double-dummy scoring), otherwise the known
    `SMOKE_FAILURES` stand in for it."""
    pyspiel = _pyspiel()
    gt_ = pyspiel.GameType
    if name not in _registered_names():
        return Verdict(name, "pyspiel has no game of that name")
    try:
        base = _default_game(name)
    except Exception as exc:  # pyspiel raises plain RuntimeErrors for missing parameters
        return Verdict(name, f"does not load with default parameters ({_first_line(exc)})")
    gt = base.get_type()
    n = base.num_players()
    simultaneous = gt.dynamics == gt_.Dynamics.SIMULTANEOUS
    if gt.dynamics == gt_.Dynamics.MEAN_FIELD:
        return Verdict(name, "mean-field game: a population distribution, not seats", n)
    if gt.chance_mode == gt_.ChanceMode.SAMPLED_STOCHASTIC:
        return Verdict(
            name,
            "sampled chance: outcomes are drawn inside OpenSpiel, not from the arena's seeded "
            "generator, so matches would not replay from their seed",
            n,
        )
    if not 1 <= n <= MAX_PLAYERS:
        return Verdict(name, f"{n} players with default parameters (the arena seats 1-4)", n)
    if not (gt.provides_observation_string or gt.provides_information_state_string):
        return Verdict(name, "no text view: neither observation nor information-state strings", n)
    problem = None if smoke else SMOKE_FAILURES.get(name)
    if smoke:
        try:
            with _quiet_stderr():
                problem = _smoke(load_spiel_game(name))
        except Exception as exc:
            problem = f"fails a short random playout ({_first_line(exc)})"
    if problem:
        return Verdict(name, problem, n, simultaneous)
    return Verdict(name, None, n, simultaneous)


def _smoke(game: Any) -> str | None:
    """Play `SMOKE_STEPS` seeded random moves reading every seat's view; a reason or None."""
    rng = random.Random(0)
    state = game.new_initial_state()
    perfect = _view_kind(game) == "observation"
    for _ in range(SMOKE_STEPS):
        for seat in range(game.num_players()):
            _view(state, seat, perfect)
        if state.is_terminal():
            return None
        if state.is_chance_node():
            outcomes = state.chance_outcomes()
            if not outcomes:
                return "a chance node lists no outcomes"
            action_names(state, _pyspiel().PlayerId.CHANCE, [a for a, _ in outcomes])
            state.apply_action(rng.choice(outcomes)[0])
            continue
        player = state.current_player()
        legal = state.legal_actions(player)
        if not legal:
            return "a seat to move has no legal action"
        action_names(state, player, legal)
        state.apply_action(rng.choice(legal))
    return None


@functools.cache
def _registered_names() -> tuple[str, ...]:
    return tuple(sorted(g.short_name for g in _pyspiel().registered_games()))


def catalogue(smoke: bool = False) -> list[Verdict]:
    """Every game pyspiel registers, checked (see `check_game`), in name order."""
    return [check_game(n, smoke) for n in _registered_names()]


def exposed_ids() -> list[str]:
    """The arena ids of the exposed games: `openspiel/<name>`."""
    return [PREFIX + v.name for v in catalogue() if v.exposed]


# --- views -----------------------------------------------------------------------------------
def _view_kind(game: Any) -> str:
    """Which string a seat sees: the information state in hidden-information games (it has the
    whole history the seat saw), the observation (the board) in perfect-information ones."""
    gt = game.get_type()
    perfect = gt.information == _pyspiel().GameType.Information.PERFECT_INFORMATION
    if perfect and gt.provides_observation_string:
        return "observation"
    if gt.provides_information_state_string:
        return "information_state"
    return "observation"


def _view(state: Any, seat: int, perfect: bool) -> str:
    if perfect:
        return state.observation_string(seat)
    return state.information_state_string(seat)


# --- the arena game ------------------------------------------------------------------------------
class OpenSpielState(State):
    """A pyspiel state behind the arena's `State` contract; actions by their names."""

    __slots__ = ("game", "spiel", "_history", "_actors", "_menu", "_probs")

    def __init__(self, game: OpenSpielGame, spiel: Any) -> None:
        self.game = game
        self.spiel = spiel
        self._history: list[str] = []
        self._actors: list[int] = []
        self._menu: dict[str, int] | None = None
        self._probs: list[float] = []

    def current_player(self) -> int:
        if self.spiel.is_terminal():
            return TERMINAL
        if self.spiel.is_chance_node():
            return CHANCE
        return self.spiel.current_player()

    def _names(self) -> dict[str, int]:
        if self._menu is None:
            player = self.current_player()
            if player == TERMINAL:
                self._menu = {}
            elif player == CHANCE:
                outcomes = self.spiel.chance_outcomes()
                self._probs = [p for _, p in outcomes]
                actor = _pyspiel().PlayerId.CHANCE
                self._menu = action_names(self.spiel, actor, [a for a, _ in outcomes])
            else:
                self._menu = action_names(self.spiel, player, self.spiel.legal_actions(player))
        return self._menu

    def legal_actions(self) -> list[str]:
        return list(self._names()) if self.current_player() >= 0 else []

    def chance_outcomes(self) -> list[tuple[str, float]]:
        if self.current_player() != CHANCE:
            return []
        return list(zip(self._names(), self._probs))

    def apply(self, action: str) -> None:
        action_id = self._names().get(action)
        if action_id is None or self.current_player() == TERMINAL:
            raise IllegalActionError(f"illegal {self.game.id} move {action!r}")
        self._actors.append(self.current_player())
        self.spiel.apply_action(action_id)
        self._history.append(action)
        self._menu = None

    def returns(self) -> list[float]:
        return [float(r) for r in self.spiel.returns()]

    def teams(self) -> list[int]:
        """A cooperative game (every seat gets the same return: hanabi, coordination games)
        is one team: its seats win or lose together, and the arena stores such a match but
        rates nobody (no side won against another)."""
        import pyspiel

        n = self.game.num_players
        if self.game.spiel_type.utility == pyspiel.GameType.Utility.IDENTICAL:
            return [0] * n
        return list(range(n))

    def clone(self) -> OpenSpielState:
        other = OpenSpielState.__new__(OpenSpielState)
        other.game = self.game
        other.spiel = self.spiel.clone()
        other._history = self._history[:]
        other._actors = self._actors[:]
        other._menu = self._menu  # never mutated, only replaced
        other._probs = self._probs
        return other

    def history(self) -> list[str]:
        return list(self._history)

    def action_ids(self) -> list[int]:
        """The pyspiel action ids applied so far (chance included), for replaying in pyspiel."""
        return list(self.spiel.history())

    def public_history(self) -> list[str]:
        if not self.game.hidden_info:
            return self.history()
        # Which chance outcomes and moves are public is the game's own business: hide them all.
        return ["(chance)" if a == CHANCE else f"(player {a})" for a in self._actors]

    def own_view(self, player: int) -> str:
        """The game's own string for `player` (see `_view_kind`)."""
        return _view(self.spiel, player, self.game.view_kind == "observation")

    def information_state(self, player: int) -> str:
        if self.game.spiel_type.provides_information_state_string:
            return self.spiel.information_state_string(player)
        return self.spiel.observation_string(player)

    def observation(self, player: int) -> str:
        game = self.game
        lines = [f"You are player {player} of {game.num_players} in {game.name}."]
        view = self.own_view(player).rstrip()
        lines += ["What you see (the game's own text):", view or "(nothing yet)"]
        current = self.current_player()
        if current == TERMINAL:
            rets = ", ".join(f"{r:g}" for r in self.returns())
            lines.append(
                f"The game is over. Your return: {self.returns()[player]:g} (all: {rets})."
            )
        elif current == player:
            lines.append(f"It is your turn. Legal moves: {', '.join(self.legal_actions())}")
        elif current == CHANCE:
            lines.append("Chance is about to act.")
        else:
            lines.append(f"It is player {current}'s turn.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return str(self.spiel)


class OpenSpielGame(Game):
    """One OpenSpiel game; `game_class(name)` makes a subclass per game with its metadata."""

    spiel_name: ClassVar[str]
    base_type: ClassVar[Any]
    """pyspiel's `GameType` of the game itself (simultaneous games are played turn-based)."""
    language_model: ClassVar[bool] = False
    """Whether the rules explain the game to a language model: hand-written, or a one-shot
    game's payoff table (else generic rules: bots only)."""
    view_kind: ClassVar[str] = "observation"
    REQUIRES = ("pyspiel",)

    def __init__(self, **params: Any) -> None:
        self.params = self._check_params(params)
        changed = {k: v for k, v in self.params.items() if self.PARAMS.get(k) != v}
        try:
            with _quiet_stderr():
                self.spiel_game = load_spiel_game(self.spiel_name, changed)
        except Exception as exc:
            raise GameParamError(f"{self.id}: {_first_line(exc)}") from None
        self.spiel_type = self.spiel_game.get_type()
        self.num_players = self.spiel_game.num_players()
        if not 1 <= self.num_players <= MAX_PLAYERS:
            raise GameParamError(f"{self.id}: the arena seats 1-4 players, not {self.num_players}")
        self.validate_params()

    def rules(self) -> str:
        text = RULES.get(self.spiel_name) or generic_rules(self)
        return text + "\nA move is one of the legal moves, written exactly as listed."

    def new_initial_state(self) -> OpenSpielState:
        return OpenSpielState(self, self.spiel_game.new_initial_state())

    def parse_action(self, state: State, text: str) -> Parsed:
        """A legal name written exactly (the whole reply, or all after the answer marker)
        first: OpenSpiel's names can differ only in case (dark chess: bxc6 and Bxc6) or hold
        words the general parser reads as markers ("Player: 0 Action: Pass"). Else the
        general parser, which reads what models write around a move."""
        exact = _exact_name(text, state.legal_actions())
        return Parsed.legal(exact) if exact else super().parse_action(state, text)


def _exact_name(text: object, legal: list[str]) -> str | None:
    if not isinstance(text, str) or len(text) > 4096:
        return None
    names = set(legal)
    for candidate in (text, text.rpartition(ANSWER_MARKER)[2]):
        candidate = " ".join(candidate.split())
        # Quotes and bold around the move go; a name's own "*" (a breakthrough capture) stays.
        for form in (candidate, candidate.strip("`'\"* ")):
            if form in names:
                return form
    return None


@functools.cache
def game_class(name: str) -> type[OpenSpielGame]:
    """The arena game class of the OpenSpiel game `name`; `KeyError` with the reason if the
    game is unknown to pyspiel or left out."""
    verdict = check_game(name)
    if not verdict.exposed:
        raise KeyError(f"{PREFIX}{name} is not an arena game: {verdict.reason}")
    pyspiel = _pyspiel()
    gt_ = pyspiel.GameType
    base = _default_game(name)
    gt = base.get_type()
    turn_based = pyspiel.convert_to_turn_based(base) if verdict.simultaneous else base
    params = {
        k: v for k, v in base.get_parameters().items() if isinstance(v, (bool, int, float, str))
    }
    bots = {}
    if name in CFR_GAMES:
        bots["cfr"] = "games.openspiel_games:OpenSpielCFRBot"
    if name in MINIMAX_GAMES:
        bots["minimax"] = "games.openspiel_games:OpenSpielMinimaxBot"
    language_model = name in RULES or payoff_table(turn_based, gt) is not None
    hidden = verdict.simultaneous or gt.information != gt_.Information.PERFECT_INFORMATION
    attrs = {
        "id": PREFIX + name,
        "name": f"{gt.long_name} (OpenSpiel)",
        "spiel_name": name,
        "min_players": max(1, min(gt.min_num_players, verdict.players)),
        "max_players": max(verdict.players, min(MAX_PLAYERS, gt.max_num_players)),
        "chance": gt.chance_mode != gt_.ChanceMode.DETERMINISTIC,
        "hidden_info": hidden,
        "zero_sum": gt.utility == gt_.Utility.ZERO_SUM,
        "simultaneous": verdict.simultaneous,
        "description": f"OpenSpiel's {gt.long_name}" + ("" if language_model else " (bots only)"),
        "can_draw": True,  # unknown in general; a draw probability above 0 is the safe side
        "language_model": language_model,
        "view_kind": _view_kind(turn_based),
        "base_type": gt,
        "PARAMS": params,
        "BOTS": bots,
        "__module__": __name__,
    }
    return type(f"OpenSpiel_{name}", (OpenSpielGame,), attrs)


# --- bots ----------------------------------------------------------------------------------------
@functools.cache
def _cfr_table(
    game_id: str, params: tuple[tuple[str, Any], ...], iterations: int
) -> dict[str, dict[str, float]]:
    from games.cfr import CFRPlusSolver
    from games.registry import make

    solver = CFRPlusSolver(make(game_id, **dict(params)))
    solver.iterate(iterations)
    return solver.average_policy()


class OpenSpielCFRBot(Bot):
    """The arena's CFR+ average strategy, solved on first use (small trees only)."""

    name = "cfr"

    def __init__(self, game: Game, iterations: int = 200) -> None:
        super().__init__(game)
        from games.analysis import GameTree

        GameTree.build(game, max_nodes=CFR_MAX_NODES)  # refuses a tree too large, with reason
        self.table = _cfr_table(game.id, tuple(sorted(game.params.items())), iterations)

    def policy(self, state: State) -> dict[str, float]:
        legal = state.legal_actions()
        row = self.table.get(state.information_state(state.current_player()), {})
        probs = {a: max(0.0, row.get(a, 0.0)) for a in legal}
        total = sum(probs.values())
        if total <= 0:
            return {a: 1.0 / len(legal) for a in legal}
        return {a: p / total for a, p in probs.items()}


class OpenSpielMinimaxBot(Bot):
    """Perfect play by exhaustive minimax, memoised on the printed position and the mover."""

    name = "minimax"

    def __init__(self, game: Game) -> None:
        super().__init__(game)
        self._memo: dict[str, float] = {}

    def _value(self, spiel: Any) -> float:
        """The game's value for seat 0 from `spiel` (a pyspiel state)."""
        if spiel.is_terminal():
            return spiel.returns()[0]
        key = f"{spiel.current_player()}|{spiel}"
        value = self._memo.get(key)
        if value is None:
            values = [self._value(spiel.child(a)) for a in spiel.legal_actions()]
            value = max(values) if spiel.current_player() == 0 else min(values)
            self._memo[key] = value
        return value

    def policy(self, state: State) -> dict[str, float]:
        assert isinstance(state, OpenSpielState)
        seat = state.current_player()
        sign = 1.0 if seat == 0 else -1.0
        names = state._names()
        scores = {n: sign * self._value(state.spiel.child(a)) for n, a in names.items()}
        best = max(scores.values())
        winners = [n for n, v in scores.items() if v >= best - 1e-9]
        return {n: (1.0 / len(winners) if n in winners else 0.0) for n in names}


# --- rules for language models ---------------------------------------------------------------------
# Hand-written for games a model can play well; they describe OpenSpiel's default parameters.
RULES: dict[str, str] = {
    "tic_tac_toe": """\
Tic-tac-toe on a 3x3 grid (OpenSpiel's tic_tac_toe). Player 0 plays x and moves first, player 1
plays o. The board is shown as three lines, top row first ('.' is empty).
A move is your mark and a free square as (row,column), rows and columns numbered 0-2 from the
top-left corner: x(0,0) is the top-left corner, x(1,1) the centre, x(2,2) the bottom-right
(player 1 writes o(1,1)). Three of your marks in a row, column or diagonal wins (+1, the loser
-1); a full board without a line is a draw (0).""",
    "connect_four": """\
Connect Four on a board of 6 rows and 7 columns, shown top row first ('.' is empty). Player 0
plays x and moves first, player 1 plays o. On your turn drop a disc into a column that is not
full; it falls to the lowest empty cell. A move is your mark and the column number, columns 0-6
from left to right: x3 drops an x into the middle column. Four of your discs in a line
(horizontal, vertical or diagonal) wins (+1, the loser -1); a full board is a draw (0).""",
    "nim": """\
Nim, misere version, with four piles of 1, 3, 5 and 7 objects. The view reads '(p): a b c d':
the player to move, then the objects left in piles 1 to 4. On your turn take one or more
objects from a single pile. A move is written 'pile:P, take:N;' with piles numbered from 1:
'pile:4, take:3;' takes three objects from the fourth pile. The player who takes the last
object loses (the winner gets +1, the loser -1).""",
    "breakthrough": """\
Breakthrough on an 8x8 board, shown row 8 first with columns a-h. Player 0 plays black (b),
starting on rows 7 and 8 and moving down the board; player 1 plays white (w), starting on rows
1 and 2 and moving up. Black moves first. On your turn move one of your pieces one square
straight forward or diagonally forward. A straight move needs an empty square; a diagonal move
goes to an empty square or captures the opponent's piece there (a capture ends with *).
You win (+1, the loser -1) by reaching the far row (black: row 1, white: row 8) or by capturing
every opponent piece. A move is the from-square then the to-square: a7a6, or e5d6* to capture.""",
    "kuhn_poker": """\
Kuhn poker for two players. The deck has three cards: 0 = Jack, 1 = Queen, 2 = King (the King
is highest). Each player antes 1 chip and gets one private card; the third card is not used.
Player 0 acts first. The moves are Pass and Bet. With no bet to answer, Pass checks and Bet
puts 1 more chip in; facing a bet, Bet calls (puts 1 chip in) and Pass folds (the bettor takes
the pot). Two passes, or a bet and a call, end in a showdown: the higher card takes the pot.
Your view is your card followed by the moves so far, p for Pass and b for Bet: '2pb' means you
hold the King, the first player passed and the second bet. You win or lose 1 chip (the ante)
or 2 (ante and bet).""",
    "leduc_poker": """\
Leduc hold'em for two players. Six cards: two suits of Jack, Queen and King, numbered 0-5
(0-1 are Jacks, 2-3 Queens, 4-5 Kings). Each player antes 1 chip and gets one private card;
after the first betting round one public card is dealt, then a second betting round follows.
The moves are Fold, Call (a check when there is nothing to call) and Raise; each round allows
at most two raises, of 2 chips in round 1 and 4 chips in round 2. At the showdown a player
whose card pairs the public card wins; otherwise the higher rank wins; equal ranks split the
pot. Your view lists your private card, the round, the pot, the chips each player has left,
the public card once dealt, and each round's actions (0 fold, 1 call, 2 raise).""",
    "liars_dice": """\
Liar's dice for two players with one six-sided die each. Each player rolls secretly. Players
take turns bidding: a bid 'q-f' claims that at least q of all the dice show face f, and 6s are
wild (they count as every face). Each bid must be higher than the last: more dice, or as many
dice and a higher face. Instead of bidding you may call 'Liar' on the last bid: the dice are
shown; if the bid was true the caller loses, otherwise the bidder loses (+1 to the winner, -1
to the loser). Your view is your die followed by the bids so far: '4 2-2' means you rolled a 4
and the last bid is two 2s.""",
    "pig": """\
Pig, a dice game for two players: the first to reach 100 points wins (+1, the loser -1). On
your turn roll a six-sided die as often as you like: each roll adds its value to your turn
total, but a roll of 1 ends your turn and loses the turn total. 'stop' adds your turn total to
your score and passes the turn. The moves are roll and stop. Your view shows both scores, the
turn total and the player to move.""",
    "goofspiel": """\
Goofspiel for two players. Each player holds the cards 1 to 13. Each round a point card (1-13,
in random order) is revealed and both players bid one card from their hand at the same time:
you never see the other bid before yours. The higher bid wins the point card's value; equal
bids win nothing. Bid cards are used up. After 13 rounds the player with more points wins (+1,
the loser -1, a tie 0). A bid is written '[P0]Bid: 7' (player 1 writes '[P1]Bid: 7'). Your
view shows the point cards so far, both hands, each round's winner and the points.""",
    "othello": """\
Othello (Reversi) on an 8x8 board, columns a-h and rows 1-8 as printed. Player 0 is Black (x)
and moves first, player 1 is White (o). Place a disc on an empty square so that one or more
straight lines of the opponent's discs lie between it and another of your discs; those discs
turn to your colour. A move is a square such as d3; with no such square your only move is
pass. The game ends when neither player can move: more discs wins (+1, the loser -1), equal
counts draw (0).""",
    "first_sealed_auction": """\
A first-price sealed-bid auction for two players. Chance gives each player a private value
from 1 to 10 that the other never sees. Each player then bids once, below their value, without
seeing the other bid. The higher bid wins the item and pays its bid: the winner's return is
value minus bid, the loser's 0 (chance breaks ties). A bid is written 'Player 0 bid: 3' (player
1 writes 'Player 1 bid: 3'). Your view is 'pN val V': your seat and your value.""",
}

MAX_TABLE_ACTIONS = 4
"""One-shot games whose players have at most this many actions get their payoff table."""


def payoff_table(spiel_game: Any, base_type: Any) -> str | None:
    """The payoff table of a one-shot two-player game with few actions, as text (else None).
    `base_type` is the game's own type (`spiel_game` may be its turn-based form)."""
    one_shot = base_type.information == _pyspiel().GameType.Information.ONE_SHOT
    if not one_shot or spiel_game.num_players() != 2:
        return None
    root = spiel_game.new_initial_state()
    if root.is_chance_node():
        return None
    mine = action_names(root, 0, root.legal_actions(0))
    if len(mine) > MAX_TABLE_ACTIONS:
        return None
    rows = []
    for name0, a0 in mine.items():
        after = root.child(a0)
        theirs = action_names(after, 1, after.legal_actions(1))
        if len(theirs) > MAX_TABLE_ACTIONS:
            return None
        for name1, a1 in theirs.items():
            r = after.child(a1).returns()
            rows.append(f"- player 0 {name0}, player 1 {name1}: returns {r[0]:g} and {r[1]:g}")
    return "\n".join(rows)


def generic_rules(game: OpenSpielGame) -> str:
    """Rules built from OpenSpiel's type information, for games without hand-written ones."""
    gt_ = _pyspiel().GameType
    gt = game.base_type
    n = game.num_players
    lines = [f"{gt.long_name}, a game from OpenSpiel (`{game.spiel_name}`), for {n} player(s)."]
    if game.simultaneous:
        lines.append(
            "The players move at the same time: here they move in turn, and no player sees the "
            "moves of the others in the same round before choosing."
        )
    if game.chance:
        lines.append("Chance events (cards dealt, dice rolled) happen during the game.")
    if gt.information == gt_.Information.PERFECT_INFORMATION and not game.simultaneous:
        lines.append("Everything is visible to every player.")
    else:
        lines.append("Some information is hidden: you see only what your seat may know.")
    utility = {
        gt_.Utility.ZERO_SUM: "what one player wins, the others lose (zero-sum)",
        gt_.Utility.CONSTANT_SUM: "the returns always add up to the same total",
        gt_.Utility.IDENTICAL: "all players get the same return: they play as one team",
    }.get(gt.utility, "each player has its own return")
    lines.append(f"At the end every player gets a return; {utility}.")
    table = payoff_table(game.spiel_game, gt)
    if table:
        lines += ["Each player chooses one action; the returns are:", table]
    else:
        lines.append(
            "Your view is OpenSpiel's own text for your seat; moves are OpenSpiel's action "
            "names. These rules are generic: the game is meant for bots (a language model may "
            "play, but nothing here explains the notation)."
        )
    return "\n".join(lines)
