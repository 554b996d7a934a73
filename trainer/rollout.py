"""Self-play rollouts through the arena's own match loop.

`TrainablePlayer` is an arena `Player` backed by an `ActionPolicy`: it scores every legal action
and samples one (with epsilon-exploration), so its reply is always legal. Several games run
concurrently in one event loop; the positions their players ask for at the same moment are
scored together in one forward pass (the player gathers requests until every waiting game has
asked, then flushes).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from arena.match import MatchResult, play_match
from arena.players.base import Player, Reply, Turn
from games import Game
from trainer.policy import ActionPolicy, Position
from trainer.tick_batch import TickBatcher


@dataclass
class TurnRecord:
    """One decision of a seat, as the loss needs it."""

    game_id: str
    seat: int
    position: Position
    chosen: int  # index into position.candidates
    behaviour_prob: float  # probability the move was drawn with (the epsilon mixture)
    policy_prob: float  # the policy's own probability of the move at rollout time
    reward: float = 0.0  # the turn's own reward (part of its seat's return; none in scoring)

    @property
    def reply_tokens(self) -> int:
        """Tokens of the reply the move was played with."""
        return len(self.position.candidates[self.chosen])


@dataclass
class Episode:
    """One finished game: its returns and every decision the trained policy made in it."""

    game_id: str
    seed: int
    returns: list[float]
    turns: list[TurnRecord] = field(default_factory=list)
    opponent: str | None = None
    """The pool player in the game (None: self-play, the policy in every seat)."""
    opponent_seat: int | None = None
    outcome: list[float] | None = None
    """The game's own result per seat before any shaping (None: `returns` are that)."""
    forfeit: bool = False
    """A seat forfeited (an illegal answer ended the game)."""

    def role(self, seat: int) -> str:
        """The baseline's key for a seat: the game and seat, and the opponent if any (the
        expected return of seat 0 against `random` is not that of seat 0 in self-play)."""
        key = f"{self.game_id}/{seat}"
        return key if self.opponent is None else f"{key}/vs-{self.opponent}"


def choose(probs: list[float], rng: random.Random, epsilon: float) -> tuple[int, float]:
    """Draw an index: uniformly with probability `epsilon`, else from `probs`. Returns the
    index and its probability under that mixture (the behaviour probability)."""
    n = len(probs)
    if epsilon > 0 and rng.random() < epsilon:
        index = rng.randrange(n)
    else:
        u, acc, index = rng.random(), 0.0, n - 1
        for i, p in enumerate(probs):
            acc += p
            if u < acc:
                index = i
                break
    return index, (1.0 - epsilon) * probs[index] + epsilon / n


class TrainablePlayer(Player):
    """Plays by sampling from an `ActionPolicy`; records every decision it makes.

    Shared by every seat and every concurrent game of a rollout: records are kept per
    (match seed, seat), which are unique within a rollout.
    """

    kind = "llm"

    def __init__(self, name: str, policy: ActionPolicy, *, epsilon: float = 0.0) -> None:
        super().__init__(name)
        self.policy = policy
        self.epsilon = epsilon
        self.records: dict[tuple[int, int], list[TurnRecord]] = {}
        self._batcher: TickBatcher[Position, list[float]] = TickBatcher(policy.probabilities)

    async def act(self, turn: Turn) -> Reply:
        pos = self.policy.position(turn)
        probs = await self._probabilities(pos)
        index, behaviour = choose(probs, turn.rng, self.epsilon)
        action = pos.actions[index]
        self.records.setdefault((turn.match_seed, turn.seat), []).append(
            TurnRecord(turn.game.id, turn.seat, pos, index, behaviour, probs[index])
        )
        return Reply(
            text=action,
            action=action,
            policy=dict(zip(pos.actions, probs, strict=True)),
            prompt_tokens=len(pos.prompt),
            completion_tokens=len(pos.candidates[index]),
        )

    async def _probabilities(self, pos: Position) -> list[float]:
        # The positions the concurrent games ask for together: one forward pass.
        return await self._batcher.submit(pos)


