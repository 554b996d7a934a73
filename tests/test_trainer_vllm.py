"""Generation mode's rollouts on a vLLM engine (`rollout_engine`, `trainer.vllm_rollout`).

Everywhere: which engine a job gets and the errors that say why not, the conversion of vLLM's
outputs into what the loss reads, the weights file the engine is given (it reproduces the
policy exactly), and the step's order (sample, update, then give the engine the new weights).
On a GPU with vLLM installed: a real engine samples a job's rollouts, and after every update
it samples from the updated weights (full fine-tune and LoRA); skipped elsewhere, with the
reason."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from arena.jobs import JobError  # noqa: E402
from arena.train_config import TrainConfig, parse_config  # noqa: E402
from trainer.generate import SampleRequest, sample_replies  # noqa: E402
from trainer.run import Trainer  # noqa: E402
from trainer.vllm_rollout import (  # noqa: E402
    resolve_rollout_engine,
    sample_from_output,
    sampling_params,
    vllm_lora_rank,
    write_weights,
)


def test_auto_takes_vllm_only_on_cuda_where_it_is_installed() -> None:
    assert resolve_rollout_engine("auto", "cpu", installed=True) == "torch"
    assert resolve_rollout_engine("auto", "cuda", installed=False) == "torch"
    assert resolve_rollout_engine("auto", "cuda:1", installed=True) == "vllm"
    assert resolve_rollout_engine("torch", "cuda", installed=True) == "torch"
    with pytest.raises(ValueError, match="needs a CUDA GPU .this job trains on cpu."):
        resolve_rollout_engine("vllm", "cpu", installed=True)
    with pytest.raises(ValueError, match=r"pip install 'arena-games\[vllm\]'"):
        resolve_rollout_engine("vllm", "cuda", installed=False)


def test_a_config_asking_vllm_where_it_cannot_run_is_refused(tiny_model_dir: Path) -> None:
    base = dict(base=str(tiny_model_dir), games=["kuhn_poker"])
    with pytest.raises(JobError, match="rollout_engine vllm samples replies: it needs policy"):
        parse_config({**base, "rollout_engine": "vllm"})
    with pytest.raises(JobError, match="it needs device cuda or auto"):
        parse_config({**base, "policy": "generate", "rollout_engine": "vllm", "device": "cpu"})
    with pytest.raises(JobError, match="vllm_gpu_memory must be less than 1"):
        parse_config({**base, "policy": "generate", "vllm_gpu_memory": 1.5})
    ok = parse_config({**base, "policy": "generate", "rollout_engine": "vllm"})
    assert ok.rollout_engine == "vllm" and ok.vllm_gpu_memory == 0.3


def test_a_job_asking_vllm_on_a_machine_without_it_fails_with_the_reason(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    if importlib.util.find_spec("vllm") is not None and torch.cuda.is_available():
        pytest.skip("vLLM and a GPU are here: the engine would start")
    config = parse_config(
        dict(base=str(tiny_model_dir), games=["kuhn_poker"], policy="generate",
             rollout_engine="vllm", device="auto")
    )  # fmt: skip
    with pytest.raises(ValueError, match="rollout_engine vllm needs"):
        Trainer(config, tmp_path)


def test_lora_ranks_round_up_to_those_vllm_serves() -> None:
    assert [vllm_lora_rank(r) for r in (1, 8, 9, 16, 33, 256)] == [8, 8, 16, 16, 64, 256]
    with pytest.raises(ValueError, match="up to 512"):
        vllm_lora_rank(600)


@dataclass
class _Completion:  # the fields of vLLM's CompletionOutput the sampler reads
    token_ids: list[int]
    logprobs: list[dict[int, Any]] | None
    finish_reason: str | None


@dataclass
class _Output:
    outputs: list[_Completion] = field(default_factory=list)


def test_vllm_outputs_become_the_ids_and_logprobs_the_loss_reads() -> None:
    eos = frozenset({2})
    top = {5: SimpleNamespace(logprob=-0.5), 9: SimpleNamespace(logprob=-1.0)}
    stopped = _Output([_Completion([5, 7, 2], [top, {7: SimpleNamespace(logprob=-2.0)},
                                               {2: SimpleNamespace(logprob=-0.1)}], "stop")])  # fmt: skip
    assert sample_from_output(stopped, eos) == ([5, 7, 2], [-0.5, -2.0, -0.1], "stop")
    cut = _Output([_Completion([9], [{9: -1.25}], "length")])  # a bare float is read too
    assert sample_from_output(cut, eos) == ([9], [-1.25], "length")
    with pytest.raises(RuntimeError, match="returned 0 log-probabilities for 2 tokens"):
        sample_from_output(_Output([_Completion([5, 7], None, "stop")]), eos)
    with pytest.raises(RuntimeError, match="ended a reply with 'abort'"):
        sample_from_output(_Output([_Completion([5], [{5: -1.0}], "abort")]), eos)


def test_each_request_asks_vllm_for_its_own_temperature_budget_seed_and_stops() -> None:
    fake_vllm = SimpleNamespace(SamplingParams=lambda **kw: kw)
    request = SampleRequest([1, 2, 3], 1.3, 24, 7, stop_strings=("</think>",))
    params = sampling_params(fake_vllm, request, frozenset({2, 0}))
    assert params["temperature"] == 1.3 and params["max_tokens"] == 24 and params["seed"] == 7
    assert params["stop"] == ["</think>"] and params["stop_token_ids"] == [0, 2]
    assert params["logprobs"] == 0 and params["detokenize"] is True
    plain = sampling_params(fake_vllm, SampleRequest([1], 1.0, 8, 0), frozenset({2}))
    assert plain["stop"] is None and plain["detokenize"] is False


def test_the_weights_file_reproduces_the_policy_exactly(tiny, tmp_path: Path) -> None:
    """What the engine is given after an update: every trained parameter once (tied weights
    under one name), loading into another copy of the model makes it the same policy."""
    from safetensors.torch import load_file

    model, _ = tiny
    trained = type(model)(model.config)
    trained.load_state_dict(model.state_dict())
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = write_weights(trained, tmp_path / "sync")
    tensors = load_file(str(path))
    assert sorted(tensors) == sorted(n for n, _ in trained.named_parameters())
    assert not (tmp_path / "sync" / "policy.safetensors.tmp").exists()
    fresh = type(model)(model.config)
    fresh.load_state_dict(model.state_dict())
    missing, unexpected = fresh.load_state_dict(tensors, strict=False)
    assert not unexpected and all("lm_head" in m for m in missing)  # tied to the embeddings
    ids = torch.tensor([[1, 5, 9, 4, 7]])
    with torch.no_grad():
        assert torch.equal(fresh(ids).logits, trained(ids).logits)
        assert not torch.equal(fresh(ids).logits, model(ids).logits)


class _RecordingEngine:
    """A stand-in engine for the step's order alone: samples with the trainer's own model (the
    torch sampler), and records every weights hand-over. The real engine: the GPU tests."""

    def __init__(self, model: Any, eos_ids: frozenset[int]) -> None:
        self.model, self.eos_ids = model, eos_ids
        self.requests: list[list[SampleRequest]] = []
        self.synced: list[tuple[int, Any]] = []

    def sample(self, requests):
        self.requests.append(list(requests))
        return sample_replies(self.model, requests, eos_ids=self.eos_ids)

    def sync(self, model, step):
        first = next(p for p in model.parameters() if p.requires_grad)
        self.synced.append((step, first.detach().clone()))

    def close(self):
        pass


def test_a_step_samples_on_the_engine_then_gives_it_the_updated_weights(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from trainer.generate_step import generate_step, make_generating_player

    config = TrainConfig(
        base=str(tiny_model_dir), games=["kuhn_poker"], steps=2, batch_games=4, lr=1e-2,
        seed=3, device="cpu", policy="generate", max_new_tokens=8, name="v",
    )  # fmt: skip
    trainer = Trainer(config, tmp_path)
    try:
        engine = _RecordingEngine(trainer.model, trainer.generator.backend.eos_ids)
        trainer.rollout_engine = engine
        player = make_generating_player(trainer)
        before = next(p for p in trainer.model.parameters() if p.requires_grad).detach().clone()
        metrics = generate_step(trainer, player)
        assert engine.requests and sum(map(len, engine.requests)) >= 4  # every reply
        # The replies the loss trained on are the engine's.
        assert metrics["rollout_tokens"] > 0 and "sync_time_s" in metrics
        assert [s for s, _ in engine.synced] == [1]
        assert not torch.equal(engine.synced[0][1], before)  # the weights after the update
        generate_step(trainer, player)
        assert [s for s, _ in engine.synced] == [1, 2]
    finally:
        trainer.close()


def _gpu_vllm_reason() -> str | None:
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (pip install 'arena-games[vllm]' on a GPU machine)"
    if not torch.cuda.is_available():
        return "no CUDA GPU here: vLLM rollouts run on GPUs"
    return None


GPU_REASON = _gpu_vllm_reason()


@pytest.mark.skipif(GPU_REASON is not None, reason=GPU_REASON or "")
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_vllm_rollouts_follow_the_policy_after_every_update(
    tiny_model_dir: Path, tmp_path: Path, lora: bool
) -> None:
    """A real engine samples the rollout; after each update its log-probabilities of a reply
    are the trained model's (bf16 tolerance), not the start's."""
    from trainer.generate import Generated
    from trainer.generate_step import generate_step
    from trainer.token_loss import reply_logprobs

    config = TrainConfig(
        base=str(tiny_model_dir), games=["kuhn_poker"], steps=2, batch_games=8, lr=5e-2,
        seed=3, device="cuda", policy="generate", max_new_tokens=12, name="v", lora=lora,
        rollout_engine="vllm", vllm_gpu_memory=0.2, dtype="float32",
    )  # fmt: skip
    trainer = Trainer(config, tmp_path)
    try:
        assert trainer.rollout_engine is not None
        player = trainer.generator
        for step in (1, 2):
            metrics = generate_step(trainer, player)
            assert metrics["rollout_tokens"] > 0
            assert trainer.rollout_engine.synced_step == step
        request = SampleRequest(list(range(3, 20)), 1.0, 12, 11)
        ((ids, logps, _),) = trainer.rollout_engine.sample([request])
        reply = Generated("kuhn_poker", 0, 0, tuple(request.prompt), tuple(ids), tuple(logps),
                          "", "", "stop")  # fmt: skip
        with torch.no_grad():
            (mine,), _ = reply_logprobs(trainer.model, [reply], temperature=1.0, device="cuda")
        assert mine.float().cpu().tolist() == pytest.approx(logps, abs=2e-2)
    finally:
        trainer.close()
