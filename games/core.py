"""The game model: a `Game` makes `State`s; states move by canonical action strings.

OpenSpiel's model, text first. A state's `current_player()` is a seat index, `CHANCE` at a
chance node or `TERMINAL` at the end. Actions are canonical strings: `legal_actions()` lists the
ones a bot may play and a UI may offer, and `game.parse_action(state, text)` turns a model's free
text into one of them (or, for free-text games, into a well-formed canonical move) or a reason.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

CHANCE = -1
"""`current_player()` at a chance node: the runner samples from `chance_outcomes()`."""
TERMINAL = -4
"""`current_player()` once the game is over."""


class IllegalActionError(ValueError):
    """`State.apply` was given an action that is not legal in that state."""


class GameParamError(ValueError):
    """`games.make` was given an unknown parameter or a bad value."""


@dataclass(frozen=True)
class Parsed:
    """What `Game.parse_action` made of a reply: a legal action, or a reason it is not one."""

    action: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.action is not None

    @classmethod
    def legal(cls, action: str) -> Parsed:
        return cls(action, None)

    @classmethod
    def illegal(cls, reason: str) -> Parsed:
        return cls(None, reason)


@dataclass(frozen=True)
class GameInfo:
    """A registered game's metadata: what `arena games` lists."""

    id: str
    name: str
    min_players: int
    max_players: int
    chance: bool
    hidden_info: bool
    zero_sum: bool
    simultaneous: bool
    free_text: bool
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    bots: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "min_players": self.min_players,
            "max_players": self.max_players,
            "chance": self.chance,
            "hidden_info": self.hidden_info,
            "zero_sum": self.zero_sum,
            "simultaneous": self.simultaneous,
            "free_text": self.free_text,
            "description": self.description,
            "params": dict(self.params),
            "bots": list(self.bots),
            "requires": list(self.requires),
        }


class State:
    """One position of a game. Subclasses implement the abstract methods below.

    States are mutable: `apply` changes the state in place; use `clone()` to branch.
    """

    game: Game

    # --- the contract --------------------------------------------------------------------
    def current_player(self) -> int:
        """Seat index of the player to move, `CHANCE`, or `TERMINAL`."""
        raise NotImplementedError

    def legal_actions(self) -> list[str]:
        """Canonical actions of the player to move (empty at chance and terminal nodes)."""
        raise NotImplementedError

    def chance_outcomes(self) -> list[tuple[str, float]]:
        """`(action, probability)` pairs at a chance node; empty elsewhere."""
        return []

    def apply(self, action: str) -> None:
        """Play `action` (a canonical action string). Raises `IllegalActionError` if illegal."""
        raise NotImplementedError

    def returns(self) -> list[float]:
        """One float per seat: the payoff so far (final once the state is terminal)."""
        raise NotImplementedError

    def clone(self) -> State:
        """An independent copy."""
        raise NotImplementedError

    def teams(self) -> list[int]:
        """A team id per seat: seats with one id win and lose together (spy: the civilians
        against the spy). Known once the state is terminal; by default every seat alone."""
        return list(range(self.game.num_players))

    def observation(self, player: int) -> str:
        """What `player` may know, as clear text for a language model."""
        raise NotImplementedError

    def information_state(self, player: int) -> str:
        """A compact key of exactly what `player` knows (equal keys = indistinguishable)."""
        raise NotImplementedError

    def history(self) -> list[str]:
        """Every action applied so far, chance outcomes included, in order."""
        raise NotImplementedError

    def indistinguishable_states(self, player: int) -> list[State]:
        """Other states that `player` cannot tell apart from this one: same public history and
        same private information of `player`, but other seats' secrets changed (their cards,
        dice, words, values, or a hidden simultaneous move). Hidden-information games implement
        it (usually with `replay`); the conformance test checks that `observation(player)` and
        `information_state(player)` are identical across them, i.e. nothing private leaks."""
        return []

    # --- derived helpers -----------------------------------------------------------------
    def is_terminal(self) -> bool:
        return self.current_player() == TERMINAL

    def is_chance_node(self) -> bool:
        return self.current_player() == CHANCE

    def public_history(self) -> list[str]:
        """The history with private chance outcomes hidden (games override when needed)."""
        return self.history()

    def winners(self) -> list[int]:
        """Seats with the highest return at a terminal state (all seats on a draw)."""
        rets = self.returns()
        best = max(rets)
        return [i for i, r in enumerate(rets) if r == best]

    def __str__(self) -> str:
        """The referee's view for logs and spectators: it may show every secret, so it is never
        what a seat sees (that is `observation(player)`). Games override it with a board."""
        return " ".join(self.history()) or "(start)"


