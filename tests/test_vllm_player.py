"""The `vllm` player kind: a local vLLM engine on GPU machines. Its spec, options and form work
everywhere; playing needs vLLM and a GPU (those tests skip here, with the reason)."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner

import games
from arena.cli import cli
from arena.match import play_match
from arena.players.factory import BackendPool, make_player
from arena.specs import SpecError, parse_spec


def _has_gpu_vllm() -> str | None:
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (pip install 'arena-games[vllm]' on a GPU machine)"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU here: the vllm kind runs on GPUs"
    return None


def test_a_vllm_spec_defaults_to_reasoning_then_a_constrained_move(tmp_path: Path) -> None:
    spec = parse_spec({"name": "v", "kind": "vllm", "model": str(tmp_path)})
    assert spec.decode == "constrained" and spec.prompt.reasoning == "think-then-constrained"
    assert spec.model == str(tmp_path.resolve()) and spec.tensor_parallel_size == 1
    with pytest.raises(SpecError, match="gpu_memory_utilization must be at most 1"):
        parse_spec({"name": "v", "kind": "vllm", "model": "org/m", "gpu_memory_utilization": 2})
    with pytest.raises(SpecError, match="model folder './nowhere' does not exist"):
        parse_spec({"name": "v", "kind": "vllm", "model": "./nowhere"})


def test_players_add_takes_the_vllm_options(tmp_path: Path) -> None:
    db = str(tmp_path / "a.db")
    out = CliRunner().invoke(
        cli,
        ["--db", db, "players", "add", "big", "--kind", "vllm", "--model", "org/model-7b",
         "--tensor-parallel-size", "2", "--gpu-memory-utilization", "0.8"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    shown = CliRunner().invoke(cli, ["--db", db, "players", "show", "big", "--json"])
    assert '"tensor_parallel_size": 2' in shown.output and '"kind": "vllm"' in shown.output
    bad = CliRunner().invoke(
        cli, ["--db", db, "players", "add", "b2", "--kind", "vllm", "--model", "m", "--n-ctx", "9"]
    )
    assert bad.exit_code == 2 and "--n-ctx does not apply to --kind vllm" in bad.output


@pytest.mark.skipif(_has_gpu_vllm() is None, reason="vLLM and a GPU are here: the GPU test runs")
def test_without_vllm_a_match_ends_in_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    spec = parse_spec({"name": "v", "kind": "vllm", "model": str(tmp_path)})

    async def main():
        pool = BackendPool()
        player = make_player(spec, pool)
        try:
            return await play_match(games.make("tictactoe"), [player, player], 1)
        finally:
            await pool.aclose()

    result = asyncio.run(main())
    assert result.status == "error"
    assert "vLLM" in (result.error or "") and "openai kind" in (result.error or "")


GPU_REASON = _has_gpu_vllm()


@pytest.mark.skipif(GPU_REASON is not None, reason=GPU_REASON or "")
def test_a_vllm_player_plays_legal_moves_and_scores_like_transformers(tiny_model_dir) -> None:
    from arena.backends.transformers_backend import TransformersBackend
    from arena.backends.vllm_backend import VLLMBackend

    spec = parse_spec(
        {"name": "v", "kind": "vllm", "model": str(tiny_model_dir), "gpu_memory_utilization": 0.3}
    )

    async def main():
        pool = BackendPool()
        player = make_player(spec, pool)
        try:
            result = await play_match(games.make("tictactoe"), [player, player], 3)
            messages = [{"role": "user", "content": "Your move."}]
            vllm_scores = await VLLMBackend(str(tiny_model_dir), gpu_memory_utilization=0.3).score(
                messages, ["a1", "b2", "c3"]
            )
            hf = TransformersBackend(str(tiny_model_dir), device="cuda", dtype="float32")
            hf_scores = await hf.score(messages, ["a1", "b2", "c3"])
            await hf.aclose()
            return result, vllm_scores, hf_scores
        finally:
            await pool.aclose()

    result, vllm_scores, hf_scores = asyncio.run(main())
    assert result.status == "finished" and sum(result.invalid_moves) == 0
    assert vllm_scores == pytest.approx(hf_scores, abs=1e-2)
