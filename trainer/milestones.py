"""What happens at a checkpoint: registering it as a rated player (once, with its parent),
its exact exploitability where there is one, its evaluation games against the anchors, and
the same for the starting model at step 0. `trainer.run` calls these between steps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.checkpoint import (
    checkpoint_dir,
    list_checkpoints,
)

if TYPE_CHECKING:
    from arena.train_config import TrainConfig
    from trainer.run import Trainer

EXACT_GAMES = ("kuhn_poker", "leduc_poker")  # games whose exploitability is computed exactly

log = logging.getLogger("trainer")

# Games small enough for an exact exploitability at every checkpoint.


def register_checkpoint(db: Any, name: str, step: int, folder: Path, config: TrainConfig) -> str:
    """Register the checkpoint as a player `<name>@<step>` (scored play at the config's
    player temperature; in generation mode, replies as the trainer samples them: `think` free
    text, or `think-then-constrained` reasoning then a scored move, within `max_new_tokens`),
    parented to the job's checkpoint of the highest earlier step.
    Idempotent: a registered checkpoint is left as it is."""
    from arena.specs import PromptSpec, SamplingSpec, TransformersSpec, spec_to_dict
    from arena.store.jobs import register_checkpoint_player

    player = f"{name}@{step}"
    temperature = (
        config.temperature if config.player_temperature is None else config.player_temperature
    )
    if config.policy == "generate":  # as `trainer.generate` plays
        scored = config.reasoning == "think-then-constrained"
        spec = TransformersSpec(
            name=player,
            model=str(folder),
            decode="score" if scored else "free",
            prompt=PromptSpec(
                reasoning=config.reasoning,
                reasoning_tokens=config.max_new_tokens,
                include_rules=config.include_rules,
            ),
            sampling=SamplingSpec(temperature=temperature, max_tokens=config.max_new_tokens),
            device="auto",
        )
    else:
        spec = TransformersSpec(
            name=player,
            model=str(folder),
            decode="score",
            prompt=PromptSpec(reasoning="direct", include_rules=config.include_rules),
            sampling=SamplingSpec(temperature=temperature),
            device="auto",
        )
    register_checkpoint_player(
        db, job_name=name, step=step, kind=spec.kind, spec=spec_to_dict(spec)
    )
    return player


def register_checkpoints(db: Any, job_dir: Path, config: TrainConfig) -> list[str]:
    """Register every complete checkpoint in the job's folder that is not a player yet (one
    renamed into place by a job killed before it could register it); returns those players."""
    from arena.store.jobs import checkpoint_steps

    registered = set(checkpoint_steps(db, config.name))
    added = []
    for step, folder in list_checkpoints(job_dir):
        if step not in registered:
            added.append(register_checkpoint(db, config.name, step, folder, config))
            log.info("registered checkpoint %s, left unregistered by an earlier run", added[-1])
    return added


def complete_checkpoint(
    db: Any,
    db_path: str | Path,
    job_id: int,
    trainer: Trainer,
    config: TrainConfig,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, float]:
    """Finish what an earlier run left undone of the checkpoint the trainer resumed from (a
    kill right after it was saved, during its evaluation, or a stop, which skips evaluation):
    its exploitability if not recorded, and its evaluation games if `eval_games` and none are
    recorded (an evaluation cut short is resumed, not started again). Returns the metrics
    measured now."""
    from arena.store.jobs import job_metric_rows

    step = trainer.step
    have = {name for name, _, _ in job_metric_rows(db, job_id, step=step)}
    exact = [g for g in config.games if g in EXACT_GAMES]
    need_exploitability = any(f"exploitability/{g}" not in have for g in exact)
    need_evaluation = config.eval_games > 0 and not any(n.startswith("rating/") for n in have)
    if not (need_exploitability or need_evaluation):
        return {}
    log.info("completing checkpoint %s@%d left incomplete by an earlier run", config.name, step)
    assert trainer.resumed_from is not None
    return checkpoint(
        db,
        db_path,
        trainer,
        config,
        save=False,
        exploit=need_exploitability,
        evaluate=need_evaluation,
        should_stop=should_stop,
    )


def checkpoint(
    db: Any,
    db_path: str | Path,
    trainer: Trainer,
    config: TrainConfig,
    *,
    evaluate: bool = True,
    save: bool = True,
    exploit: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, float]:
    """Save (unless `save` is False: the trainer's checkpoint is on disk already), register as
    a player, measure exploitability and (with `eval_games`, unless the job is stopping) play
    the evaluation games; returns the metrics it measured. An evaluation cut short by
    `should_stop` leaves its metrics out (the resumed job completes it)."""
    if save:
        folder = trainer.save()
    else:
        folder = checkpoint_dir(trainer.job_dir, trainer.step)
    player = register_checkpoint(db, config.name, trainer.step, folder, config)
    out = _exploitability_metrics(trainer, player, folder) if exploit else {}
    if evaluate and config.eval_games > 0:
        out.update(_play_evaluation(db_path, db, trainer, config, player, should_stop))
    return out


def evaluate_start(
    db: Any,
    db_path: str | Path,
    job_id: int,
    trainer: Trainer,
    config: TrainConfig,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, float]:
    """Step 0 of a fresh job (no warm start): the starting model measured as a checkpoint is,
    so the curves show where it started. Its exploitability (kuhn_poker and leduc_poker, score
    mode); with `eval_games`, its evaluation games, played as the player `<name>@0` (the base
    folder itself: nothing is copied; the first checkpoint's parent, so an anchor of its
    evaluation). What step 0 has recorded already (a run killed after it) is not measured
    again; evaluation games cut short by a stop end the run before training (`_train`), and
    the next run, fresh again, plays them on. Returns the metrics measured now."""
    from arena.store.jobs import job_metric_rows

    assert trainer.step == 0 and trainer.resumed_from is None
    have = {name for name, _, _ in job_metric_rows(db, job_id, step=0)}
    exact = [g for g in config.games if g in EXACT_GAMES]
    out: dict[str, float] = {}
    player = f"{config.name}@0"
    if any(f"exploitability/{g}" not in have for g in exact):
        out.update(_exploitability_metrics(trainer, player))
    if _start_unevaluated(db, job_id, config):
        register_checkpoint(db, config.name, 0, Path(config.base), config)
        out.update(_play_evaluation(db_path, db, trainer, config, player, should_stop))
    return out


def _start_unevaluated(db: Any, job_id: int, config: TrainConfig) -> bool:
    """Whether step 0's evaluation games are due and not recorded (cut short)."""
    from arena.store.jobs import job_metric_rows

    have = {name for name, _, _ in job_metric_rows(db, job_id, step=0)}
    return config.eval_games > 0 and not any(n.startswith("rating/") for n in have)


def _exploitability_metrics(
    trainer: Trainer, player: str, folder: Path | None = None
) -> dict[str, float]:
    """The trainer's exploitability figures as metrics (`exploitability/<game>`, and with a
    checkpoint `folder` `exploitability_avg/<game>`), each logged."""
    out = {}
    for key, value in trainer.exploitability(folder).items():
        game_id, _, avg = key.partition(":")
        if avg:
            out[f"exploitability_avg/{game_id}"] = value
            log.info("%s exploitability of the checkpoints' average: %.4f", player, value)
        else:
            out[f"exploitability/{game_id}"] = value
            log.info("%s exploitability on %s: %.4f", player, game_id, value)
    return out


def _play_evaluation(
    db_path: str | Path,
    db: Any,
    trainer: Trainer,
    config: TrainConfig,
    player: str,
    should_stop: Callable[[], bool],
) -> dict[str, float]:
    """The registered `player`'s evaluation games against the anchors; its metrics, or none
    when `should_stop` cut it short (the resumed job completes it)."""
    from trainer.evaluate import EvaluationStopped, default_anchors, evaluate_checkpoint

    anchors = config.anchors or default_anchors(db, config.games, player)
    try:
        results = evaluate_checkpoint(
            db_path,
            player,
            games=config.games,
            anchors=anchors,
            games_per_anchor=config.eval_games,
            seed=config.seed + trainer.step,
            resume=True,
            should_stop=should_stop,
        )
    except EvaluationStopped:
        log.info("%s: evaluation stopped; the resumed job completes it", player)
        return {}
    log.info(
        "%s evaluated against %s: %s",
        player,
        ", ".join(anchors),
        ", ".join(f"{k} {v:.3f}" for k, v in sorted(results.items()) if k.endswith("score")),
    )
    return results
