"""What keeps a generation-mode step small: token micro-batches, activation checkpointing, and
LoRA checkpoints that hold the adapters alone. On the tiny real Llama (`tiny_model_dir`), CPU."""

from __future__ import annotations

import asyncio

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from arena.players.base import Turn  # noqa: E402
from arena.prompts import PromptOptions, build_messages  # noqa: E402
from tests.test_trainer_generate import _turn  # noqa: E402
from trainer.generate import Generated, PolicyBackend, sample_reply  # noqa: E402
from trainer.token_loss import (  # noqa: E402
    enable_checkpointing,
    micro_batches,
    token_policy_loss,
)

TEMPERATURE = 1.3


def _model(folder):
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return model.eval()


def _batch(model, tok, n: int = 6) -> list[tuple[Generated, float]]:
    """`n` sampled replies of different lengths, with advantages of both signs."""
    backend = PolicyBackend(model, tok)
    turn: Turn = _turn()
    prompt = backend.prompt_ids(build_messages(turn, PromptOptions(reasoning="think")))
    out = []
    for k in range(n):
        ids, logps, finish = sample_reply(
            model,
            prompt[: len(prompt) - k],  # prompts of different lengths too
            temperature=TEMPERATURE,
            max_new_tokens=3 + 3 * k,
            seed=k,
            eos_ids=backend.eos_ids,
        )
        reply = Generated(
            "kuhn_poker",
            k,
            0,
            tuple(prompt[: len(prompt) - k]),
            tuple(ids),
            tuple(logps),
            "",
            "",
            finish,
        )
        out.append((reply, (-1.0) ** k * (0.5 + k / 4)))
    return out


def _grads(model, batch, **options) -> tuple[dict[str, torch.Tensor], float]:
    model.zero_grad(set_to_none=True)
    stats = token_policy_loss(model, batch, temperature=TEMPERATURE, **options)
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return grads, stats.loss


def _assert_same(a: dict, b: dict, atol: float = 1e-6) -> None:
    assert a.keys() == b.keys() and a
    for name in a:
        assert torch.allclose(a[name], b[name], atol=atol, rtol=0), name


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    torch.set_num_threads(1)
    return transformers.AutoTokenizer.from_pretrained(tiny_model_dir)


def test_micro_batches_are_cut_by_padded_tokens():
    def reply(prompt: int, new: int) -> tuple[Generated, float]:
        return Generated("g", 0, 0, (1,) * prompt, (2,) * new, (0.0,) * new, "", "", None), 1.0

    batch = [reply(10, 90), reply(10, 5), reply(10, 6), reply(300, 1), reply(10, 7)]
    parts = micro_batches(batch, micro_tokens=64)
    assert sorted(id(x) for p in parts for x in p) == sorted(id(x) for x in batch)
    for part in parts:
        width = max(len(r.prompt_ids) + len(r.reply_ids) - 1 for r, _ in part)
        assert len(part) == 1 or width * len(part) <= 64  # a long reply goes alone
    assert [len(p) for p in parts] == [3, 1, 1]  # the three short ones share one
    with pytest.raises(ValueError):
        micro_batches(batch, micro_tokens=0)


@pytest.mark.parametrize("algorithm", ["reinforce", "ppo"])
def test_micro_batching_by_tokens_gives_the_one_batch_gradient(tiny_model_dir, tok, algorithm):
    model = _model(tiny_model_dir)
    batch = _batch(model, tok)
    assert len(micro_batches(batch, 200)) > 2
    whole, loss_whole = _grads(model, batch, algorithm=algorithm, micro_tokens=10**9)
    parts, loss_parts = _grads(model, batch, algorithm=algorithm, micro_tokens=200)
    _assert_same(whole, parts)
    assert loss_parts == pytest.approx(loss_whole, abs=1e-6)


