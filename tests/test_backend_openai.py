"""The OpenAI-compatible backend against a real server: `python -m llama_cpp.server` on the tiny
GGUF (fixture `llama_server`), with a misbehaving proxy in front of it where a test needs
faults (fixture `fault_proxy`, tests/servers.py)."""

from __future__ import annotations

import asyncio
import math
import os
import time

import pytest
from servers import Fault, LlamaServer, free_port

from arena.backends.base import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    Sampling,
)
from arena.backends.openai_backend import NO_KEY, OpenAIBackend

pytest.importorskip("openai")
pytest.importorskip("llama_cpp")

os.environ.setdefault("HF_HUB_OFFLINE", "1")

GREEDY = Sampling(temperature=0.0, max_tokens=24)
CONVERSATIONS = [
    [{"role": "user", "content": "Your move. Legal moves: call, fold, bet."}],
    [
        {"role": "system", "content": "You play tic-tac-toe."},
        {"role": "user", "content": "Board:\n. X .\n. O .\n. . .\nYour move?"},
    ],
    [
        {"role": "user", "content": "Say hello."},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "Again, then pick: rock, paper or scissors."},
    ],
]
MESSAGES = CONVERSATIONS[0]
# Fast retries for the fault tests: the schedule is tested on its own below.
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


def run(coro):
    return asyncio.run(coro)


def backend(url: str, **kw) -> OpenAIBackend:
    kw.setdefault("api_key_env", None)
    kw.setdefault("model", "tiny")
    return OpenAIBackend(url, **kw)


async def generate_and_close(b: OpenAIBackend, messages=MESSAGES, sampling=GREEDY, **kw):
    try:
        return await b.generate(messages, sampling, **kw)
    finally:
        await b.aclose()


# ---------------------------------------------------------------------------------- answers


def test_generate_returns_text_usage_and_finish_reason(llama_server):
    gen = run(generate_and_close(backend(llama_server.base_url), sampling=Sampling(max_tokens=3)))
    assert isinstance(gen.text, str)
    assert gen.prompt_tokens and gen.prompt_tokens > 5
    assert 1 <= gen.completion_tokens <= 3
    assert gen.finish_reason == ("length" if gen.completion_tokens == 3 else "stop")
    assert gen.latency_s > 0
    assert gen.cost_usd is None  # no prices given
    assert gen.meta["attempts"] == 1


def test_greedy_completion_equals_llama_cpp_direct_greedy_completion(llama_server, tiny_gguf):
    from llama_cpp import Llama

    llama = Llama(
        model_path=str(tiny_gguf),
        n_ctx=512,
        n_threads=1,
        chat_format="chat_template.default",
        verbose=False,
    )
    b = backend(llama_server.base_url, grammar=True)

    async def all_replies():
        try:
            return [await b.generate(m, GREEDY) for m in CONVERSATIONS]
        finally:
            await b.aclose()

    served = run(all_replies())
    for messages, gen in zip(CONVERSATIONS, served):
        direct = llama.create_chat_completion(messages, temperature=0.0, max_tokens=24)
        assert gen.text == direct["choices"][0]["message"]["content"]
        assert gen.finish_reason == direct["choices"][0]["finish_reason"]
        assert gen.completion_tokens == direct["usage"]["completion_tokens"]
    llama.close()
    assert len({g.text for g in served}) > 1, "the tiny model says the same to everything"


def test_greedy_completion_equals_the_llamacpp_backend(llama_server, tiny_gguf):
    from arena.backends.llamacpp import LlamaCppBackend

    local = LlamaCppBackend(tiny_gguf, n_ctx=512, n_threads=1)
    remote = backend(llama_server.base_url, grammar=True)

    async def both():
        try:
            return [
                (await local.generate(m, GREEDY), await remote.generate(m, GREEDY))
                for m in CONVERSATIONS
            ]
        finally:
            await local.aclose()
            await remote.aclose()

    for mine, theirs in run(both()):
        if "\ufffd" in mine.text:
            # Bytes that are not UTF-8 (a barely trained model emits some): llama-cpp-python
            # drops them, and goes past max_tokens to finish a character; the local backend
            # shows U+FFFD and stops at max_tokens.
            assert theirs.text.startswith(mine.text.replace("\ufffd", ""))
        else:
            assert theirs.text == mine.text
            assert theirs.completion_tokens == mine.completion_tokens


