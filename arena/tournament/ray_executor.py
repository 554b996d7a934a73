"""Matches played on a Ray cluster (`executor = "ray"`): the optional extra `arena-games[ray]`.

What runs where:
- the coordinator (the process that runs `arena tournament run`) plans the schedule, stores
  every record and rates it, in schedule order, exactly as the local executor does: it stays
  the only writer of the SQLite file;
- each match is a Ray task: it builds its bots itself and plays the whole match, then returns
  the full record (`MatchResult`); a task whose worker dies is re-run by Ray from the match's
  seed (the record it would have made is the same), and a record is stored only when it comes
  back, so a match is never lost nor stored twice;
- each model player (llama.cpp, transformers, an API) is one Ray actor per replica: the model
  is loaded once per replica, not once per match, and every match that seats it calls the
  actor; an API player's own concurrency limit holds across the cluster because all its calls
  go through its actor. An actor that dies is restarted by Ray (the model loads again) and
  the call is retried.

The arena imports Ray only here, and only when a tournament asks for it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from arena.players.base import Player, Reply, Turn

#: Ray re-runs a match whose worker died this often before the match counts as an error.
TASK_RETRIES = 3
#: A model actor that dies is restarted this often (each restart loads the model again).
ACTOR_RESTARTS = 3
#: CPUs a match task reserves: a bot match computes, a model match mostly waits on actors.
MATCH_CPUS = 0.5


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster cannot be reached."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayUnavailable("executor 'ray' needs Ray: pip install 'arena-games[ray]'") from None
    return ray


def connect(address: str | None, *, num_cpus: int | None = None) -> Any:
    """Join the cluster at `address` ("auto", "ray://host:10001", host:port), or start a
    local one when it is None. Idempotent within a process."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {
        "ignore_reinit_error": True,
        "log_to_driver": False,
        "logging_level": logging.ERROR,  # Ray's own start-up lines stay out of the terminal
        "include_dashboard": False,
    }
    if address is None:
        kwargs["num_cpus"] = num_cpus
    else:
        kwargs["address"] = address
        kwargs.pop("include_dashboard")
    try:
        ray.init(**kwargs)
    except Exception as exc:  # ConnectionError, a bad address, a version mismatch
        where = address or "a local cluster"
        raise RayUnavailable(f"cannot start or reach Ray at {where}: {exc}") from None
    return ray


def _player_actor_class(ray: Any) -> Any:
    @ray.remote(max_restarts=ACTOR_RESTARTS, max_task_retries=TASK_RETRIES)
    class PlayerActor:
        """One replica of a model player: the model loads once, matches call `act`."""

        def __init__(self, spec_data: dict[str, Any]) -> None:
            from arena.players.factory import BackendPool, make_player
            from arena.specs import parse_spec

            self.pool = BackendPool()
            self.player = make_player(parse_spec(spec_data), self.pool)

        async def act(self, turn: Turn) -> tuple[Reply, dict[str, Any], Any]:
            reply = await self.player.act(turn)
            # what the player changed in the match's hands travels back with the reply
            return reply, turn.memory, turn.rng.getstate()

        async def close(self) -> None:
            await self.player.aclose()
            await self.pool.aclose()

    return PlayerActor


class RemotePlayer(Player):
    """A match's seat played by a model actor: `act` is a call to the actor; the seat's chat
    memory and generator come back with the reply, so a match plays exactly as it would in
    one process."""

    kind = "llm"
    timed = True

    def __init__(self, name: str, actor: Any, time_limit_s: float | None) -> None:
        super().__init__(name)
        self.actor = actor
        self.time_limit_s = time_limit_s

    async def act(self, turn: Turn) -> Reply:
        sent = Turn(
            game=turn.game,
            state=turn.state,
            seat=turn.seat,
            legal_actions=turn.legal_actions,
            rng=turn.rng,
            move_index=turn.move_index,
            attempt=turn.attempt,
            feedback=turn.feedback,
            memory=turn.memory,
            on_text=None,  # no live stream across machines
            match_seed=turn.match_seed,
        )
        reply, memory, rng_state = await self.actor.act.remote(sent)
        turn.memory.clear()
        turn.memory.update(memory)
        turn.rng.setstate(rng_state)
        return reply


def _play_slot_function(ray: Any) -> Any:
    @ray.remote(max_retries=TASK_RETRIES, retry_exceptions=False, num_cpus=MATCH_CPUS)
    def play_slot(
        game_id: str,
        params: dict[str, Any],
        seed: int,
        seats: list[tuple[str, Any]],
        rules: Any,
    ) -> Any:
        """Play one match; `seats` holds ("spec", spec dict) for a bot, built here, or
        ("actor", (name, handle, time limit)) for a model."""
        import games
        from arena.match import play_match
        from arena.players.factory import BackendPool, make_player
        from arena.specs import parse_spec

        async def run() -> Any:
            pool = BackendPool()
            players: list[Player] = []
            try:
                for how, what in seats:
                    if how == "spec":
                        players.append(make_player(parse_spec(what), pool))
                    else:
                        players.append(RemotePlayer(*what))
                return await play_match(games.make(game_id, **params), players, seed, rules=rules)
            finally:
                for p in players:
                    if not isinstance(p, RemotePlayer):
                        await p.aclose()
                await pool.aclose()

        return asyncio.run(run())

    return play_slot