def match_seed(seed: int, step: int, index: int) -> int:
    """The seed of game `index` of training step `step`: reproducible, so a resumed job plays
    the games an uninterrupted one would have played."""
    key = f"trainer:{seed}:{step}:{index}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little") & 0x7FFFFFFF


@dataclass(frozen=True)
class Pairing:
    """One game of a rollout: which game, its seed, and the pool opponent's seat (if any)."""

    game: Game
    seed: int
    opponent: Player | None = None
    opponent_seat: int = 0


async def play_selfplay(
    policy: ActionPolicy,
    pairings: list[Pairing],
    *,
    epsilon: float = 0.0,
    name: str = "trainee",
) -> list[Episode]:
    """Play every pairing concurrently: the policy in every seat but the pool opponent's (all
    seats when there is none)."""
    if len({p.seed for p in pairings}) != len(pairings):
        raise ValueError("self-play seeds must be distinct within a rollout")
    player = TrainablePlayer(name, policy, epsilon=epsilon)

    async def one(p: Pairing) -> MatchResult:
        seats: list[Player] = [player] * p.game.num_players
        if p.opponent is not None:
            seats[p.opponent_seat] = p.opponent
        return await play_match(p.game, seats, p.seed)

    results = await asyncio.gather(*(one(p) for p in pairings))
    episodes = []
    for p, result in zip(pairings, results, strict=True):
        if result.status != "finished" or result.returns is None:
            raise RuntimeError(f"self-play game {p.game.id} (seed {p.seed}) ended: {result.error}")
        turns = [t for s in range(p.game.num_players) for t in player.records.get((p.seed, s), [])]
        opp = p.opponent.name if p.opponent is not None else None
        seat = p.opponent_seat if p.opponent is not None else None
        episodes.append(
            Episode(
                p.game.id,
                p.seed,
                list(result.returns),
                turns,
                opp,
                seat,
                forfeit=result.forfeit_seat is not None,
            )
        )
    return episodes


def rollout(
    policy: ActionPolicy,
    games: list[Game],
    *,
    batch_games: int,
    seed: int,
    step: int,
    epsilon: float = 0.0,
    opponents: list[Player] | None = None,
    opponent_share: float = 0.5,
    loop: asyncio.AbstractEventLoop | None = None,
    dist: Any = None,
) -> list[Episode]:
    """One training step's games, spread over `games` in turn. With `opponents`, a share of
    them (every game's share drawn by a seeded coin) put one seat, in turn, to an opponent
    drawn from the pool. The policy's probability cache is cleared first (the model changed
    since the last step). `loop`: the event loop to play on (default: a fresh one). `dist`
    (`trainer.distributed.Dist`): play only this rank's share of the games."""
    policy.invalidate()
    pairings = make_pairings(games, batch_games, seed, step, opponents, opponent_share)
    if dist is not None:
        pairings = dist.shard(pairings)
    play = play_selfplay(policy, pairings, epsilon=epsilon)
    # The trainer keeps one loop for the whole job: opponents' backends outlive a step.
    return loop.run_until_complete(play) if loop is not None else asyncio.run(play)


def make_pairings(
    games: list[Game],
    batch_games: int,
    seed: int,
    step: int,
    opponents: list[Player] | None = None,
    opponent_share: float = 0.5,
) -> list[Pairing]:
    """A step's games, spread over `games` in turn, with distinct seeds; with `opponents`, a
    share of them (each drawn by a seeded coin) put one seat, in turn, to a pool opponent."""
    rng = random.Random(match_seed(seed, step, -1))
    pairings: list[Pairing] = []
    seeds: set[int] = set()
    for i in range(batch_games):
        game = games[i % len(games)]
        s = match_seed(seed, step, i)
        while s in seeds:  # records are kept per match seed: keep them apart
            s = (s + 1) & 0x7FFFFFFF
        seeds.add(s)
        if opponents and rng.random() < opponent_share:
            opp = opponents[rng.randrange(len(opponents))]
            pairings.append(Pairing(game, s, opp, (step + i) % game.num_players))
        else:
            pairings.append(Pairing(game, s))
    return pairings