def test_streamed_and_plain_greedy_replies_are_identical(llama_server):
    sampling = Sampling(temperature=0.0, max_tokens=48)
    neutral = backend(llama_server.base_url, grammar=True)
    pieces: list[str] = []

    async def go():
        try:
            plain = await neutral.generate(MESSAGES, sampling)
            streamed = await neutral.generate(MESSAGES, sampling, on_text=pieces.append)
            return plain, streamed
        finally:
            await neutral.aclose()

    plain, streamed = run(go())
    assert streamed.text == plain.text == "".join(pieces)
    assert streamed.finish_reason == plain.finish_reason


def test_sampling_with_a_seed_is_reproducible(llama_server):
    b = backend(llama_server.base_url, grammar=True)

    async def go():
        try:
            out = []
            for seed in (7, 7, 8, 9, 10):
                sampling = Sampling(temperature=1.0, max_tokens=16, seed=seed)
                out.append((await b.generate(MESSAGES, sampling)).text)
            return out
        finally:
            await b.aclose()

    texts = run(go())
    assert texts[0] == texts[1]
    assert len(set(texts)) > 1


def test_streaming_calls_on_text_with_pieces_of_the_reply(llama_server):
    pieces: list[str] = []
    gen = run(generate_and_close(backend(llama_server.base_url), on_text=pieces.append))
    assert len(pieces) >= 1
    assert "".join(pieces) == gen.text
    assert gen.finish_reason in ("stop", "length")


def test_cost_is_computed_from_usage(llama_server):
    b = backend(llama_server.base_url, price_input_per_mtok=3.0, price_output_per_mtok=15.0)
    gen = run(generate_and_close(b))
    expected = (gen.prompt_tokens * 3.0 + gen.completion_tokens * 15.0) / 1e6
    assert gen.cost_usd == pytest.approx(expected, rel=1e-12)
    assert gen.cost_usd > 0


def test_streamed_reply_without_usage_has_no_cost_rather_than_a_wrong_one(llama_server):
    # llama_cpp.server ignores stream_options and sends no usage in streams.
    b = backend(llama_server.base_url, price_input_per_mtok=3.0, price_output_per_mtok=15.0)
    gen = run(generate_and_close(b, on_text=lambda _: None))
    if gen.prompt_tokens is None:
        assert gen.cost_usd is None
    else:
        assert gen.cost_usd == pytest.approx(
            (gen.prompt_tokens * 3.0 + gen.completion_tokens * 15.0) / 1e6
        )


def test_server_refusing_stream_options_gets_a_stream_without_them(fault_proxy):
    fault_proxy.push(Fault.reply(400, "Unrecognized request argument: stream_options"))
    b = backend(fault_proxy.base_url)
    pieces: list[str] = []
    gen = run(generate_and_close(b, on_text=pieces.append))
    assert "".join(pieces) == gen.text
    first, second = (s.json() for s in fault_proxy.seen)
    assert "stream_options" in first and "stream_options" not in second
    assert second["stream"] is True


# ------------------------------------------------------------------------ constrained, score


def test_constrained_generation_returns_one_of_the_choices(llama_server):
    choices = ["call", "fold", "bet 2", 'say "hi"', "a\\b", "c3\nc4"]
    b = backend(llama_server.base_url, grammar=True)
    assert b.can_constrain

    async def go():
        try:
            return [
                await b.generate(m, Sampling(temperature=t, seed=s), choices=choices)
                for m in CONVERSATIONS
                for t, s in ((0.0, None), (1.0, 1), (1.0, 2))
            ]
        finally:
            await b.aclose()

    for gen in run(go()):
        assert gen.text in choices
        assert gen.finish_reason == "stop"


def test_constrained_generation_needs_grammar_support(llama_server):
    b = backend(llama_server.base_url)
    assert not b.can_constrain
    with pytest.raises(NotImplementedError):
        run(generate_and_close(b, choices=["a", "b"]))


