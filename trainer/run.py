"""A self-play training job from start (or its last checkpoint) to its last step.

`run_job(db_path, job_id, should_stop)` is what the trainer process runs: it reads the job's row,
loads the base model or the latest checkpoint, and loops rollouts -> loss -> optimizer step,
writing each step's metrics (and the job's step) in a short transaction of its own (never
across a training step). Every `checkpoint_every` steps (and when asked to stop) it saves a
checkpoint, registers it as a player `<job>@<step>`, for kuhn_poker and leduc_poker records the
checkpoint's exact exploitability, and with `eval_games` plays its evaluation games. A fresh job
first measures its starting model the same way, as step 0 (`evaluate_start`; a warm-started
job's checkpoint 0 is the warm-started model, saved and evaluated as any checkpoint).

A resumed job picks up whatever a killed or stopped run left: steps recorded after the latest
checkpoint are dropped and played again, checkpoint folders not registered as players are
registered (once), and the latest checkpoint's exploitability and evaluation are completed if
they were not recorded (an evaluation cut short is played on, not started again). Setting the
job's status (running, finished, interrupted, failed) is the caller's part.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arena.prompts import PromptOptions
from trainer.checkpoint import (
    latest_checkpoint,
    list_checkpoints,
    load_training_state,
    restore_rng,
    save_checkpoint,
)
from trainer.crash import crash_point
from trainer.distributed import Dist
from trainer.loss import Baselines, LossStats, assign_advantages, drawn, policy_loss
from trainer.milestones import (  # noqa: F401 (register_checkpoint: part of this module's API)
    EXACT_GAMES,
    _start_unevaluated,
    checkpoint,
    complete_checkpoint,
    evaluate_start,
    register_checkpoint,
    register_checkpoints,
)
from trainer.policy import ActionPolicy, exact_exploitability, policy_table, table_policy
from trainer.population import Population
from trainer.rollout import Episode, rollout
from trainer.step_metrics import MAX_GRAD_NORM, episode_metrics, update_metrics
from trainer.vllm_rollout import make_vllm_rollout, resolve_rollout_engine

if TYPE_CHECKING:
    from arena.players.base import Player
    from arena.train_config import TrainConfig

log = logging.getLogger("trainer")


class Trainer:
    """The model, optimizer and baselines of one job, with `train_step` and `save`."""

    def __init__(
        self,
        config: TrainConfig,
        job_dir: str | Path,
        opponents: list[Player] | None = None,
        dist: Dist | None = None,
    ) -> None:
        import asyncio

        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        import games
        from arena.backends.transformers_backend import resolve_device, resolve_dtype

        self.config = config
        self.job_dir = Path(job_dir)
        self.dist = dist or Dist()
        device = resolve_device(config.device)
        if device == "cuda" and self.dist.world > 1:
            device = f"cuda:{torch.cuda.current_device()}"  # this rank's own GPU
        if device == "cpu":
            torch.set_num_threads(1)  # fastest for small models on a small shared machine
        dtype = resolve_dtype(config.dtype, device)
        ckpt = latest_checkpoint(self.job_dir)
        # A LoRA job always starts from the base: its checkpoints keep the adapters apart.
        source = str(config.base if config.lora else ckpt or config.base)
        if not source:
            raise ValueError("the job names no base model")
        torch.manual_seed(config.seed)
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype).to(device)
        self.model.eval()  # no dropout: the rollout's and the loss's probabilities agree
        if config.lora:
            from trainer.checkpoint import ADAPTER_DIR
            from trainer.lora import apply_lora, load_adapter

            self.model = apply_lora(self.model, rank=config.lora_rank)
            if ckpt is not None:
                self.model = load_adapter(self.model, ckpt / ADAPTER_DIR)
        # What plays (rollouts, evaluations, checkpoints' weights): the trained model itself,
        # or under FSDP a plain copy given the trained weights after every update.
        self.play_model = self.model
        self.sharded = config.parallel == "fsdp" and self.dist.world > 1
        if self.sharded:
            from trainer.fsdp import local_share, shard_model

            self.model = shard_model(self.model)  # in place: half of it freed on 2 ranks
            # The play copy, read again (the same weights: nothing has trained yet).
            self.play_model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype).to(device)
            self.play_model.eval().requires_grad_(False)
            here, whole = local_share(self.model)
            log.info(
                "fsdp: rank %d holds %d of the %d trained weights", self.dist.rank, here, whole
            )
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
        self.optimizer_state: dict[str, Any] | None = None  # a sharded one's, gathered to save
        self.baselines = Baselines(config.baseline_decay)
        self.step = 0
        if ckpt is not None:
            state = load_training_state(ckpt)
            if self.sharded:
                from trainer.fsdp import load_optimizer_state

                load_optimizer_state(self.model, self.optimizer, state.optimizer)
            else:
                self.optimizer.load_state_dict(state.optimizer)
            self.baselines.values = dict(state.baselines)
            self.step = state.step
            restore_rng(state)
        prompt = PromptOptions(reasoning="direct", include_rules=config.include_rules)
        self.policy = ActionPolicy(
            self.model, self.tokenizer, device, temperature=config.temperature, prompt=prompt
        )
        self.play_policy = self.policy
        if self.sharded:
            self.play_policy = ActionPolicy(
                self.play_model,
                self.tokenizer,
                device,
                temperature=config.temperature,
                prompt=prompt,
            )
        self.reference: ActionPolicy | None = None
        if config.kl_coef > 0:
            ref = AutoModelForCausalLM.from_pretrained(config.base, dtype=dtype).to(device)
            ref.eval().requires_grad_(False)
            self.reference = ActionPolicy(ref, self.tokenizer, device, prompt=prompt)
        self.games = [games.make(g) for g in config.games]
        self.resumed_from = ckpt
        self.opponents = list(opponents or [])
        self.population = Population(config.population)
        self.loop = asyncio.new_event_loop()
        self.generator = None  # generation mode's player (the model writes whole replies)
        self.games_here = 0  # the last step's games played by this rank
        self.rollout_engine = None  # a vLLM engine sampling generation mode's replies
        if (
            config.policy == "generate"
            and resolve_rollout_engine(config.rollout_engine, device) == "vllm"
        ):
            self.rollout_engine = make_vllm_rollout(self, dtype)
        if config.policy == "generate":
            from trainer.generate_step import make_generating_player

            self.generator = make_generating_player(self)

    def warm_start(self, db_path: str | Path | None) -> dict[str, float]:
        """Imitate the recorded moves the config names (before the first step only);
        returns the loss of the first and the last pass."""
        from trainer.sft import examples_from_db, examples_from_jsonl, sft, targets

        s = self.config
        if s.warm_start_file:
            examples = examples_from_jsonl(s.warm_start_file, players=s.warm_start or None)
        elif s.warm_start and db_path is not None:
            examples = examples_from_db(db_path, players=s.warm_start, games=s.games)
        else:
            return {}
        if not examples:
            raise ValueError(f"no recorded moves of {', '.join(s.warm_start)} to warm start from")
        losses = sft(
            self.policy,
            targets(self.policy, examples),
            epochs=s.warm_start_epochs,
            lr=s.warm_start_lr or s.lr,
            seed=s.seed,
        )
        log.info("warm start on %d moves: loss %.4f -> %.4f", len(examples), losses[0], losses[-1])
        return {"warm_start/moves": len(examples), "warm_start/loss": losses[-1]}

    def close(self) -> None:
        """Close the opponents' backends and the rollouts' event loop."""
        for player in self.opponents:
            self.loop.run_until_complete(player.aclose())
        self.population.close(self.loop)
        self.loop.close()
        if self.rollout_engine is not None:
            self.rollout_engine.close()

    def pool(self) -> list[Player]:
        """The opponent pool now: the config's opponents, then the population's members."""
        return self.opponents + self.population.players

    def training_episodes(self, episodes: list[Episode]) -> list[Episode]:
        """The episodes the loss learns from: all, or (`filter_draws`) the decisive ones."""
        if not self.config.filter_draws:
            return episodes
        return [ep for ep in episodes if not drawn(ep)]

    def my_share(self, episodes: list[Episode], batch: list[tuple[Any, float]]) -> list[Any]:
        """The part of `batch` (turns of the gathered `episodes`) this rank computes the loss
        of: its own games' turns (all of them on one rank)."""
        if self.dist.world == 1:
            return batch
        mine = {id(t) for i, ep in enumerate(episodes) if self.dist.mine(i) for t in ep.turns}
        return [(t, a) for t, a in batch if id(t) in mine]

    def sum_gradients(self) -> list[Any]:
        """The parameters to clip and step, their gradients summed over the ranks (FSDP has
        summed them in the backward passes)."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not self.sharded:
            self.dist.sum_gradients(params)
        return [p for p in params if p.grad is not None]

    def even_passes(self) -> Any:
        """`count -> passes` for the loss: the busiest rank's count under FSDP (every rank
        takes part in each pass's collectives), None otherwise."""
        return self.dist.max_count if self.sharded else None

    def updated(self) -> None:
        """After an optimizer step: the play copy (FSDP) gets the new weights, and cached
        scores go (a rollout engine is given them by the step, `generate_step`)."""
        if self.sharded:
            from trainer.fsdp import sync_play_model

            sync_play_model(self.model, self.play_model)
        self.policy.invalidate()
        self.play_policy.invalidate()

    def gather_for_checkpoint(self) -> None:
        """Every rank, before rank 0 saves a checkpoint: a sharded optimizer's whole state,
        gathered on rank 0."""
        if self.sharded:
            from trainer.fsdp import full_optimizer_state

            self.optimizer_state = full_optimizer_state(self.model, self.optimizer)

    def advantages(self, episodes: list[Episode]) -> list[tuple[Any, float]]:
        """The training episodes' turns with their advantages (the config's estimator)."""
        s = self.config
        return assign_advantages(
            self.training_episodes(episodes),
            self.baselines,
            normalize=s.normalize_advantages,
            advantage=s.advantage,
            gamma=s.gamma,
        )

    def train_step(self) -> dict[str, float]:
        """Play one batch of self-play games, take one optimizer step (or `ppo_epochs` with
        PPO); return the step's metrics."""
        import torch

        if self.generator is not None:
            from trainer.generate_step import generate_step

            return generate_step(self, self.generator)
        s = self.config
        t0 = time.perf_counter()
        episodes = rollout(
            self.policy,
            self.games,
            batch_games=s.batch_games,
            seed=s.seed,
            step=self.step,
            epsilon=s.epsilon,
            opponents=self.pool(),
            opponent_share=s.opponent_share,
            loop=self.loop,
            dist=self.dist,
        )
        self.games_here = len(episodes)
        episodes = self.dist.gather(episodes)  # every rank: the whole batch, in game order
        t_rollout = time.perf_counter() - t0
        batch = self.advantages(episodes)
        local = self.my_share(episodes, batch)
        epochs = s.ppo_epochs if s.algorithm == "ppo" else 1
        lr = self.learning_rate()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        stats: LossStats | None = None
        grad_norm = 0.0
        for _ in range(epochs):
            self.optimizer.zero_grad(set_to_none=True)
            stats = policy_loss(
                self.policy,
                local,
                total=len(batch),
                algorithm=s.algorithm,
                clip=s.clip,
                entropy_coef=s.entropy_coef,
                kl_coef=s.kl_coef,
                reference=self.reference,
                estimator=s.estimator,
                magnet_coef=s.magnet_coef,
            )
            params = self.sum_gradients()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM))
            self.optimizer.step()
        self.updated()
        self.step += 1
        assert stats is not None
        stats = self.dist.sum_stats(stats)
        metrics = episode_metrics(episodes, self.baselines)
        metrics.update(update_metrics(stats, s.algorithm, grad_norm, lr, t0, t_rollout))
        metrics["importance_weight"] = stats.importance_weight
        return metrics

    def learning_rate(self) -> float:
        """This step's learning rate: `lr`, decayed linearly to `lr * lr_end_ratio` at the
        last step (a function of the step alone, so a resumed job follows the same schedule)."""
        s = self.config
        done = min(1.0, self.step / max(1, s.steps - 1))
        return s.lr * (1.0 - (1.0 - s.lr_end_ratio) * done)

    def save(self) -> Path:
        """Checkpoint the current step under the job's folder."""
        if self.sharded and self.optimizer_state is None:
            raise RuntimeError("a sharded job's checkpoint needs gather_for_checkpoint first")
        path = save_checkpoint(
            self.job_dir,
            self.step,
            self.play_model,
            self.tokenizer,
            self.optimizer,
            self.baselines.values,
            optimizer_state=self.optimizer_state,
        )
        self.optimizer_state = None
        return path

    def exploitability(self, folder: Path | None = None) -> dict[str, float]:
        """Exact exploitability of the current policy on each small poker game it trains on;
        with a checkpoint `folder`, the policy is also stored there (`policy-<game>.json`) and
        the average strategy of the last `average_checkpoints` checkpoints is measured too
        (metric `<game>:avg`)."""
        from games.analysis import GameTree, average_policy, exploitability

        out: dict[str, float] = {}
        if self.config.policy == "generate":
            return out  # the scored policy is not the player that generates its replies
        for game in self.games:
            if game.id not in EXACT_GAMES:
                continue
            tree = GameTree.build(game)
            out[game.id] = exact_exploitability(self.policy, game, tree)
            k = self.config.average_checkpoints
            if folder is None or k < 1:
                continue
            name = f"policy-{game.id}.json"
            (folder / name).write_text(json.dumps(policy_table(self.policy, game, tree)))
            tables = [
                json.loads((path / name).read_text())
                for _, path in list_checkpoints(self.job_dir)[-k:]
                if (path / name).exists()
            ]
            if len(tables) > 1:
                mix = average_policy(tree, [table_policy(t) for t in tables])
                out[f"{game.id}:avg"] = exploitability(tree, mix)
        return out


