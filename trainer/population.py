"""Population self-play: the job's own latest checkpoints as opponents in its pool.

SPIRAL's later version trains against a population of its own past selves as well as the
current one: a policy that only meets itself can circle (beat the last version, forget the one
before). With `TrainConfig.population = K`, the job's latest K registered checkpoints (the
starting model `<name>@0` included) join the opponent pool, each as the rated player it was
registered as, and leave it, oldest first, as newer ones are made. Which members the pool holds
depends on the checkpoints registered alone, so a resumed job meets the same ones an
uninterrupted job would have met.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arena.players.base import Player
    from arena.players.factory import BackendPool

log = logging.getLogger("trainer")


class Population:
    """The members now in the pool, each with the backends it loaded (closed when it leaves)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._members: dict[str, tuple[Player, BackendPool]] = {}

    @property
    def names(self) -> list[str]:
        """The members' player names, oldest first."""
        return list(self._members)

    @property
    def players(self) -> list[Player]:
        """The members, oldest first."""
        return [player for player, _ in self._members.values()]

    def wanted(self, db: Any, job_name: str) -> list[tuple[str, Any]]:
        """The job's latest `size` registered checkpoints, (name, spec), oldest first."""
        from arena.store.jobs import checkpoint_steps
        from arena.store.players import get_player

        if self.size < 1:
            return []
        names = [f"{job_name}@{s}" for s in checkpoint_steps(db, job_name)[-self.size :]]
        return [(name, get_player(db, name).parsed_spec()) for name in names]

    def apply(self, wanted: list[tuple[str, Any]], loop: asyncio.AbstractEventLoop) -> list[str]:
        """Make `wanted` (name, spec) the members: load those that joined, close those that
        left. Returns the members' names, oldest first."""
        from arena.players.factory import BackendPool, make_player

        names = [name for name, _ in wanted]
        for name in [n for n in self._members if n not in names]:
            _, pool = self._members.pop(name)
            loop.run_until_complete(pool.aclose())
            log.info("population: %s left the pool", name)
        for name, spec in wanted:
            if name not in self._members:
                pool = BackendPool()
                player = make_player(spec, pool)
                self._members[name] = (player, pool)
                log.info("population: %s joined the pool", name)
        # Oldest first, whatever order they joined in (a resumed job loads them all at once).
        self._members = {n: self._members[n] for n in names}
        return names

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close every member's backends."""
        for _, pool in self._members.values():
            loop.run_until_complete(pool.aclose())
        self._members.clear()
