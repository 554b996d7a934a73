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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from games.bots.base import Bot
from games.core import CHANCE, TERMINAL, Game, GameParamError, IllegalActionError, Parsed, State
from games.openspiel_rules import RULES, _pyspiel, action_names, generic_rules, payoff_table
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