def run_job(
    db_path: str | Path,
    job_id: int,
    should_stop: Callable[[], bool] = lambda: False,
    config: TrainConfig | None = None,
    dist: Dist | None = None,
) -> int:
    """Train job `job_id` up to its last step (or until `should_stop()`, checked after each
    step); returns the step reached. `dist`: this process's rank under torchrun (rank 0 runs
    this; the others `follow_job`, and never open the database). `config` is the job's, parsed (`arena.jobs.job_config`)
    by a caller that has it already (default: parsed here from the job's row). Resumes from the job's latest checkpoint: steps the job
    recorded after it are played again, checkpoints left unregistered are registered, and the
    checkpoint's exploitability and evaluation games are completed if a run ended before."""
    from arena.jobs import get_job, job_config, job_dir
    from arena.players.factory import BackendPool, make_player
    from arena.store import open_db
    from arena.store.players import get_player

    dist = dist or Dist()
    db = open_db(db_path)
    pool = BackendPool()
    trainer = None
    try:
        try:
            job = get_job(db, job_id)
            config = config or job_config(job)
            specs = [get_player(db, n).parsed_spec() for n in config.opponents]
            folder = job_dir(job, db_path)
        except Exception as exc:
            dist.broadcast_object(JobContext(error=f"{type(exc).__name__}: {exc}"))
            raise
        # The other ranks (on this machine or others) get what they need from here.
        dist.broadcast_object(JobContext(config.model_dump(), specs, str(folder)))
        opponents = [make_player(spec, pool) for spec in specs]
        trainer = Trainer(config, folder, opponents, dist)
        check_same_start(trainer)
        return _train(db, db_path, job_id, trainer, config, should_stop)
    finally:
        if trainer is not None:
            trainer.loop.run_until_complete(pool.aclose())
            trainer.close()
        db.conn.close()


