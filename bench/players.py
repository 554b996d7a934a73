"""Model players' speed: arena overhead, batching across matches, API concurrency.

    python bench/players.py [--model-dir DIR] [--matches 16] [--skip-api] [--batching-repeats 3]

Everything runs on a tiny model made for the occasion (or `--model-dir`), and every figure is
a ratio against a baseline measured in the same run:

1. overhead: a full tictactoe match between two llama.cpp players, against the sum of the same
   raw llama.cpp calls (the same prompts and settings) made directly. Bar: at most +15%.
2. batching: N concurrent tictactoe matches between transformers players, against the same N
   matches played one after another. Bar: at least 5x the throughput. Each mode runs on a
   fresh backend after one warm-up match, a few times (machines shared with other work are
   noisy): the row shows the median times and the ratio of the medians.
3. API concurrency: 8 concurrent matches against a llama.cpp server, against 8 sequential.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import games  # noqa: E402
from arena.backends.base import Sampling  # noqa: E402
from arena.match import MatchRules, play_match  # noqa: E402
from arena.players.llm import LLMPlayer  # noqa: E402
from arena.prompts import PromptOptions  # noqa: E402

PROMPT = PromptOptions(reasoning="direct", include_rules=False)
SAMPLING = Sampling(temperature=0.0, max_tokens=6)
RULES = MatchRules(retries=0, on_exhausted="random")  # tiny models play badly: keep going


def make_models(model_dir: Path | None, work: Path) -> tuple[Path, Path]:
    from arena.models.gguf_export import export_gguf
    from arena.models.tiny import make_tiny

    if model_dir is None:
        model_dir = make_tiny(work / "tiny")
    gguf = work / "tiny-f32.gguf"
    export_gguf(model_dir, gguf, dtype="f32")
    return model_dir, gguf


class Recording:
    """Wraps a backend and records every generate call (messages, sampling)."""

    def __init__(self, inner):
        self.inner = inner
        self.kind = inner.kind
        self.can_score = inner.can_score
        self.can_constrain = inner.can_constrain
        self.calls: list[tuple[list, Sampling]] = []

    async def generate(self, messages, sampling, *, choices=None, on_text=None):
        self.calls.append(([dict(m) for m in messages], sampling))
        return await self.inner.generate(messages, sampling, choices=choices, on_text=on_text)

    async def aclose(self):
        await self.inner.aclose()

    def describe(self):
        return self.inner.describe()


async def bench_overhead(gguf: Path, repeats: int) -> tuple[float, float, int]:
    """Seconds for the matches through the arena, seconds for the same raw calls, #calls."""
    from arena.backends.llamacpp import LlamaCppBackend

    backend = Recording(LlamaCppBackend(str(gguf), n_threads=1, seed=0))
    game = games.make("tictactoe")
    players = [LLMPlayer(f"p{i}", backend, prompt=PROMPT, sampling=SAMPLING) for i in range(2)]
    await play_match(game, players, seed=0, rules=RULES)  # warm-up (loads the model)
    backend.calls.clear()
    t0 = time.perf_counter()
    for seed in range(repeats):
        await play_match(game, players, seed=seed, rules=RULES)
    arena_s = time.perf_counter() - t0
    calls = list(backend.calls)
    await backend.aclose()

    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_threads=1, n_ctx=4096, seed=0, verbose=False)
    raw_s = 0.0
    for messages, sampling in calls:
        t = time.perf_counter()
        llm.create_chat_completion(
            messages=messages,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            max_tokens=sampling.max_tokens,
            seed=sampling.seed,
        )
        raw_s += time.perf_counter() - t
    return arena_s, raw_s, len(calls)


async def _matches(
    make_players, n: int, concurrent: bool, first_seed: int = 0
) -> tuple[float, int]:
    game = games.make("tictactoe")
    moves = 0

    async def one(seed: int) -> None:
        nonlocal moves
        result = await play_match(game, make_players(), seed=seed, rules=RULES)
        assert result.status == "finished", result.error
        moves += sum(1 for m in result.moves if m.seat >= 0)

    seeds = range(first_seed, first_seed + n)
    t0 = time.perf_counter()
    if concurrent:
        await asyncio.gather(*(one(s) for s in seeds))
    else:
        for s in seeds:
            await one(s)
    return time.perf_counter() - t0, moves


async def _batching_run(
    model_dir: Path, n: int, prompt: PromptOptions, sampling: Sampling, concurrent: bool
) -> tuple[float, int]:
    """Seconds and moves for n matches on a fresh backend, after one warm-up match.

    Each mode gets its own backend, so neither starts with the prompt and prefix caches
    that the other one filled (the matches replay the same positions).
    """
    from arena.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(
        str(model_dir), device="cpu", max_batch_size=max(16, n), threads=1
    )

    def make_players():
        return [LLMPlayer(f"p{i}", backend, prompt=prompt, sampling=sampling) for i in range(2)]

    try:
        await _matches(make_players, 1, False, first_seed=n)  # warm-up: an unmeasured seed
        return await _matches(make_players, n, concurrent)
    finally:
        await backend.aclose()