def _reference_scores(gguf: str, messages, candidates) -> list[float]:
    """log p(candidate | prompt) computed in-process by llama.cpp, token by token."""
    import numpy as np
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llama = Llama(model_path=gguf, n_ctx=512, n_threads=1, logits_all=True, verbose=False)

    def text(token: int) -> str:
        return llama.detokenize([token], special=True).decode() if token >= 0 else ""

    fmt = Jinja2ChatFormatter(
        llama.metadata["tokenizer.chat_template"], text(llama.token_eos()), text(llama.token_bos())
    )
    prompt = llama.tokenize(fmt(messages=messages).prompt.encode(), add_bos=False, special=True)
    out = []
    for cand in candidates:
        ids = llama.tokenize(cand.encode(), add_bos=False, special=False)
        llama.reset()
        llama.eval(prompt + ids)
        logits = np.asarray(llama.scores[: len(prompt) + len(ids)], dtype=np.float64)
        top = logits.max(axis=1, keepdims=True)
        logp = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
        out.append(float(sum(logp[len(prompt) - 1 + k, t] for k, t in enumerate(ids))))
    llama.close()
    return out


def test_score_equals_llama_cpp_log_probabilities(llama_server, tiny_gguf):
    candidates = ["call", "fold", "bet", "call", "raise 2", "X"]
    b = backend(llama_server.base_url, gguf_path=tiny_gguf)
    assert b.can_score

    async def go():
        try:
            return [await b.score(m, candidates) for m in CONVERSATIONS[:2]]
        finally:
            await b.aclose()

    for messages, got in zip(CONVERSATIONS[:2], run(go())):
        want = _reference_scores(str(tiny_gguf), messages, candidates)
        assert got == pytest.approx(want, abs=2e-3)
        assert got[0] == got[3]  # the same candidate twice
        assert all(lp < 0 for lp in got)
        assert len(set(got)) >= 4


def test_score_needs_the_gguf_file(llama_server):
    b = backend(llama_server.base_url)
    assert not b.can_score
    with pytest.raises(NotImplementedError):
        run(b.score(MESSAGES, ["a"]))


# ----------------------------------------------------------------------------- failures


def test_429_then_200_is_retried_and_retry_after_is_respected(fault_proxy):
    fault_proxy.push(Fault.reply(429, retry_after=0.4), Fault.reply(429, retry_after=0.4))
    b = backend(fault_proxy.base_url, max_retries=3, **FAST)
    gen = run(generate_and_close(b))
    assert fault_proxy.count("/chat/completions") == 3
    assert gen.meta["attempts"] == 3
    at = [s.at for s in fault_proxy.seen]
    assert at[1] - at[0] >= 0.38 and at[2] - at[1] >= 0.38  # FAST backoff alone is < 0.05 s
    assert gen.text is not None


def test_retry_after_is_capped(fault_proxy):
    fault_proxy.push(Fault.reply(429, retry_after=3600))
    b = backend(fault_proxy.base_url, retry_after_max_s=0.2, **FAST)
    started = time.monotonic()
    run(generate_and_close(b))
    assert time.monotonic() - started < 5
    assert fault_proxy.count("/chat/completions") == 2


def test_429_every_time_ends_as_backend_unavailable(fault_proxy):
    fault_proxy.default = Fault.reply(429, "slow down", retry_after=0)
    b = backend(fault_proxy.base_url, max_retries=2, **FAST)
    with pytest.raises(BackendUnavailable, match=r"HTTP 429.*slow down.*3 attempts"):
        run(generate_and_close(b))
    assert fault_proxy.count() == 3


def test_500_is_retried_then_raises_backend_unavailable(fault_proxy):
    fault_proxy.default = Fault.reply(500, "model exploded")
    b = backend(fault_proxy.base_url, max_retries=2, **FAST)
    with pytest.raises(BackendUnavailable) as info:
        run(generate_and_close(b))
    message = str(info.value)
    assert "HTTP 500" in message and "model exploded" in message
    assert "3 attempts" in message and "/chat/completions" in message
    assert fault_proxy.count("/chat/completions") == 3


def test_500_then_200_succeeds(fault_proxy):
    fault_proxy.push(Fault.reply(503), Fault.reply(502))
    gen = run(generate_and_close(backend(fault_proxy.base_url, **FAST)))
    assert gen.meta["attempts"] == 3
    assert fault_proxy.count() == 3