@pytest.mark.parametrize("lora", [False, True])
def test_activation_checkpointing_gives_the_same_gradient(tiny_model_dir, tok, lora):
    model = _model(tiny_model_dir)
    batch = _batch(model, tok, n=4)
    if lora:
        pytest.importorskip("peft")
        from trainer.lora import apply_lora

        model = apply_lora(model, rank=4)
        with torch.no_grad():  # lora_B starts at zero: give the adapters a say
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0.0, 0.05)
    plain, _ = _grads(model, batch)
    assert enable_checkpointing(model)
    layer = next(m for m in model.modules() if type(m).__name__.endswith("DecoderLayer"))
    calls = []
    # The layer's forward is what is checkpointed: its children run again in the backward.
    hook = layer.mlp.register_forward_pre_hook(lambda *_: calls.append(1))
    checkpointed, _ = _grads(model, batch, checkpoint=True, micro_tokens=10**9)
    hook.remove()
    assert len(calls) == 2  # the layer ran again in the backward pass: it was checkpointed
    _assert_same(plain, checkpointed)
    assert not model.training and not layer.training  # eval mode (no dropout) kept


def test_a_lora_checkpoint_holds_the_adapter_and_plays_as_the_merged_model(
    tiny_model_dir, tok, tmp_path
):
    pytest.importorskip("peft")
    from arena.backends.transformers_backend import TransformersBackend
    from trainer.checkpoint import adapter_folder, merge_checkpoint, save_checkpoint
    from trainer.lora import apply_lora, load_adapter, save_merged

    model = apply_lora(_model(tiny_model_dir), rank=4)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.2)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    folder = save_checkpoint(tmp_path / "job", 3, model, tok, optimizer, {"kuhn_poker/0": 0.5})
    assert adapter_folder(folder) == folder
    assert not (folder / "model.safetensors").exists()
    adapter_bytes = (folder / "adapter_model.safetensors").stat().st_size
    base_bytes = (tiny_model_dir / "model.safetensors").stat().st_size
    weights = sum(p.stat().st_size for p in folder.iterdir() if p.suffix == ".safetensors")
    assert weights == adapter_bytes < base_bytes / 4

    # It resumes: the adapters load onto the base (the older `adapter/` path still works).
    resumed = load_adapter(_model(tiny_model_dir), folder / "adapter")
    for (n, p), (_, q) in zip(model.named_parameters(), resumed.named_parameters(), strict=True):
        assert torch.equal(p, q), n

    # It plays: the transformers backend loads base + adapters, scoring like the merged model.
    merged = save_merged(model, tok, tmp_path / "merged")
    exported = merge_checkpoint(folder, tmp_path / "exported")
    assert (exported / "model.safetensors").is_file()
    messages = build_messages(_turn(), PromptOptions(reasoning="direct"))
    choices = ["call", "fold", "check", "bet"]

    async def scores(path) -> list[float]:
        backend = TransformersBackend(path, device="cpu", threads=1)
        try:
            return await backend.score(messages, choices)
        finally:
            await backend.aclose()

    from_checkpoint = asyncio.run(scores(folder))
    assert from_checkpoint == pytest.approx(asyncio.run(scores(merged)), abs=1e-4)
    assert from_checkpoint == pytest.approx(asyncio.run(scores(exported)), abs=1e-4)


def test_a_generate_step_reports_its_time_split_and_lora_checkpoints_are_small(
    tiny_model_dir, tmp_path
):
    pytest.importorskip("peft")
    from arena.train_config import TrainConfig
    from trainer.run import Trainer

    config = TrainConfig(
        games=["kuhn_poker"],
        base=str(tiny_model_dir),
        batch_games=2,
        seed=3,
        device="cpu",
        name="km",
        policy="generate",
        max_new_tokens=8,
        lora=True,
        lora_rank=4,
    )
    trainer = Trainer(config, tmp_path)
    try:
        metrics = trainer.train_step()
        folder = trainer.save()
    finally:
        trainer.close()
    parts = [metrics[k] for k in ("rollout_time_s", "score_time_s", "update_time_s")]
    assert all(t > 0 for t in parts) and sum(parts) <= metrics["step_time_s"]
    # The step's peak memory, as the kernel counts it (this process holds torch and a model).
    import resource

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert 100 < metrics["peak_rss_mb"] <= peak_kb / 1024
    assert (folder / "adapter_model.safetensors").is_file()
    assert not (folder / "model.safetensors").exists()