def bench_batching(
    model_dir: Path, n: int, prompt: PromptOptions, sampling: Sampling, repeats: int
) -> tuple[list[float], list[float], int]:
    """Sequential and concurrent seconds, `repeats` of each (alternating), and the moves."""
    seq, con = [], []
    for _ in range(repeats):
        seq_s, moves = asyncio.run(_batching_run(model_dir, n, prompt, sampling, False))
        con_s, _ = asyncio.run(_batching_run(model_dir, n, prompt, sampling, True))
        seq.append(seq_s)
        con.append(con_s)
    return seq, con, moves


async def bench_backend_only(gguf: Path, repeats: int) -> tuple[float, float]:
    """The match loop's own cost: matches vs the same backend calls replayed without a match."""
    from arena.backends.llamacpp import LlamaCppBackend

    backend = Recording(LlamaCppBackend(str(gguf), n_threads=1, seed=0))
    game = games.make("tictactoe")
    players = [LLMPlayer(f"p{i}", backend, prompt=PROMPT, sampling=SAMPLING) for i in range(2)]
    await play_match(game, players, seed=0, rules=RULES)
    backend.calls.clear()
    t0 = time.perf_counter()
    for seed in range(repeats):
        await play_match(game, players, seed=seed, rules=RULES)
    arena_s = time.perf_counter() - t0
    calls = list(backend.calls)
    t0 = time.perf_counter()
    for messages, sampling in calls:
        await backend.inner.generate(messages, sampling)
    direct_s = time.perf_counter() - t0
    await backend.aclose()
    return arena_s, direct_s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def bench_api(gguf: Path, n: int) -> tuple[float, float]:
    from arena.backends.openai_backend import OpenAIBackend

    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_threads",
            "1",
            "--chat_format",
            "chat_template.default",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/models", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        backend = OpenAIBackend(
            base, str(gguf), api_key_env=None, concurrency=n, llama_sampling=True
        )

        def make_players():
            return [LLMPlayer(f"p{i}", backend, prompt=PROMPT, sampling=SAMPLING) for i in range(2)]

        await _matches(make_players, 1, False)
        seq_s, _ = await _matches(make_players, n, False)
        con_s, _ = await _matches(make_players, n, True)
        await backend.aclose()
        return seq_s, con_s
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--matches", type=int, default=16)
    parser.add_argument("--overhead-matches", type=int, default=20)
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument(
        "--batching-repeats",
        type=int,
        default=3,
        help="runs of each batching mode (fresh backend each); rows show the medians",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, gguf = make_models(args.model_dir, Path(tmp))
        rows = []
        arena_s, raw_s, calls = asyncio.run(bench_overhead(gguf, args.overhead_matches))
        over = arena_s / raw_s - 1
        rows.append(
            (
                "overhead: arena match vs raw llama.cpp calls",
                f"{arena_s:.3f}s",
                f"{raw_s:.3f}s",
                f"{over:+.1%}",
                "ok" if over <= 0.15 else "ABOVE BAR (15%)",
                f"{calls} calls",
            )
        )
        arena_s, direct_s = asyncio.run(bench_backend_only(gguf, args.overhead_matches))
        over = arena_s / direct_s - 1
        rows.append(
            (
                "overhead: arena match vs the same backend calls",
                f"{arena_s:.3f}s",
                f"{direct_s:.3f}s",
                f"{over:+.1%}",
                "ok" if over <= 0.15 else "ABOVE BAR (15%)",
                "",
            )
        )
        configs = [
            ("default prompt (think), 48 tokens", PromptOptions(), Sampling(max_tokens=48)),
            ("direct prompt, 6 tokens", PROMPT, SAMPLING),
        ]
        for label, prompt, sampling in configs:
            seq, con, moves = bench_batching(
                model_dir, args.matches, prompt, sampling, args.batching_repeats
            )
            seq_s, con_s = statistics.median(seq), statistics.median(con)
            speed = seq_s / con_s
            each = "/".join(f"{a / b:.1f}" for a, b in zip(seq, con))
            rows.append(
                (
                    f"batching: {args.matches} concurrent vs sequential, {label}",
                    f"{con_s:.3f}s",
                    f"{seq_s:.3f}s",
                    f"{speed:.2f}x",
                    "ok" if speed >= 5 else "BELOW BAR (5x)",
                    f"{moves} moves; each run {each}x" if len(seq) > 1 else f"{moves} moves",
                )
            )
        if not args.skip_api:
            seq_s, con_s = asyncio.run(bench_api(gguf, 8))
            rows.append(
                (
                    "API: 8 concurrent vs sequential (llama.cpp server)",
                    f"{con_s:.3f}s",
                    f"{seq_s:.3f}s",
                    f"{seq_s / con_s:.2f}x",
                    "(no bar)",
                    "",
                )
            )
    headers = ("case", "measured", "baseline", "ratio", "bar", "")
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":
    main()
