"""A model's reasoning kept apart from its answer: think blocks, an API's `reasoning_content`
and the text before the answer marker go to the `reasoning` column of every attempt, the
export carries `reasoning` and `answer` as fields of their own, `matches show` prints them
apart, the replay shows the reasoning folded, and `players add --thinking both` makes one
spec two players. The model is a real OpenAI-compatible HTTP server on 127.0.0.1 (`RawServer`)
that answers like a reasoning model; the database is a real SQLite file."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from arena.backends.reasoning import answer_of, reasoning_of_record, split_reasoning
from arena.cli import cli

pytest.importorskip("openai")

from servers import RawConn, RawRequest, RawServer  # noqa: E402

API_THOUGHT = "The API's own reasoning field: the centre is strong."
BLOCK_THOUGHT = "Inside the think block: I consider every corner."
BEFORE_MARKER = "Written before the marker: so I take the first move listed."
THINK_USAGE = (100, 40)  # (prompt, completion) tokens the server reports for a reasoned reply
DIRECT_USAGE = (90, 2)


def first_legal(request: RawRequest) -> tuple[str, bool]:
    """The first legal move the prompt lists, and whether the prompt asks for the move alone."""
    last = request.json()["messages"][-1]["content"]
    listed = re.search(r"legal moves:\s*([^\n]+)", last, re.IGNORECASE)
    move = listed.group(1).split(",")[0].strip() if listed else "a1"
    return move, "move only" in last


def reasoning_model(conn: RawConn, request: RawRequest) -> None:
    """A reasoning model behind /v1/chat/completions: asked to think, it returns a
    `reasoning_content` field and a reply with a think block and text before its
    `Final answer:`; asked for the move alone, the move alone."""
    move, direct = first_legal(request)
    if direct:
        message = {"role": "assistant", "content": move}
        prompt, completion = DIRECT_USAGE
    else:
        content = f"<think>{BLOCK_THOUGHT}</think>\n{BEFORE_MARKER}\nFinal answer: {move}"
        message = {"role": "assistant", "content": content, "reasoning_content": API_THOUGHT}
        prompt, completion = THINK_USAGE
    body = json.dumps(
        {
            "id": "chatcmpl-thinker",
            "object": "chat.completion",
            "created": 0,
            "model": "thinker",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
    ).encode()
    if conn.head(200, "application/json", len(body)):
        conn.send(body)


def run(db: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def add_thinker(db: Path, url: str, *extra: str) -> str:
    return run(
        db,
        "players",
        "add",
        "thinker",
        "--kind",
        "openai",
        "--base-url",
        url,
        "--model",
        "thinker",
        "--api-key-env",
        "",
        "--price-input-per-mtok",
        "2",
        "--price-output-per-mtok",
        "8",
        *extra,
    )


@pytest.fixture()
def thinker_url():
    with RawServer(reasoning_model) as server:
        yield server.base_url


# --- the split itself ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "reasoning", "answer"),
    [
        ("b2", None, "b2"),
        ("Final answer: b2", None, "Final answer: b2"),
        ("<think>corners?</think>\nFinal answer: b2", "corners?", "Final answer: b2"),
        ("I like b2.\n**Final answer:** b2", "I like b2.", "**Final answer:** b2"),
        ("corners? hmm.</think>\nb2", "corners? hmm.", "b2"),  # the template opened the block
        ("<think>b2 or a1, never closed", "b2 or a1, never closed", ""),
        ("The final answer is b2", None, "The final answer is b2"),
        ("The final answer is not obvious. b2", None, "The final answer is not obvious. b2"),
        ("<think>a</think>x <think>b</think>Final Answer: c3", "a\n\nb\n\nx", "Final Answer: c3"),
    ],
)
def test_reply_splits_into_reasoning_and_answer(reply, reasoning, answer) -> None:
    assert split_reasoning(reply) == (reasoning, answer)
    assert answer_of(reply) == answer


def test_split_takes_linear_time_on_hostile_replies() -> None:
    for hostile in (
        "</think>" * 100_000 + "<think>" * 100_000,
        "final answer: x " * 100_000,
        "<think>" + "final answer: " * 100_000,
    ):
        started = time.perf_counter()
        reasoning, answer = split_reasoning(hostile)
        assert time.perf_counter() - started < 2.0
        assert reasoning is not None or answer


def test_record_reasoning_is_not_repeated_when_the_column_already_holds_it() -> None:
    reply = f"<think>{BLOCK_THOUGHT}</think>Final answer: b2"
    stored = f"{API_THOUGHT}\n\n{BLOCK_THOUGHT}"
    assert reasoning_of_record(stored, reply) == stored
    # an older record: nothing in the column, the reasoning still in the reply
    assert reasoning_of_record(None, reply) == BLOCK_THOUGHT
    assert reasoning_of_record(None, "b2") is None


# --- a whole match against a reasoning model on loopback ---------------------------------------
def test_match_stores_api_block_and_pre_marker_reasoning_apart_from_the_answer(
    tmp_path: Path, thinker_url: str
) -> None:
    db = tmp_path / "arena.db"
    add_thinker(db, thinker_url)
    run(db, "match", "tictactoe", "thinker", "random", "--seed", "1", "--no-show-replies")

    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT reply, reasoning, legal, parsed FROM moves WHERE seat = 0 ORDER BY match_id, idx"
    ).fetchall()
    con.close()
    assert rows
    for reply, reasoning, legal, parsed in rows:
        assert legal == 1
        assert reply.endswith(f"Final answer: {parsed}")  # the raw reply, verbatim
        # every source of reasoning, in order, and none of the answer
        assert reasoning == f"{API_THOUGHT}\n\n{BLOCK_THOUGHT}\n\n{BEFORE_MARKER}"
        assert "Final answer" not in reasoning

    exported = run(db, "export", "matches").splitlines()
    records = [json.loads(line) for line in exported]
    model = [r for r in records if r["player"] == "thinker"]
    assert len(model) == len(rows)
    for r in model:
        assert r["reasoning"] == f"{API_THOUGHT}\n\n{BLOCK_THOUGHT}\n\n{BEFORE_MARKER}"
        assert r["answer"] == f"Final answer: {r['action']}"
        assert r["reply"].startswith("<think>")  # the raw reply is still there
    bot = [r for r in records if r["player"] == "random"]
    assert bot and all(r["reasoning"] is None for r in bot)

    shown = run(db, "matches", "show", "1")
    assert f"~ {API_THOUGHT}" in shown and f"~ {BEFORE_MARKER}" in shown
    answers = [line for line in shown.splitlines() if line.strip().startswith("|")]
    assert any("Final answer:" in line for line in answers)
    assert not any("<think>" in line or BEFORE_MARKER in line for line in answers)


def test_streamed_reasoning_content_is_kept_apart(thinker_url: str) -> None:
    """The stream path: `reasoning_content` deltas and a think block in the content."""
    import asyncio

    from servers import sse

    from arena.backends.base import Sampling
    from arena.backends.openai_backend import OpenAIBackend

    def chunk(delta: dict, finish: str | None = None) -> str:
        return json.dumps(
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    events = [
        chunk({"role": "assistant", "reasoning_content": "streamed "}),
        chunk({"reasoning_content": "thought"}),
        chunk({"content": "<think>block</think>before\nFinal "}),
        chunk({"content": "answer: b2"}, "stop"),
    ]
    with RawServer(sse(events)) as server:

        async def ask():
            backend = OpenAIBackend(server.base_url, "m", api_key_env=None)
            try:
                pieces: list[str] = []
                gen = await backend.generate(
                    [{"role": "user", "content": "move?"}], Sampling(), on_text=pieces.append
                )
                return gen, pieces
            finally:
                await backend.aclose()

        gen, pieces = asyncio.run(ask())
    assert gen.meta["reasoning"] == "streamed thought"
    assert "".join(pieces) == gen.text == "<think>block</think>before\nFinal answer: b2"
    assert split_reasoning(gen.text) == ("block\n\nbefore", "Final answer: b2")


# --- the replay --------------------------------------------------------------------------------
@pytest.fixture()
def played_db(tmp_path: Path, thinker_url: str) -> Path:
    """A database holding one match of the reasoning model (seat 0) against a random bot."""
    db = tmp_path / "arena.db"
    add_thinker(db, thinker_url)
    run(db, "match", "tictactoe", "thinker", "random", "--seed", "1", "--no-show-replies")
    return db


async def test_replay_shows_the_reasoning_folded_and_the_answer_alone(played_db: Path) -> None:
    from textual.widgets import Collapsible, Static

    from arena.tui.app import make_app
    from arena.tui.widgets.replay_view import AttemptPanel, ReplayView

    app = make_app(played_db, seed_first_run=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        view = app.screen.query_one(ReplayView)
        await pilot.press("n")  # move 1: the model's (seat 0 moves first)
        await pilot.pause()
        panel = view.query_one(AttemptPanel)
        fold = panel.query_one(Collapsible)
        assert fold.collapsed
        assert "reasoning (5 lines" in str(fold.title)
        inner = fold.query_one(".attempt-reasoning-text", Static)
        assert API_THOUGHT in str(inner.visual) and BEFORE_MARKER in str(inner.visual)
        assert not inner.display or not inner.region.height  # folded: not on screen
        answer = str(panel.query_one(".attempt-reply", Static).visual)
        assert answer.startswith("Final answer: ") and "<think>" not in answer

        view.focus()
        await pilot.press("f")
        await pilot.pause()
        assert not fold.collapsed
        assert inner.region.height > 0
        await pilot.press("f")
        await pilot.pause()
        assert fold.collapsed


# --- one spec, two players -----------------------------------------------------------------
def test_thinking_both_registers_two_players_that_differ_only_in_reasoning(
    tmp_path: Path, thinker_url: str
) -> None:
    db = tmp_path / "arena.db"
    out = add_thinker(db, thinker_url, "--thinking", "both")
    assert "thinker+think" in out and "thinker+direct" in out
    specs = {
        p["name"]: p["spec"]
        for p in json.loads(run(db, "players", "list", "--json"))
        if p["name"].startswith("thinker")
    }
    assert set(specs) == {"thinker+think", "thinker+direct"}
    think, direct = specs["thinker+think"], specs["thinker+direct"]
    assert think["prompt"]["reasoning"] == "think" and direct["prompt"]["reasoning"] == "direct"
    assert think["decode"] == direct["decode"] == "free"
    same = {k: v for k, v in think.items() if k not in ("name", "prompt")}
    assert same == {k: v for k, v in direct.items() if k not in ("name", "prompt")}
    assert same["price_output_per_mtok"] == 8.0

    # Both play; only the thinking one has reasoning, and it pays for it in tokens.
    run(db, "match", "tictactoe", "thinker+think", "random", "--seed", "2", "--no-show-replies")
    run(db, "match", "tictactoe", "thinker+direct", "random", "--seed", "2", "--no-show-replies")
    con = sqlite3.connect(db)
    got = dict(
        con.execute(
            "SELECT p.name, COUNT(mv.reasoning) FROM moves mv JOIN players p "
            "ON p.id = mv.player_id WHERE p.name LIKE 'thinker%' GROUP BY p.name"
        ).fetchall()
    )
    con.close()
    assert got["thinker+direct"] == 0 and got["thinker+think"] > 0


def test_thinking_both_adds_neither_when_one_name_is_taken(
    tmp_path: Path, thinker_url: str
) -> None:
    db = tmp_path / "arena.db"
    run(db, "players", "add", "thinker+direct", "--kind", "bot", "--bot", "random")
    result = CliRunner().invoke(
        cli,
        ["--db", str(db), "players", "add", "thinker", "--kind", "openai", "--model", "m"]
        + ["--base-url", thinker_url, "--api-key-env", "", "--thinking", "both"],
    )
    assert result.exit_code != 0
    assert "thinker+direct" in result.output
    names = [p["name"] for p in json.loads(run(db, "players", "list", "--json"))]
    assert "thinker+think" not in names


def test_thinking_on_constrained_local_decoding_means_think_then_constrained(
    tmp_path: Path, tiny_gguf: Path
) -> None:
    db = tmp_path / "arena.db"
    run(db, "players", "add", "tiny", "--kind", "llamacpp", "--path", str(tiny_gguf))
    run(
        db,
        *("players", "add", "tiny2", "--kind", "llamacpp", "--path", str(tiny_gguf)),
        *("--thinking", "both"),
    )
    specs = {p["name"]: p["spec"] for p in json.loads(run(db, "players", "list", "--json"))}
    assert specs["tiny2+think"]["prompt"]["reasoning"] == "think-then-constrained"
    assert specs["tiny2+direct"]["prompt"]["reasoning"] == "direct"
    assert specs["tiny2+think"]["decode"] == specs["tiny2+direct"]["decode"] == "constrained"
    # thinking on is what a local model does by default
    assert specs["tiny2+think"]["prompt"] == specs["tiny"]["prompt"]


def test_thinking_refuses_bots_and_an_explicit_reasoning_mode(tmp_path: Path) -> None:
    db = tmp_path / "arena.db"
    for args in (
        ["--kind", "bot", "--bot", "random", "--thinking", "both"],
        ["--kind", "openai", "--model", "m", "--reasoning", "think", "--thinking", "off"],
    ):
        result = CliRunner().invoke(cli, ["--db", str(db), "players", "add", "x", *args])
        assert result.exit_code == 2, result.output
        assert "--thinking" in result.output