async def _awaited(ref: Any) -> Any:
    return await ref


class RayExecutor:
    """Plays slots on the cluster; the tournament runner awaits `play(slot)` as it would a
    local match."""

    def __init__(
        self,
        specs: dict[str, Any],
        *,
        address: str | None,
        replicas: int = 1,
        model_resources: dict[str, float] | None = None,
        num_cpus: int | None = None,
    ) -> None:
        from arena.specs import BotSpec, HumanSpec, spec_to_dict

        self.ray = connect(address, num_cpus=num_cpus)
        for name, spec in specs.items():
            if isinstance(spec, HumanSpec):
                raise RayUnavailable(f"{name} is a person: people play on the local executor")
        self.specs = specs
        self._play = _play_slot_function(self.ray)
        actor_class = _player_actor_class(self.ray)
        resources = dict(model_resources or {"num_cpus": 1})
        # A local model gets `replicas` actors with the resources asked for; an API player
        # one actor that reserves nothing (it waits on its endpoint, and one actor keeps its
        # `concurrency` for the whole cluster).
        models = [
            n
            for n, spec in specs.items()
            if not isinstance(spec, BotSpec) and spec.kind != "openai"
        ]
        reserved = len(models) * replicas * resources.get("num_cpus", 1)
        available = self.ray.cluster_resources().get("CPU", 0)
        if models and reserved + MATCH_CPUS > available:
            # Ray would wait for ever for room to run a match: say so instead.
            raise RayUnavailable(
                f"{len(models)} model player(s) x {replicas} replica(s) x "
                f"{resources.get('num_cpus', 1):g} CPUs reserve {reserved:g} of the cluster's "
                f"{available:g} CPUs, leaving none for the matches: lower model_cpus or "
                "replicas, or add nodes"
            )
        self.actors: dict[str, list[Any]] = {}
        self._bots: dict[str, dict[str, Any]] = {}
        for name, spec in specs.items():
            if isinstance(spec, BotSpec):
                self._bots[name] = spec_to_dict(spec)
                continue
            api = spec.kind == "openai"
            self.actors[name] = [
                actor_class.options(
                    num_cpus=0 if api else resources.get("num_cpus", 1),
                    num_gpus=0 if api else resources.get("num_gpus", 0),
                    max_concurrency=1000,
                ).remote(spec_to_dict(spec))
                for _ in range(1 if api else replicas)
            ]

    def _seat(self, name: str, slot_id: int) -> tuple[str, Any]:
        if name in self._bots:
            return ("spec", self._bots[name])
        replicas = self.actors[name]
        actor = replicas[slot_id % len(replicas)]  # a match sticks to one replica
        return ("actor", (name, actor, getattr(self.specs[name], "move_time_limit_s", None)))

    async def play(self, slot: Any, rules: Any, stop: asyncio.Event) -> Any:
        """The match's record; `aborted` when `stop` is set first (the task is cancelled and
        the match is played again on resume), `error` when the cluster could not play it."""
        ref = self._play.remote(
            slot.game,
            slot.params,
            slot.seed,
            [self._seat(n, slot.id) for n in slot.seats],
            rules,
        )
        result = asyncio.ensure_future(_awaited(ref))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([result, stopped], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self.ray.cancel(ref, force=True)
            result.cancel()
            raise
        finally:
            stopped.cancel()
        if not result.done():
            self.ray.cancel(ref, force=True)
            result.cancel()
            return unplayed_result(slot, "aborted")
        try:
            return result.result()
        except Exception as exc:  # WorkerCrashedError, ActorDiedError, ... after Ray's retries
            return unplayed_result(
                slot, "error", f"the cluster could not play the match: {type(exc).__name__}: {exc}"
            )

    async def aclose(self) -> None:
        for replicas in self.actors.values():
            for actor in replicas:
                try:
                    await actor.close.remote()
                except Exception:  # noqa: BLE001 - a dead actor holds nothing
                    pass
                self.ray.kill(actor)
        self.actors.clear()


def unplayed_result(slot: Any, status: str, error: str | None = None) -> Any:
    """The record of a match the cluster did not finish: `aborted` when the run was stopped
    (it is played again on resume, from its seed), `error` when its workers died more often
    than Ray retries (counted against the match's tries, like any error)."""
    from arena.match import MatchResult

    return MatchResult(
        game_id=slot.game,
        params=dict(slot.params),
        seed=slot.seed,
        players=list(slot.seats),
        status=status,  # type: ignore[arg-type]
        returns=None,
        moves=[],
        error=error[:2000] if error else None,
    )
