"""A LoRA checkpoint (the adapters alone) plays through the transformers backend with its
adapters merged into the weights: the adapted model's scores, at the plain model's speed."""

from __future__ import annotations

import asyncio
import random

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")


def test_a_lora_checkpoint_scores_as_trained_with_its_adapters_merged(tiny_model_dir, tmp_path):
    import games
    from arena.backends.transformers_backend import TransformersBackend
    from arena.players.base import Turn
    from arena.prompts import PromptOptions, build_messages
    from arena.train_config import TrainConfig
    from trainer.run import Trainer

    config = TrainConfig(
        games=["kuhn_poker"],
        base=str(tiny_model_dir),
        steps=2,
        batch_games=4,
        lr=5e-2,  # large: the adapters must change the scores visibly
        seed=3,
        device="cpu",
        name="lm",
        lora=True,
        lora_rank=4,
    )
    trainer = Trainer(config, tmp_path / "job")
    try:
        trainer.train_step()
        folder = trainer.save()
        game = games.make("kuhn_poker")
        state = game.new_initial_state()
        while state.current_player() < 0:
            state.apply(state.chance_outcomes()[0][0])
        turn = Turn(game, state, state.current_player(), state.legal_actions(), random.Random(0), 0)
        messages = build_messages(turn, PromptOptions(reasoning="direct", include_rules=True))
        with torch.no_grad():
            (mine,) = trainer.policy.scores([trainer.policy.position(turn)])
    finally:
        trainer.close()
    backend = TransformersBackend(str(folder), device="cpu", threads=1)
    base = TransformersBackend(str(tiny_model_dir), device="cpu", threads=1)
    try:
        theirs = asyncio.run(backend.score(messages, list(turn.legal_actions)))
        plain = asyncio.run(base.score(messages, list(turn.legal_actions)))
        from peft.tuners.tuners_utils import BaseTunerLayer

        layers = [m for m in backend._engine.model.modules() if isinstance(m, BaseTunerLayer)]
        assert layers and all(layer.merged for layer in layers)
    finally:
        asyncio.run(backend.aclose())
        asyncio.run(base.aclose())
    assert theirs == pytest.approx(mine.tolist(), abs=1e-4)  # the adapted model's scores
    assert max(abs(a - b) for a, b in zip(theirs, plain)) > 1e-3  # not the base's
