"""The torch/transformers backend against a real tiny Hugging Face model.

References are plain transformers calls on the same model (`model.generate` for greedy replies,
a full-sequence forward pass for scores), so these tests pin the backend's own decode loop, its
batching and its sampling, not just its shape.
"""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from arena.backends.base import BackendError, BackendUnavailable, Sampling

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from arena.backends.transformers_backend import (  # noqa: E402
    TransformersBackend,
    pick_choice,
    resolve_device,
    resolve_dtype,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

GREEDY = Sampling(temperature=0.0, max_tokens=24)
# Hot enough that the trained tiny model's replies vary from seed to seed.
SAMPLED = Sampling(temperature=2.5, top_p=0.95, top_k=200, max_tokens=24)
CHOICES = ["a1", "b2", "fold", "call", "raise", "c3 fold"]


def run(coro):
    return asyncio.run(coro)


def chat(text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You play games. Answer briefly."},
        {"role": "user", "content": text},
    ]


PROMPTS = [
    chat(f"Game {i}. Your move? Legal moves: a1 b2 c3. " + "Think. " * (i % 5)) for i in range(16)
]


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    backend = TransformersBackend(tiny_model_dir, device="cpu", batch_window_ms=20.0)
    run(backend.load())
    yield backend
    run(backend.aclose())


@pytest.fixture(scope="module")
def reference(tiny_model_dir):
    """The same model and tokenizer loaded plainly, for the reference computations."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    return model, tokenizer


def prompt_ids(tokenizer, messages) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer.encode(text, add_special_tokens=False)


def solo(backend, messages, sampling, **kw):
    """One request with nothing else in flight (so it runs as a batch of one)."""
    gen = run(backend.generate(messages, sampling, **kw))
    assert gen.meta["batch_size"] == 1
    return gen


async def together(backend, requests):
    return await asyncio.gather(*(backend.generate(m, s) for m, s in requests))


# ------------------------------------------------------------------------- the batch worker


def echo_worker(**kwargs):
    """A BatchWorker whose 'model' answers each job with itself and records the batches."""
    from arena.backends.batching import BatchWorker

    batches: list[list] = []

    def run_batch(items, admit):
        batches.append([p.job for p in items])
        for p in items:
            p.resolve(p.job)

    return BatchWorker(run_batch, **kwargs), batches


def test_worker_gathers_concurrent_requests_into_batches_of_at_most_max_size():
    worker, batches = echo_worker(window_s=0.05, max_batch_size=4)

    async def ten():
        return await asyncio.gather(*(worker.submit(i) for i in range(10)))

    assert run(ten()) == list(range(10))
    assert [len(b) for b in batches] == [4, 4, 2]
    worker.close()
    assert not worker.alive


def test_worker_waits_the_window_for_stragglers_but_a_lone_caller_does_not_wait():
    import time

    worker, batches = echo_worker(window_s=0.3, max_batch_size=16)

    async def staggered():
        first = asyncio.ensure_future(worker.submit("early"))
        await asyncio.sleep(0.05)
        rest = [worker.submit(f"late {i}") for i in range(3)]
        return await asyncio.gather(first, *rest)

    run(staggered())
    assert batches == [["early", "late 0", "late 1", "late 2"]]

    async def alone():
        await worker.submit("expected company")  # the last batch had 4: this one waits
        start = time.perf_counter()
        for i in range(3):
            await worker.submit(i)
        return time.perf_counter() - start

    assert run(alone()) < 0.3  # the window is 0.3 s: a lone caller no longer waits it out
    worker.close()


def reference_greedy(model, tokenizer, ids) -> list[int]:
    """What plain `model.generate` (greedy) appends to the prompt `ids`."""
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            do_sample=False,
            max_new_tokens=GREEDY.max_tokens,
            pad_token_id=tokenizer.pad_token_id or 0,
        )
    return out[0, ids.shape[1] :].tolist()


# ------------------------------------------------------------------------------- generation


def test_greedy_reply_equals_model_generate_on_the_rendered_prompt(backend, reference):
    model, tokenizer = reference
    for messages in PROMPTS[:4]:
        gen = solo(backend, messages, GREEDY)
        ids = torch.tensor([prompt_ids(tokenizer, messages)])
        expected = reference_greedy(model, tokenizer, ids)
        assert gen.token_ids == expected
        assert gen.prompt_tokens == ids.shape[1]
        assert gen.completion_tokens == len(expected)


def test_a_prompt_sharing_a_cached_prefix_reuses_it_and_matches_model_generate(backend, reference):
    model, tokenizer = reference
    first = [{"role": "system", "content": "You play tictactoe well."}] + PROMPTS[0][-1:]
    solo(backend, first, GREEDY)
    later = first + [{"role": "assistant", "content": "b2"}, {"role": "user", "content": "Next?"}]
    ids = torch.tensor([prompt_ids(tokenizer, later)])
    store = backend._engine.prefixes
    shared = max(len(os.path.commonprefix([t, ids[0].tolist()])) for t, _ in store.entries)
    assert shared >= 8  # the earlier prompt is cached and starts the same way
    gen = solo(backend, later, GREEDY)
    assert gen.token_ids == reference_greedy(model, tokenizer, ids)


def test_sixteen_concurrent_requests_form_one_batch_equal_to_their_unbatched_replies(backend):
    requests = [(m, Sampling(max_tokens=4 + 2 * i)) for i, m in enumerate(PROMPTS)]
    alone = [solo(backend, m, s) for m, s in requests]
    batched = run(together(backend, requests))
    assert max(g.meta["batch_size"] for g in batched) == 16
    for i, (a, b) in enumerate(zip(alone, batched)):
        assert b.token_ids == a.token_ids, f"request {i} differs when batched"
        assert (b.text, b.finish_reason) == (a.text, a.finish_reason)
        assert b.completion_tokens <= requests[i][1].max_tokens


def test_a_seed_gives_the_same_sampled_reply_alone_and_inside_a_batch(backend):
    seeded = SAMPLED.with_seed(1234)
    alone = solo(backend, PROMPTS[5], seeded)
    others = [(m, SAMPLED.with_seed(i)) for i, m in enumerate(PROMPTS)]
    others[5] = (PROMPTS[5], seeded)
    batched = run(together(backend, others))
    assert batched[5].meta["batch_size"] > 1
    assert batched[5].token_ids == alone.token_ids
    assert batched[5].meta["seed"] == 1234
    # ... and the seed matters: other seeds on the same prompt do not all agree with it.
    replies = {tuple(solo(backend, PROMPTS[5], SAMPLED.with_seed(s)).token_ids) for s in range(6)}
    assert len(replies) == 6


def test_finish_reason_is_length_when_max_tokens_is_hit(backend):
    full = solo(backend, PROMPTS[0], Sampling(max_tokens=32))
    assert full.completion_tokens > 3, "the tiny model should say more than three tokens"
    cut = solo(backend, PROMPTS[0], Sampling(max_tokens=3))
    assert cut.finish_reason == "length"
    assert cut.completion_tokens == 3
    assert cut.token_ids == full.token_ids[:3]


def test_end_of_turn_token_ends_the_reply_and_stays_only_in_the_ids(backend, reference):
    _, tokenizer = reference
    replies = run(together(backend, [(m, Sampling(max_tokens=64)) for m in PROMPTS]))
    stopped = [g for g in replies if g.finish_reason == "stop"]
    assert stopped, "the tiny model never ended its turn within 64 tokens"
    for gen in stopped:
        assert gen.meta["stopped_by"] == "eos"
        assert gen.token_ids[-1] == tokenizer.eos_token_id
        assert gen.text == tokenizer.decode(gen.token_ids[:-1], skip_special_tokens=True)


def test_a_stop_string_cuts_the_text_before_it(backend):
    full = solo(backend, PROMPTS[1], Sampling(max_tokens=32))
    text = full.text
    assert len(text) > 4
    stop = text[2:4]
    gen = solo(backend, PROMPTS[1], Sampling(max_tokens=32, stop=(stop,)))
    assert gen.finish_reason == "stop"
    assert gen.meta["stopped_by"] == stop
    assert gen.text == text[: text.find(stop)]
    assert gen.token_ids == full.token_ids[: len(gen.token_ids)]


def test_streamed_pieces_add_up_to_the_reply(backend):
    async def stream(sampling):
        pieces: list[str] = []
        gen = await backend.generate(PROMPTS[2], sampling, on_text=pieces.append)
        return gen, pieces

    full, pieces = run(stream(Sampling(max_tokens=24)))
    assert len(pieces) > 1
    assert "".join(pieces) == full.text
    stop = full.text[3:5]
    cut, pieces = run(stream(Sampling(max_tokens=24, stop=(stop,))))
    assert "".join(pieces) == cut.text == full.text[: full.text.find(stop)]


def test_sampled_ids_decode_to_the_reply_text(backend, reference):
    _, tokenizer = reference
    gen = solo(backend, PROMPTS[3], SAMPLED.with_seed(7))
    body = gen.token_ids[:-1] if gen.meta.get("stopped_by") == "eos" else gen.token_ids
    assert tokenizer.decode(body, skip_special_tokens=True) == gen.text


# ---------------------------------------------------------------------------------- scoring


def brute_force_score(reference, messages, candidate) -> float:
    model, tokenizer = reference
    prompt = prompt_ids(tokenizer, messages)
    cand = tokenizer.encode(candidate, add_special_tokens=False)
    with torch.no_grad():
        logits = model(torch.tensor([prompt + cand])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return sum(float(logprobs[len(prompt) + j - 1, t]) for j, t in enumerate(cand))


def test_score_agrees_with_a_full_sequence_computation(backend, reference):
    candidates = CHOICES + ["a much longer candidate reply, with punctuation!", "x"]
    for messages in (PROMPTS[0], PROMPTS[7]):
        scores = run(backend.score(messages, candidates))
        expected = [brute_force_score(reference, messages, c) for c in candidates]
        assert scores == pytest.approx(expected, abs=1e-4)


def test_scoring_in_small_chunks_gives_the_same_scores(backend, monkeypatch):
    from arena.backends import torch_score

    candidates = CHOICES + [f"move {i} then {i + 1}" for i in range(10)]
    whole = run(backend.score(PROMPTS[3], candidates))
    monkeypatch.setattr(torch_score, "_LOGITS_BUDGET", 1)  # one candidate per forward pass
    chunked = run(backend.score(PROMPTS[3], candidates))
    assert chunked == pytest.approx(whole, abs=1e-4)


def test_concurrent_score_requests_batch_and_agree_with_each_alone(backend):
    alone = [run(backend.score(m, CHOICES)) for m in PROMPTS[:6]]

    async def all_at_once():
        return await asyncio.gather(*(backend.score(m, CHOICES) for m in PROMPTS[:6]))

    batches = backend.worker.batches_run
    together_scores = run(all_at_once())
    assert backend.worker.batches_run - batches < 6
    for a, b in zip(alone, together_scores):
        assert b == pytest.approx(a, abs=1e-4)


def test_constrained_reply_is_always_one_of_the_choices(backend):
    hot = Sampling(temperature=8.0)  # the tiny model is sure of itself: flatten it to vary

    async def many():
        return await asyncio.gather(
            *(backend.generate(m, hot.with_seed(i), choices=CHOICES) for i, m in enumerate(PROMPTS))
        )

    replies = run(many())
    assert all(g.text in CHOICES for g in replies)
    assert all(g.finish_reason == "stop" for g in replies)
    assert len({g.text for g in replies}) > 1, "sampling among choices never varied"


def test_greedy_constrained_choice_is_the_argmax_of_score(backend, reference):
    _, tokenizer = reference
    for messages in PROMPTS[:6]:
        scores = run(backend.score(messages, CHOICES))
        gen = run(backend.generate(messages, GREEDY, choices=CHOICES))
        assert gen.text == CHOICES[scores.index(max(scores))]
        assert gen.token_ids == tokenizer.encode(gen.text, add_special_tokens=False)
        assert gen.meta["scores"][gen.text] == pytest.approx(max(scores), abs=1e-4)


def draw_many(probs, sampling, n=2000, neighbours=()):
    """Tokens drawn by the sampler for `n` uniform numbers, the row batched with others."""
    from types import SimpleNamespace

    from arena.backends.torch_sampling import draw as _draw

    rows = [SimpleNamespace(sampling=sampling)] + [SimpleNamespace(sampling=s) for s in neighbours]
    table = torch.tensor([probs] * len(rows))
    counts = [0] * len(probs)
    for u in torch.rand(n, generator=torch.Generator().manual_seed(0)).tolist():
        uniforms = torch.full((len(rows),), u)
        counts[int(_draw(table, uniforms, rows)[0])] += 1
    return [c / n for c in counts]


def test_sampler_draws_follow_the_distribution_cut_by_top_k_and_top_p():
    probs = [0.05, 0.4, 0.1, 0.3, 0.15]
    plain = draw_many(probs, Sampling(temperature=1.0))
    assert plain == pytest.approx(probs, abs=0.03)
    top2 = draw_many(probs, Sampling(temperature=1.0, top_k=2))
    assert top2 == pytest.approx([0, 0.4 / 0.7, 0, 0.3 / 0.7, 0], abs=0.03)
    # top_p 0.75: the smallest head reaching 0.75 is {0.4, 0.3, 0.15}.
    nucleus = draw_many(probs, Sampling(temperature=1.0, top_p=0.75))
    assert nucleus == pytest.approx([0, 0.4 / 0.85, 0, 0.3 / 0.85, 0.15 / 0.85], abs=0.03)
    assert draw_many(probs, Sampling(temperature=1.0, top_p=0.01), n=200)[1] == 1.0
    # The same uniform number gives the same token whatever the other rows ask for.
    mixed = draw_many(
        probs,
        Sampling(temperature=1.0, top_p=0.75),
        neighbours=[Sampling(temperature=1.0, top_k=1), Sampling(temperature=1.0)],
    )
    assert mixed == nucleus


def test_pick_choice_follows_the_softmax_of_the_scores():
    scores = [-1.0, -2.0, -3.0]
    hot = Sampling(temperature=1.0)
    counts = [0, 0, 0]
    for seed in range(3000):
        counts[pick_choice(scores, hot, seed)] += 1
    weights = [2.718281828**s for s in scores]
    for count, weight in zip(counts, weights):
        assert count / 3000 == pytest.approx(weight / sum(weights), abs=0.03)
    assert pick_choice(scores, Sampling(temperature=0.0), 5) == 0
    assert {pick_choice(scores, Sampling(temperature=1.0, top_k=1), s) for s in range(50)} == {0}


# ------------------------------------------------------------------------- failures, closing


def test_a_prompt_longer_than_the_context_fails_alone_and_the_worker_survives(
    backend, tiny_model_dir
):
    from transformers import AutoConfig

    context = AutoConfig.from_pretrained(tiny_model_dir).max_position_embeddings
    long_text = "a1 b2 c3 fold call raise "
    while backend.count_tokens(long_text) <= context:
        long_text += long_text
    requests = [(m, Sampling(max_tokens=6)) for m in PROMPTS[:4]]
    alone = [solo(backend, m, s) for m, s in requests]

    async def mixed():
        calls = [backend.generate(m, s) for m, s in requests]
        calls.insert(2, backend.generate(chat(long_text), Sampling(max_tokens=6)))
        calls.append(backend.score(chat(long_text), CHOICES))
        return await asyncio.gather(*calls, return_exceptions=True)

    results = run(mixed())
    long_gen, long_score = results.pop(2), results.pop()
    assert isinstance(long_gen, BackendError) and "context" in str(long_gen)
    assert isinstance(long_score, BackendError)
    assert [g.token_ids for g in results] == [g.token_ids for g in alone]
    assert backend.worker.alive
    assert solo(backend, *requests[0]).token_ids == alone[0].token_ids


def test_a_model_failure_in_a_batch_fails_only_the_request_that_causes_it(backend, monkeypatch):
    """When a batched forward pass raises, every request runs again alone: the one that
    breaks the model gets a BackendError, the others their normal replies."""
    poisoned = chat("POISON PILL zzz")
    mine = set(run(backend.prompt_tokens(poisoned)))
    others = set().union(*(run(backend.prompt_tokens(m)) for m in PROMPTS[:4]))
    poison = min(mine - others)
    requests = [(m, Sampling(max_tokens=6)) for m in PROMPTS[:4]]
    alone = [solo(backend, m, s) for m, s in requests]

    class Breaks:
        """The model, except that it raises on the poison token."""

        def __init__(self, model):
            self.model = model

        def __call__(self, *, input_ids, **kwargs):
            if (input_ids == poison).any():
                raise RuntimeError("the model broke")
            return self.model(input_ids=input_ids, **kwargs)

        def __getattr__(self, name):
            return getattr(self.model, name)

    engine = backend._engine
    monkeypatch.setattr(engine, "model", Breaks(engine.model))

    async def mixed():
        calls = [backend.generate(m, s) for m, s in requests]
        calls.insert(1, backend.generate(poisoned, Sampling(max_tokens=6)))
        return await asyncio.gather(*calls, return_exceptions=True)

    results = run(mixed())
    broken = results.pop(1)
    assert isinstance(broken, BackendError) and "the model broke" in str(broken)
    assert [g.token_ids for g in results] == [g.token_ids for g in alone]
    assert backend.worker.alive


def test_a_cancelled_request_does_not_disturb_the_others(backend):
    alone = solo(backend, PROMPTS[1], Sampling(max_tokens=16))

    async def cancel_one():
        victim = asyncio.ensure_future(backend.generate(PROMPTS[0], Sampling(max_tokens=64)))
        keeper = asyncio.ensure_future(backend.generate(PROMPTS[1], Sampling(max_tokens=16)))
        await asyncio.sleep(0)
        victim.cancel()
        return await keeper, victim

    kept, victim = run(cancel_one())
    assert victim.cancelled()
    assert kept.token_ids == alone.token_ids
    assert backend.worker.alive


def test_aclose_stops_the_worker_thread_and_refuses_later_requests(tiny_model_dir):
    backend = TransformersBackend(tiny_model_dir, device="cpu")
    thread = backend.worker.thread
    assert thread in threading.enumerate()
    gen = run(backend.generate(PROMPTS[0], Sampling(max_tokens=4)))
    assert gen.completion_tokens >= 1
    run(backend.aclose())
    assert not backend.worker.alive
    assert thread not in threading.enumerate()
    with pytest.raises(BackendUnavailable):
        run(backend.generate(PROMPTS[0], GREEDY))


def test_aclose_with_requests_in_flight_answers_or_refuses_each_of_them(tiny_model_dir):
    backend = TransformersBackend(tiny_model_dir, device="cpu")
    run(backend.load())

    async def close_midway():
        calls = [
            asyncio.ensure_future(backend.generate(m, SAMPLED.with_seed(i)))
            for i, m in enumerate(PROMPTS[:6])
        ]
        await asyncio.sleep(0)  # submitted, maybe running
        await backend.aclose()
        late = asyncio.ensure_future(backend.generate(PROMPTS[0], GREEDY))
        return await asyncio.wait_for(asyncio.gather(*calls, late, return_exceptions=True), 60)

    results = run(close_midway())
    assert isinstance(results[-1], BackendUnavailable)
    for result in results[:-1]:
        assert isinstance(result, BackendUnavailable) or result.completion_tokens >= 1
    assert not backend.worker.alive


def test_a_missing_model_folder_fails_requests_with_backend_unavailable(tmp_path):
    backend = TransformersBackend(tmp_path / "no-such-model", device="cpu")
    try:
        with pytest.raises(BackendUnavailable, match="no-such-model"):
            run(backend.generate(PROMPTS[0], GREEDY))
        with pytest.raises(BackendUnavailable):
            run(backend.score(PROMPTS[0], CHOICES))
        assert backend.worker.alive
    finally:
        run(backend.aclose())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dtype": "float64"}, "dtype"),
        ({"dtype": "int8"}, "dtype"),
        ({"device": "tpu"}, "device"),
        ({"device": "cpu:1"}, "device"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"batch_window_ms": -1.0}, "batch_window_ms"),
        ({"threads": 0}, "threads"),
    ],
)
def test_bad_settings_raise_a_clear_value_error(tiny_model_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        TransformersBackend(tiny_model_dir, **kwargs)


def test_bad_requests_raise_value_error(backend):
    with pytest.raises(ValueError, match="max_tokens"):
        run(backend.generate(PROMPTS[0], Sampling(max_tokens=0)))
    with pytest.raises(ValueError, match="choice"):
        run(backend.generate(PROMPTS[0], GREEDY, choices=[]))
    with pytest.raises(ValueError, match="choice"):
        run(backend.generate(PROMPTS[0], GREEDY, choices=["a1", ""]))


def test_auto_device_and_dtype_follow_the_hardware():
    if torch.cuda.is_available():
        assert resolve_device("auto") == "cuda"
        expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        assert resolve_dtype("auto", "cuda") == expected
    else:
        assert resolve_device("auto") in ("cpu", "mps")
        with pytest.raises(BackendUnavailable, match="CUDA"):
            resolve_device("cuda")
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16


def test_count_tokens_and_describe(backend, reference):
    _, tokenizer = reference
    text = "Legal moves: a1 b2 c3"
    assert backend.count_tokens(text) == len(tokenizer.encode(text, add_special_tokens=False))
    assert backend.describe().startswith("transformers ")
    assert "cpu" in backend.describe()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_batched_greedy_equals_unbatched_in_float32(tiny_model_dir):
    backend = TransformersBackend(tiny_model_dir, device="cuda", dtype="float32")
    try:
        requests = [(m, Sampling(max_tokens=4 + i)) for i, m in enumerate(PROMPTS)]
        alone = [solo(backend, m, s) for m, s in requests]
        batched = run(together(backend, requests))
        assert [g.token_ids for g in batched] == [g.token_ids for g in alone]
        assert "cuda" in backend.describe()
        scores = run(backend.score(PROMPTS[0], CHOICES))
        assert all(s < 0 for s in scores)
    finally:
        run(backend.aclose())


def test_requests_arriving_mid_batch_join_it_and_match_their_unbatched_replies(backend):
    # Hot sampling keeps the early rows talking for their whole budget.
    early = [
        (m, Sampling(temperature=3.0, seed=i, max_tokens=48)) for i, m in enumerate(PROMPTS[:4])
    ]
    late = [(m, Sampling(max_tokens=6 + i)) for i, m in enumerate(PROMPTS[4:12])]
    alone = [solo(backend, m, s) for m, s in early + late]
    assert min(g.completion_tokens for g in alone[: len(early)]) > 8

    async def staggered():
        started = asyncio.Event()
        first = [
            asyncio.ensure_future(backend.generate(m, s, on_text=lambda _: started.set()))
            for m, s in early
        ]
        waiter = asyncio.ensure_future(started.wait())
        await asyncio.wait([waiter, *first], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        second = [backend.generate(m, s) for m, s in late]  # the early batch is decoding
        return await asyncio.gather(*first, *second)

    replies = run(staggered())
    assert [g.token_ids for g in replies] == [g.token_ids for g in alone]
    # The late requests joined the running rows rather than waiting for them to finish.
    assert all(g.meta["batch_size"] > len(late) for g in replies[len(early) :])


def test_prefill_groups_put_short_and_long_new_parts_in_separate_passes():
    from arena.backends.torch_decode import prefill_groups

    fresh = [120, 3, 118, 2, 4, 121, 1, 119]
    groups = prefill_groups(fresh)
    assert sorted(i for g in groups for i in g) == list(range(len(fresh)))
    assert sorted(groups) == [[0, 2, 5, 7], [1, 3, 4, 6]]
    # Rows of about the same width are not split: each pass has a cost of its own.
    assert prefill_groups([40, 41, 42, 45]) == [[0, 1, 2, 3]]
    assert prefill_groups([7]) == [[0]]


def test_a_batch_mixing_long_and_short_cached_prefixes_matches_model_generate(backend, reference):
    model, tokenizer = reference
    system = [{"role": "system", "content": "You play tictactoe and answer with one move."}]
    solo(backend, system + PROMPTS[1][-1:], GREEDY)
    solo(backend, system + PROMPTS[2][-1:], GREEDY)
    # One prompt reuses almost all of a cached one, the others only the system prompt, and
    # one nothing at all: they prefill with gaps between reused and new tokens.
    longer = system + PROMPTS[1][-1:] + [{"role": "assistant", "content": "a1"}]
    requests = [(longer + [{"role": "user", "content": "Next?"}], GREEDY)]
    requests += [(system + PROMPTS[k][-1:], GREEDY) for k in (3, 4, 5)]
    requests += [(PROMPTS[6], GREEDY)]
    batched = run(together(backend, requests))
    # Asked again, they reuse the entries stored from that gapped layout.
    again = run(together(backend, requests))
    for (messages, _), gen, gen2 in zip(requests, batched, again):
        assert gen2.token_ids == gen.token_ids
        ids = torch.tensor([prompt_ids(tokenizer, messages)])
        assert gen.token_ids == reference_greedy(model, tokenizer, ids)


# ------------------------------------------------------------- batching: sharing and caches


def test_growing_layer_appends_like_the_plain_layer_and_moves_rows_in_place():
    from transformers.cache_utils import DynamicLayer

    from arena.backends.torch_cache import growing_layer

    torch.manual_seed(0)
    plain, grow = DynamicLayer(), growing_layer()(spare=2)
    for width in (5, 1, 1, 1, 3):  # a prefill, decode steps, then more than the spare room
        k, v = torch.randn(4, 2, width, 4), torch.randn(4, 2, width, 4)
        expected, got = plain.update(k, v), grow.update(k, v)
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    assert grow.get_seq_length() == plain.get_seq_length() == 11

    # Rows 0 and 2 leave: row 3 moves into the hole at 0; then four columns go.
    grow.fill(holes=[0], movers=[3], rows=2)
    grow.trim(4)
    assert torch.equal(grow.keys, plain.keys[[3, 1], :, 4:])
    assert torch.equal(grow.values, plain.values[[3, 1], :, 4:])

    # A shorter newcomer is left-padded with zeros; copies repeat rows.
    newcomer = torch.randn(1, 2, 5, 4)
    grow.append(newcomer, -newcomer)
    grow.append_copies([0])
    assert grow.keys.shape == (4, 2, 7, 4)
    assert torch.equal(grow.keys[2, :, 2:], newcomer[0]) and not grow.keys[2, :, :2].any()
    assert torch.equal(grow.values[2, :, 2:], -newcomer[0])
    assert torch.equal(grow.keys[3], grow.keys[0])
    k, v = torch.randn(4, 2, 1, 4), torch.randn(4, 2, 1, 4)
    keys, values = grow.update(k, v)  # decoding goes on over the moved rows
    assert torch.equal(keys[:2, :, :7], plain.keys[[3, 1], :, 4:])
    assert torch.equal(keys[:, :, 7:], k) and torch.equal(values[:, :, 7:], v)

    wider = DynamicLayer()
    wider.update(torch.randn(1, 2, 12, 4), torch.randn(1, 2, 12, 4))
    joined = growing_layer().joined(grow, wider, width=12, spare=3)
    assert joined.keys.shape == (5, 2, 12, 4)
    assert torch.equal(joined.keys[:4, :, 4:], keys) and not joined.keys[:4, :, :4].any()
    assert torch.equal(joined.values[4:], wider.values)


def test_common_prefixes_agree_with_a_plain_comparison():
    import random

    from arena.backends.torch_cache import common_prefixes
    from arena.backends.torch_cache import id_matrix as _id_matrix

    rng = random.Random(0)
    base = [rng.randrange(50) for _ in range(40)]
    rows = [base[: rng.randrange(41)] + [rng.randrange(50) for _ in range(rng.randrange(9))]]
    rows += [base[: rng.randrange(41)] for _ in range(7)] + [[]]
    got = common_prefixes(_id_matrix(rows, -1), _id_matrix(rows, -2)).tolist()
    for i, a in enumerate(rows):
        for j, b in enumerate(rows):
            assert got[i][j] == len(os.path.commonprefix([a, b])), (i, j)


def count_prefill_rows(engine, monkeypatch) -> list[int]:
    """Record the rows of every prefill pass the engine runs."""
    rows: list[int] = []
    real = engine._prefill

    def prefill(part, reuse):
        rows.append(len(part))
        return real(part, reuse)

    monkeypatch.setattr(engine, "_prefill", prefill)
    return rows


def test_identical_prompts_in_one_batch_are_prefilled_once_and_answer_as_alone(
    backend, monkeypatch
):
    messages = chat("Twins. Your move? Legal moves: a1 b2 c3.")
    alone = solo(backend, messages, GREEDY)
    passes = count_prefill_rows(backend._engine, monkeypatch)
    replies = run(together(backend, [(messages, GREEDY)] * 6 + [(PROMPTS[3], GREEDY)]))
    assert all(g.token_ids == alone.token_ids for g in replies[:6])
    assert replies[0].meta["batch_size"] == 7
    assert sum(passes) == 2  # one row for the six twins, one for the other prompt


def test_prompts_sharing_a_long_start_within_a_batch_reuse_it_and_match_model_generate(
    backend, reference, monkeypatch
):
    model, tokenizer = reference
    story = "A long shared briefing about the rules of this game. " * 12
    requests = [(chat(story + f"Question {i}: your move?"), GREEDY) for i in range(4)]
    engine = backend._engine
    fresh: list[int] = []
    real = engine._prefill

    def prefill(part, reuse):  # tokens each pass computes
        fresh.append(sum(len(r.prompt) - (h[1] if h else 0) for r, h in zip(part, reuse)))
        return real(part, reuse)

    monkeypatch.setattr(engine, "_prefill", prefill)
    replies = run(together(backend, requests))
    shared = len(os.path.commonprefix([prompt_ids(tokenizer, m) for m, _ in requests]))
    total = sum(len(prompt_ids(tokenizer, m)) for m, _ in requests)
    assert shared > 100
    assert sum(fresh) <= total - 3 * shared + 3  # the shared start is computed once
    for (messages, _), gen in zip(requests, replies):
        ids = torch.tensor([prompt_ids(tokenizer, messages)])
        assert gen.token_ids == reference_greedy(model, tokenizer, ids)


def test_a_group_of_prompts_tokenizes_in_one_call_to_the_same_ids(backend, reference):
    _, tokenizer = reference
    texts = [
        tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
        for m in PROMPTS[:3]
    ]
    texts += [f"Legal moves: a{i} b{i} c{i}" for i in range(5)] + ["fold", "é ü 漢字"]
    assert backend._encode_many(texts) == [backend._encode(t) for t in texts]
    assert backend._batch_encode  # the tiny model's tokenizer takes the batch call


def test_repeated_messages_reuse_their_prompt_ids(backend, reference):
    _, tokenizer = reference
    messages = chat("Seen before? Legal moves: a1 b2 c3.")
    first = run(backend.generate(messages, Sampling(max_tokens=3)))
    again = run(backend.generate([dict(m) for m in messages], Sampling(max_tokens=3)))
    assert first.token_ids == again.token_ids
    assert again.prompt_tokens == len(prompt_ids(tokenizer, messages))
    key = tuple(tuple(sorted(m.items())) for m in messages)
    assert backend._prompts[key] == prompt_ids(tokenizer, messages)


def test_prefix_store_finds_the_longest_shared_start_and_forgets_the_least_recent():
    from types import SimpleNamespace as Fake

    from arena.backends.torch_cache import PrefixStore as _PrefixStore

    store = _PrefixStore(slots=3)

    def remember(*prompts):
        width = max(map(len, prompts))
        kv = torch.zeros(len(prompts), 1, width, 2)
        rows = [Fake(prompt=list(p)) for p in prompts]
        store.remember(rows, Fake(layers=[Fake(keys=kv, values=kv)]), [0] * len(prompts))

    a, b, c, d = list(range(20)), list(range(10)) + [99] * 10, [7] * 30, [5] * 12
    remember(a, b)
    remember(c)
    hits = store.find([a[:15] + [5, 5], b[:12] + [1], [8] * 20, list(a)])
    found = [None if h is None else (store._slots[h[0]][0], h[1]) for h in hits]
    assert found == [(a, 15), (b, 12), None, (a, 19)]  # (one token is always left to compute)
    remember(d)  # c was used least recently: it goes
    assert [tokens for tokens, _ in store.entries] == [a, b, d]
    assert store.find([c + [1]]) == [None]