def test_hanging_server_raises_backend_timeout_in_bounded_time(fault_proxy):
    fault_proxy.default = Fault.hang()
    timeout, retries = 0.5, 1
    b = backend(fault_proxy.base_url, timeout_s=timeout, max_retries=retries, **FAST)
    started = time.monotonic()
    with pytest.raises(BackendTimeout, match="timed out.*2 attempts"):
        run(generate_and_close(b))
    elapsed = time.monotonic() - started
    assert timeout * (retries + 1) * 0.9 <= elapsed <= timeout * (retries + 1) + 1.5
    assert fault_proxy.count() == retries + 1


def test_dropped_connection_is_retried(fault_proxy):
    fault_proxy.push(Fault.close())
    gen = run(generate_and_close(backend(fault_proxy.base_url, **FAST)))
    assert gen.meta["attempts"] == 2
    assert fault_proxy.count() == 2


def test_connection_refused_raises_backend_unavailable():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    b = backend(url, max_retries=2, timeout_s=2, **FAST)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match=r"connection failed.*3 attempts"):
        run(generate_and_close(b))
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_are_not_retried(fault_proxy, status):
    fault_proxy.default = Fault.reply(status, "you asked for something odd")
    b = backend(fault_proxy.base_url, max_retries=3, **FAST)
    with pytest.raises(BackendError) as info:
        run(generate_and_close(b))
    assert type(info.value) is BackendError
    assert f"HTTP {status}" in str(info.value) and "something odd" in str(info.value)
    assert "1 attempt" in str(info.value)
    assert fault_proxy.count() == 1


def test_real_server_400_for_a_prompt_over_the_context_is_not_retried(fault_proxy):
    too_long = [{"role": "user", "content": "x y " * 5000}]  # the server's context is 4096
    b = backend(fault_proxy.base_url, max_retries=3, **FAST)
    with pytest.raises(BackendError, match="HTTP 400.*context length.*1 attempt") as info:
        run(generate_and_close(b, messages=too_long))
    assert type(info.value) is BackendError
    assert fault_proxy.count() == 1


@pytest.mark.parametrize("body", ["<html>not json</html>", '{"object": "nonsense"}'])
def test_a_200_that_is_not_a_completion_is_a_backend_error(fault_proxy, body):
    fault_proxy.push(Fault("status", status=200, body=body))
    with pytest.raises(BackendError, match="bad reply.*1 attempt"):
        run(generate_and_close(backend(fault_proxy.base_url, **FAST)))
    assert fault_proxy.count() == 1


def test_killed_server_mid_request_raises_backend_unavailable(tiny_gguf):
    from servers import FaultProxy

    with LlamaServer(tiny_gguf) as server, FaultProxy(server.port) as proxy:
        b = backend(proxy.base_url, max_retries=1, timeout_s=5, **FAST)

        async def go():
            try:
                first = await b.generate(MESSAGES, GREEDY)
                proxy.default = Fault.delay(0.5)  # the request sits in the proxy...
                task = asyncio.create_task(b.generate(MESSAGES, GREEDY))
                await asyncio.sleep(0.2)
                server.kill()  # ...while the server dies
                with pytest.raises(BackendUnavailable, match="2 attempts"):
                    await task
                return first
            finally:
                await b.aclose()

        assert run(go()).text is not None
        assert not server.answers()


# ---------------------------------------------------------------------------------- keys


def test_api_key_never_appears_in_errors_repr_or_describe(fault_proxy, monkeypatch):
    secret = "sk-test-0123456789abcdefSECRET"
    monkeypatch.setenv("ARENA_TEST_OPENAI_KEY", secret)
    fault_proxy.push(Fault.echo_authorization(401))
    fault_proxy.default = Fault.echo_authorization(500)
    b = backend(fault_proxy.base_url, api_key_env="ARENA_TEST_OPENAI_KEY", max_retries=1, **FAST)
    errors = []
    for _ in range(2):  # 401 (not retried), then 500 twice (retried)
        with pytest.raises(BackendError) as info:
            run(generate_and_close(b))
        errors.append(info.value)
    assert fault_proxy.seen[0].headers["authorization"] == f"Bearer {secret}"  # it was sent
    assert isinstance(errors[1], BackendUnavailable)
    for exc in errors:
        for text in (str(exc), repr(exc), str(exc.args)):
            assert secret not in text
        assert "[api key]" in str(exc)  # the server echoed it; we blanked it
    for text in (repr(b), b.describe(), str(vars(b).get("api_key_env"))):
        assert secret not in text