@dataclass
class JobContext:
    """What rank 0 sends the other ranks at the start: the job's config, its opponents'
    specs and its folder (or the error that stopped rank 0 before it could)."""

    config: dict[str, Any] | None = None
    opponents: list[Any] | None = None
    folder: str = ""
    error: str | None = None


def follow_job(dist: Dist, should_stop: Callable[[], bool] = lambda: False) -> int:
    """A rank other than 0: the same steps on its share of the games, from what rank 0 sends
    (`JobContext`), without the database; returns the step reached."""
    import asyncio

    from arena.players.factory import BackendPool, make_player
    from arena.train_config import TrainConfig

    context: JobContext = dist.broadcast_object(None)
    if context.error is not None:
        raise RuntimeError(f"rank 0 could not start the job: {context.error}")
    config = TrainConfig.model_validate(context.config)
    pool = BackendPool()
    opponents = [make_player(spec, pool) for spec in context.opponents or []]
    trainer = None
    try:
        trainer = Trainer(config, context.folder, opponents, dist)
        check_same_start(trainer)
        return _follow(trainer, config, should_stop)
    finally:
        if trainer is not None:
            trainer.loop.run_until_complete(pool.aclose())
            trainer.close()
        else:
            asyncio.run(pool.aclose())


def check_same_start(trainer: Trainer) -> None:
    """Every rank starts from the same checkpoint, or every rank says which one it saw (a
    node that does not see the job's folder starts from the base)."""
    steps = trainer.dist.gather([trainer.step])
    if len(set(steps)) > 1:
        seen = ", ".join(f"rank {r} step {s}" for r, s in enumerate(steps))
        raise RuntimeError(
            f"the ranks start from different checkpoints ({seen}): every node must see the "
            f"job's folder {trainer.job_dir} (a shared filesystem, at the same path)"
        )