class Game:
    """A game with fixed parameters. Subclasses set the class attributes and `_new_state`."""

    id: ClassVar[str]
    name: ClassVar[str]
    min_players: ClassVar[int] = 2
    max_players: ClassVar[int] = 2
    chance: ClassVar[bool] = False
    hidden_info: ClassVar[bool] = False
    zero_sum: ClassVar[bool] = True
    simultaneous: ClassVar[bool] = False
    free_text: ClassVar[bool] = False
    can_draw: ClassVar[bool] = False
    description: ClassVar[str] = ""
    # Default parameters; `games.make(id, **params)` accepts exactly these names.
    PARAMS: ClassVar[dict[str, Any]] = {}
    # Bot name -> "module:Class" (lazy import); `random` is available for every game.
    BOTS: ClassVar[dict[str, str]] = {}
    # Optional third-party modules the game needs (e.g. python-chess).
    REQUIRES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = self._check_params(params)
        self.num_players: int = int(self.params.get("num_players", self.min_players))
        if not self.min_players <= self.num_players <= self.max_players:
            raise GameParamError(
                f"{self.id}: num_players must be between {self.min_players} and "
                f"{self.max_players}, got {self.num_players}"
            )
        self.validate_params()

    @classmethod
    def _check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(params) - set(cls.PARAMS))
        if unknown:
            known = ", ".join(sorted(cls.PARAMS)) or "none"
            raise GameParamError(
                f"{cls.id}: unknown parameter(s) {', '.join(unknown)}; known parameters: {known}"
            )
        merged = dict(cls.PARAMS)
        for key, value in params.items():
            default = cls.PARAMS[key]
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise GameParamError(f"{cls.id}: {key} must be true or false, got {value!r}")
            elif isinstance(default, int):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise GameParamError(f"{cls.id}: {key} must be an integer, got {value!r}")
            elif isinstance(default, float):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise GameParamError(f"{cls.id}: {key} must be a number, got {value!r}")
                value = float(value)
            elif isinstance(default, str) and not isinstance(value, str):
                raise GameParamError(f"{cls.id}: {key} must be a string, got {value!r}")
            merged[key] = value
        return merged

    def validate_params(self) -> None:
        """Check parameter ranges; raise `GameParamError` with a clear message."""

    @classmethod
    def info(cls) -> GameInfo:
        return GameInfo(
            id=cls.id,
            name=cls.name,
            min_players=cls.min_players,
            max_players=cls.max_players,
            chance=cls.chance,
            hidden_info=cls.hidden_info,
            zero_sum=cls.zero_sum,
            simultaneous=cls.simultaneous,
            free_text=cls.free_text,
            description=cls.description,
            params=dict(cls.PARAMS),
            bots=("random", *sorted(b for b in cls.BOTS if b != "random")),
            requires=cls.REQUIRES,
        )

    def seat_names(self) -> tuple[str, ...]:
        """What people call each seat, in seat order: "X" and "O", "White" and "Black". The
        default numbers seats from 0, as every game's own text does ("You are player 0")."""
        return tuple(f"Player {seat}" for seat in range(self.num_players))

    def rules(self) -> str:
        """The rules as text for a language model (and for `arena games show`)."""
        raise NotImplementedError

    def new_initial_state(self) -> State:
        raise NotImplementedError

    def parse_action(self, state: State, text: str) -> Parsed:
        """Turn a player's free text into a legal action, or a reason it is not one.

        Never raises on junk. The default matches against `state.legal_actions()`; games with
        free-text moves or helpful illegal-move reasons override `explain_illegal` or this.
        """
        from games.parsing import parse_from_legal

        return parse_from_legal(
            text, state.legal_actions(), explain=lambda c: self.explain_illegal(state, c)
        )

    def explain_illegal(self, state: State, candidate: str) -> str | None:
        """Why a well-formed but illegal move is illegal (e.g. "b2 is taken"), or None."""
        return None

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.params.items() if self.PARAMS.get(k) != v}
        args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"games.make({self.id!r}{', ' + args if args else ''})"


def sample_chance(state: State, rng: random.Random) -> str:
    """Sample one outcome at a chance node from `rng` (never the global `random`)."""
    outcomes = state.chance_outcomes()
    r = rng.random()
    acc = 0.0
    for action, p in outcomes:
        acc += p
        if r < acc:
            return action
    return outcomes[-1][0]


def random_playout(game: Game, rng: random.Random | int, state: State | None = None) -> State:
    """Play uniformly random legal actions (and seeded chance) to the end; return the state."""
    if not isinstance(rng, random.Random):
        rng = random.Random(rng)
    if state is None:
        state = game.new_initial_state()
    while True:
        player = state.current_player()
        if player == TERMINAL:
            return state
        if player == CHANCE:
            state.apply(sample_chance(state, rng))
        else:
            state.apply(rng.choice(state.legal_actions()))


def replay(game: Game, actions: list[str], replace: dict[int, str] | None = None) -> State | None:
    """Replay `actions` from the initial state, swapping the action at each index in `replace`.

    Returns None when a replayed action is illegal (the swap made the history impossible).
    """
    replace = replace or {}
    state = game.new_initial_state()
    for i, action in enumerate(actions):
        action = replace.get(i, action)
        if state.is_terminal():
            return None
        if state.is_chance_node():
            if action not in dict(state.chance_outcomes()):
                return None
        try:
            state.apply(action)
        except IllegalActionError:
            return None
    return state
