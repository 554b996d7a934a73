"""Whole matches with real models: llama.cpp in process against a real OpenAI-compatible server
(`python -m llama_cpp.server`) on 127.0.0.1, and the faults a real deployment meets."""

from __future__ import annotations

import asyncio

import pytest

import games
from arena.backends.base import Sampling
from arena.match import MatchRules, MovePlayed, play_match
from arena.players import BotPlayer
from arena.players.llm import LLMPlayer
from arena.prompts import PromptOptions

pytest.importorskip("llama_cpp")
pytest.importorskip("openai")

DIRECT = PromptOptions(reasoning="direct", include_rules=False)
GREEDY = Sampling(temperature=0.0, max_tokens=8)
KEEP_GOING = MatchRules(retries=1, on_exhausted="random")


def openai_player(name, base_url, model, **kw):
    from arena.backends.openai_backend import OpenAIBackend

    backend = OpenAIBackend(base_url, model, api_key_env=None, llama_sampling=True, **kw)
    return LLMPlayer(name, backend, prompt=DIRECT, sampling=GREEDY)


def against_random_bot(model, *, seed=0, rules=KEEP_GOING, on_event=None):
    """Play `model` (seat 0) against the random bot at tictactoe; close its backend after."""

    async def scenario():
        try:
            return await play_match(
                games.make("tictactoe"),
                [model, BotPlayer("bot", "random")],
                seed=seed,
                rules=rules,
                on_event=on_event,
            )
        finally:
            await model.backend.aclose()

    return asyncio.run(scenario())


def test_llamacpp_player_against_openai_player_full_match(tiny_gguf, llama_server):
    from arena.backends.llamacpp import LlamaCppBackend

    async def scenario():
        local = LLMPlayer("local", LlamaCppBackend(str(tiny_gguf)), prompt=DIRECT, sampling=GREEDY)
        remote = openai_player("remote", llama_server.base_url, llama_server.model)
        try:
            return await play_match(
                games.make("tictactoe"), [local, remote], seed=3, rules=KEEP_GOING
            )
        finally:
            await local.backend.aclose()
            await remote.backend.aclose()

    result = asyncio.run(scenario())
    assert result.status == "finished", result.error
    assert games.replay(games.make("tictactoe"), result.history).returns() == result.returns
    for seat in (0, 1):
        attempts = [a for m in result.moves if m.seat == seat for a in m.attempts]
        assert attempts
        for a in attempts:
            assert a.messages and a.messages[-1]["role"] == "user"
            assert a.latency_s > 0
            assert a.prompt_tokens and a.prompt_tokens > 10
            assert a.completion_tokens is not None


def test_server_killed_mid_match_is_an_error_and_no_move(tiny_gguf):
    from servers import LlamaServer

    with LlamaServer(tiny_gguf) as server:
        model = openai_player("remote", server.base_url, server.model, max_retries=1, timeout_s=5)

        def on_event(event):
            # Kill the server as soon as the bot has answered the model's first move.
            if isinstance(event, MovePlayed) and event.record.seat == 1:
                server.kill()

        result = against_random_bot(model, on_event=on_event)
    assert result.status == "error"
    assert result.returns is None and result.forfeit_seat is None
    assert "remote" in result.error
    # The model's first move and the bot's answer; the failed request left no move behind.
    assert [m.seat for m in result.moves] == [0, 1]
    assert all(m.action != "(forfeit)" and not m.forced for m in result.moves)


def test_429_then_200_inside_a_match_is_retried_not_a_move(fault_proxy, llama_server):
    from servers import Fault

    fault_proxy.push(Fault.reply(429, retry_after=0.05), Fault.reply(503))
    model = openai_player("remote", fault_proxy.base_url, llama_server.model, max_retries=3)
    result = against_random_bot(model, seed=1)
    assert result.status == "finished"
    first = result.moves[0].attempts[0]
    assert first.prompt_tokens  # a real completion, after two refused requests
    assert fault_proxy.count("/chat/completions") >= 3


@pytest.mark.parametrize(
    "reply, legal",
    [
        ("", False),
        ("x" * 60_000, False),
        ("\x1b[2J\x1b]0;owned\x07[bold red]b2[/bold red] <script>alert(1)</script>", True),
        ("[link=file:///etc/passwd]a1[/link] {__import__('os')}", True),
    ],
)
def test_hostile_replies_from_a_server_are_recorded_verbatim(
    fault_proxy, llama_server, reply, legal
):
    from servers import Fault

    fault_proxy.push(Fault.completion(reply))
    model = openai_player("remote", fault_proxy.base_url, llama_server.model)
    result = against_random_bot(model, rules=MatchRules(retries=0, on_exhausted="random"))
    assert result.status == "finished"
    first = result.moves[0].attempts[0]
    assert first.raw == reply
    assert first.legal is legal
    if not legal:
        assert result.moves[0].forced and first.error


def test_a_server_that_never_answers_ends_the_match_with_an_error(fault_proxy, llama_server):
    from servers import Fault

    fault_proxy.default = Fault.hang()
    model = openai_player(
        "remote", fault_proxy.base_url, llama_server.model, timeout_s=0.3, max_retries=1
    )
    result = against_random_bot(model)
    assert result.status == "error" and result.moves == []
    assert "tim" in result.error.lower()  # "timed out" / "timeout"