def refresh_population(trainer: Trainer, db: Any, name: str) -> None:
    """The population's members now: read by rank 0, sent to the others."""
    if trainer.population.size < 1:
        return
    wanted = trainer.population.wanted(db, name) if trainer.dist.main else None
    trainer.population.apply(trainer.dist.broadcast_object(wanted), trainer.loop)


def _train(
    db: Any,
    db_path: str | Path,
    job_id: int,
    trainer: Trainer,
    config: TrainConfig,
    should_stop: Callable[[], bool],
) -> int:
    from arena.jobs import record_metrics
    from arena.store.jobs import rewind_job

    name = config.name
    assert name, "job_config names every job"
    register_checkpoints(db, trainer.job_dir, config)
    warm = bool(config.warm_start or config.warm_start_file)
    if config.population and trainer.resumed_from is None and not warm:
        # The starting model is the population's first member (a warm start's is checkpoint 0).
        register_checkpoint(db, name, 0, Path(config.base), config)
    if trainer.resumed_from is not None:
        log.info("resuming %s from %s (step %d)", name, trainer.resumed_from, trainer.step)
        rewind_job(db, job_id, trainer.step)  # steps recorded after the checkpoint run again
        metrics = complete_checkpoint(db, db_path, job_id, trainer, config, should_stop)
        record_metrics(db, job_id, trainer.step, metrics)
        if should_stop():  # e.g. during that evaluation: its resume must find it incomplete
            return trainer.step
    elif warm:
        # The warm-started model is checkpoint 0: a rated player, SPIRAL's supervised baseline
        # that the self-play checkpoints are measured against (and what a resume starts from).
        metrics = trainer.warm_start(db_path)
        record_metrics(db, job_id, 0, metrics, set_step=True)
        metrics = checkpoint(db, db_path, trainer, config, should_stop=should_stop)
        record_metrics(db, job_id, 0, metrics)
        if should_stop():
            return trainer.step
    elif config.evaluate_start:  # a fresh job: where the starting model stands, as step 0
        metrics = evaluate_start(db, db_path, job_id, trainer, config, should_stop)
        record_metrics(db, job_id, 0, metrics)
        if should_stop() and _start_unevaluated(db, job_id, config):
            # Stopped during step 0's evaluation games: end before training, so the resumed
            # run is a fresh one again and plays them on. A stop otherwise ends the first
            # step, with its checkpoint, as any stop does.
            return trainer.step
    trainer.dist.barrier()  # the other ranks wait for step 0 (and its population member)
    refresh_population(trainer, db, name)
    while trainer.step < config.steps:
        metrics = trainer.train_step()
        step = trainer.step
        log.info(
            "step %d loss %.4f entropy %.3f (%.2f s)",
            step,
            metrics["loss"],
            metrics["entropy"],
            metrics["step_time_s"],
        )
        # the step's own metrics first: a kill while checkpointing keeps them
        record_metrics(db, job_id, step, metrics, set_step=True)
        crash_point("after_step_metrics", step)
        stopping = trainer.dist.any(should_stop())  # the other ranks stop with this one
        if step % config.checkpoint_every == 0 or step == config.steps or stopping:
            trainer.gather_for_checkpoint()
            metrics = checkpoint(
                db, db_path, trainer, config, evaluate=not stopping, should_stop=should_stop
            )
            record_metrics(db, job_id, step, metrics)
            stopping = stopping or should_stop()  # e.g. asked during the evaluation
            trainer.dist.any(stopping)  # the others wait here for the checkpoint, and learn
            refresh_population(trainer, db, name)
        if stopping:
            break
    return trainer.step


def _follow(trainer: Trainer, config: TrainConfig, should_stop: Callable[[], bool]) -> int:
    """A rank other than 0: the same steps on its share of the games, writing nothing; it
    stops when rank 0 does, and gets the population from rank 0 after it registered it."""
    name = config.name
    assert name, "job_config names every job"
    trainer.dist.barrier()  # rank 0 has registered and evaluated what precedes step 1
    refresh_population(trainer, None, name)
    while trainer.step < config.steps:
        trainer.train_step()
        step = trainer.step
        log.info("rank %d step %d: %d games here", trainer.dist.rank, step, trainer.games_here)
        stopping = trainer.dist.any(should_stop())
        if step % config.checkpoint_every == 0 or step == config.steps or stopping:
            trainer.gather_for_checkpoint()  # rank 0 saves what every rank holds a part of
            stopping = trainer.dist.any(stopping)  # after rank 0's checkpoint
            refresh_population(trainer, None, name)
        if stopping:
            break
    return trainer.step
