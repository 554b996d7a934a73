"""The three backends on one tiny model: the same prompt ids, the same greedy replies, and the
same scores (within float tolerance) through transformers, llama.cpp and the OpenAI API."""

from __future__ import annotations

import asyncio

import pytest

import games
from arena.backends.base import Sampling
from arena.players.base import Turn
from arena.prompts import PromptOptions, build_messages

pytest.importorskip("torch")
pytest.importorskip("llama_cpp")


def prompts() -> list[list[dict[str, str]]]:
    """Real prompts: a few positions of several games, direct and reasoning formats."""
    import random

    out = []
    for game_id in ("tictactoe", "kuhn_poker", "connect_four", "liars_dice"):
        game = games.make(game_id)
        state = game.new_initial_state()
        rng = random.Random(1)
        while state.is_chance_node():
            state.apply(games.sample_chance(state, rng))
        seat = state.current_player()
        turn = Turn(game, state, seat, state.legal_actions(), rng, 0)
        for reasoning in ("direct", "think"):
            out.append(build_messages(turn, PromptOptions(reasoning=reasoning)))
    return out


@pytest.fixture(scope="module")
def backends(tiny_model_dir, tiny_gguf, llama_server):
    from arena.backends.llamacpp import LlamaCppBackend
    from arena.backends.openai_backend import OpenAIBackend
    from arena.backends.transformers_backend import TransformersBackend

    made = {
        "transformers": TransformersBackend(str(tiny_model_dir), device="cpu", threads=1),
        "llamacpp": LlamaCppBackend(str(tiny_gguf)),
        "openai": OpenAIBackend(
            llama_server.base_url,
            llama_server.model,
            api_key_env=None,
            llama_sampling=True,
            gguf_path=str(tiny_gguf),
        ),
    }
    yield made


def _run(coro):
    return asyncio.run(coro)


def test_greedy_replies_are_identical_through_all_three_backends(backends):
    sampling = Sampling(temperature=0.0, max_tokens=12)

    async def replies(backend):
        try:
            return [(await backend.generate(m, sampling)).text for m in prompts()]
        finally:
            await backend.aclose()

    texts = {name: _run(replies(b)) for name, b in backends.items()}
    assert texts["transformers"] == texts["llamacpp"] == texts["openai"]
    assert any(t.strip() for t in texts["llamacpp"])  # not trivially empty


def test_prompt_token_ids_agree(tiny_model_dir, tiny_gguf):
    from arena.backends.llamacpp import LlamaCppBackend
    from arena.backends.transformers_backend import TransformersBackend

    async def ids():
        hf = TransformersBackend(str(tiny_model_dir), device="cpu", threads=1)
        lc = LlamaCppBackend(str(tiny_gguf))
        try:
            return [(await hf.prompt_tokens(m), await lc.prompt_tokens(m)) for m in prompts()]
        finally:
            await hf.aclose()
            await lc.aclose()

    pairs = _run(ids())
    assert all(a == b and len(a) > 20 for a, b in pairs)


def test_scores_agree_across_backends(tiny_model_dir, tiny_gguf, llama_server):
    from arena.backends.llamacpp import LlamaCppBackend
    from arena.backends.openai_backend import OpenAIBackend
    from arena.backends.transformers_backend import TransformersBackend

    messages = prompts()[2]  # kuhn poker, direct
    candidates = ["check", "bet", "Final answer: bet"]

    async def scores():
        made = [
            TransformersBackend(str(tiny_model_dir), device="cpu", threads=1),
            LlamaCppBackend(str(tiny_gguf)),
            OpenAIBackend(
                llama_server.base_url,
                llama_server.model,
                api_key_env=None,
                gguf_path=str(tiny_gguf),
            ),
        ]
        try:
            return [await b.score(messages, candidates) for b in made]
        finally:
            for b in made:
                await b.aclose()

    hf, lc, api = _run(scores())
    # llama.cpp keeps an f16 KV cache by default: agreement to about 1e-2 nats, not 1e-6.
    assert hf == pytest.approx(lc, abs=2e-2)
    assert lc == pytest.approx(api, abs=2e-2)
    assert max(hf) > min(hf) + 0.1  # the scores discriminate