def test_the_key_is_read_from_the_environment_at_each_request(fault_proxy, monkeypatch):
    b = backend(fault_proxy.base_url, api_key_env="ARENA_TEST_OPENAI_KEY")
    monkeypatch.setenv("ARENA_TEST_OPENAI_KEY", "sk-first")

    async def twice():
        try:
            await b.generate(MESSAGES, Sampling(max_tokens=1))
            os.environ["ARENA_TEST_OPENAI_KEY"] = "sk-second"
            await b.generate(MESSAGES, Sampling(max_tokens=1))
        finally:
            await b.aclose()

    run(twice())
    assert [s.headers["authorization"] for s in fault_proxy.seen] == [
        "Bearer sk-first",
        "Bearer sk-second",
    ]


def test_missing_key_variable_is_a_clear_error_for_a_remote_endpoint(monkeypatch):
    monkeypatch.delenv("ARENA_NO_SUCH_KEY", raising=False)
    b = OpenAIBackend("https://api.example.invalid/v1", "m", api_key_env="ARENA_NO_SUCH_KEY")
    with pytest.raises(BackendError, match="ARENA_NO_SUCH_KEY is not set"):
        run(generate_and_close(b))


def test_local_server_needs_no_key(fault_proxy, monkeypatch):
    monkeypatch.delenv("ARENA_NO_SUCH_KEY", raising=False)
    for env in ("ARENA_NO_SUCH_KEY", None):
        b = backend(fault_proxy.base_url, api_key_env=env, max_retries=0)
        run(generate_and_close(b, sampling=Sampling(max_tokens=1)))
    assert [s.headers["authorization"] for s in fault_proxy.seen] == [f"Bearer {NO_KEY}"] * 2


def test_describe_hides_credentials_in_the_url():
    b = OpenAIBackend("https://user:hunter2@api.example.com/v1?key=abc123", "m")
    for text in (b.describe(), repr(b)):
        assert "hunter2" not in text and "abc123" not in text
        assert "api.example.com/v1" in text


# --------------------------------------------------------------------------- concurrency


def test_concurrency_limit_holds_across_backends_of_one_endpoint(fault_proxy):
    fault_proxy.default = Fault.delay(0.15)  # long enough for requests to overlap
    a = backend(fault_proxy.base_url, concurrency=2)
    b = backend(fault_proxy.base_url, concurrency=2)

    async def eight():
        try:
            tasks = [(a, b)[i % 2].generate(MESSAGES, Sampling(max_tokens=2)) for i in range(8)]
            return await asyncio.gather(*tasks)
        finally:
            await a.aclose()
            await b.aclose()

    assert len(run(eight())) == 8
    assert fault_proxy.count("/chat/completions") == 8
    assert fault_proxy.max_in_flight == 2


def test_without_a_tight_limit_requests_do_overlap(fault_proxy):
    """The counter above can see overlap: with room for 8, more than 2 are in flight."""
    fault_proxy.default = Fault.delay(0.15)
    b = backend(fault_proxy.base_url, concurrency=8)

    async def eight():
        try:
            return await asyncio.gather(
                *(b.generate(MESSAGES, Sampling(max_tokens=2)) for _ in range(8))
            )
        finally:
            await b.aclose()

    run(eight())
    assert fault_proxy.max_in_flight > 2


# ---------------------------------------------------------------------------------- units


def test_backoff_is_full_jitter_under_a_growing_cap_and_honours_retry_after():
    b = OpenAIBackend(
        "http://127.0.0.1:9/v1",
        "m",
        backoff_base_s=0.5,
        backoff_max_s=4.0,
        retry_after_max_s=10.0,
    )
    for attempt, cap in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 4.0)):
        delays = [b._backoff(attempt, None) for _ in range(300)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8 and min(delays) < cap * 0.2  # spread over [0, cap]
    assert b._backoff(1, 2.5) == 2.5
    assert b._backoff(1, 60.0) == 10.0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        OpenAIBackend("ftp://x", "m")
    with pytest.raises(ValueError):
        OpenAIBackend("http://x/v1", "m", concurrency=0)
    with pytest.raises(ValueError):
        OpenAIBackend("http://x/v1", "m", timeout_s=0)
    assert math.isfinite(OpenAIBackend("http://x/v1", "m").timeout_s)
