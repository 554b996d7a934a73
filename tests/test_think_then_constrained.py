"""The local models' default mode on both local backends (tiny real models): the model reasons,
then the answer is decoded (or scored) among the legal moves in the same assistant turn."""

from __future__ import annotations

import asyncio

import pytest

import games
from arena.backends.base import split_continuation
from arena.match import play_match
from arena.players import BotPlayer
from arena.players.llm import LLMPlayer
from arena.prompts import PromptOptions

TTC = PromptOptions(reasoning="think-then-constrained", reasoning_tokens=4, include_rules=False)


def _backend(kind: str, tiny_gguf, tiny_model_dir):
    if kind == "llamacpp":
        from arena.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(tiny_gguf)
    from arena.backends.transformers_backend import TransformersBackend

    return TransformersBackend(str(tiny_model_dir), device="cpu", threads=1)


@pytest.mark.parametrize("kind", ["llamacpp", "transformers"])
@pytest.mark.parametrize("decode", ["constrained", "score"])
def test_reasoning_then_a_legal_answer_on_each_local_backend(
    kind: str, decode: str, tiny_gguf, tiny_model_dir
) -> None:
    backend = _backend(kind, tiny_gguf, tiny_model_dir)
    assert backend.can_continue
    model = LLMPlayer("m", backend, prompt=TTC, decode=decode)

    async def play():
        try:
            return await play_match(games.make("tictactoe"), [model, BotPlayer("random")], 4)
        finally:
            await backend.aclose()

    result = asyncio.run(play())
    assert result.status == "finished", result.error
    mine = [m for m in result.moves if m.seat == 0]
    assert mine and all(len(m.attempts) == 1 and m.attempts[0].legal for m in mine)
    for m in mine:
        a = m.attempts[0]
        assert a.raw == f"Final answer: {m.action}" and a.reasoning is not None
        assert a.messages[-1]["role"] == "user"  # the stored prompt is the question asked
        if decode == "score":
            assert a.policy and abs(sum(a.policy.values()) - 1) < 1e-6


def test_a_trailing_assistant_message_is_continued_not_closed(tiny_gguf) -> None:
    from arena.backends.llamacpp import LlamaCppBackend

    messages = [{"role": "user", "content": "Pick a square."}]
    head, written = split_continuation([*messages, {"role": "assistant", "content": "I pick"}])
    assert head == messages and written == "I pick"

    async def ids():
        backend = LlamaCppBackend(tiny_gguf)
        try:
            opened = await backend.prompt_tokens(messages)
            continued = await backend.prompt_tokens(
                [*messages, {"role": "assistant", "content": "I pick"}]
            )
            return opened, continued
        finally:
            await backend.aclose()

    opened, continued = asyncio.run(ids())
    assert continued[: len(opened)] == opened and len(continued) > len(opened)
