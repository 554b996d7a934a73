"""OpenAI-compatible endpoints that trickle, hang, lie or die, as real servers on 127.0.0.1
(`RawServer` in tests/servers.py writes every byte on the wire itself).

Each misbehaviour must end in a `BackendError` subclass with a one-line, sanitised message,
within a bounded time and without holding an oversized reply in memory; a match against such
a server ends with status `error` (not a forfeit, not an illegal move, not rated)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from servers import (
    RawServer,
    chunk_json,
    completion_json,
    die_after,
    endless,
    free_port,
    hang,
    reset_at_once,
    respond,
    sse,
    trickle,
)

import games
from arena.backends.base import (
    BackendBadReply,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    Sampling,
)
from arena.backends.openai_backend import DEFAULT_MAX_BODY_BYTES, OpenAIBackend
from arena.match import MatchRules, play_match
from arena.players import BotPlayer
from arena.players.llm import LLMPlayer
from arena.prompts import PromptOptions

pytest.importorskip("openai")

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "user", "content": "Your move. Legal moves: a1, b2."}]
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}
FIVE_MB = completion_json("x" * 5_000_000)


def backend(url: str, **kw) -> OpenAIBackend:
    kw.setdefault("api_key_env", None)
    kw.setdefault("timeout_s", 2.0)
    kw.setdefault("max_retries", 0)
    for k, v in FAST.items():
        kw.setdefault(k, v)
    return OpenAIBackend(url, "hostile", **kw)


def ask(b: OpenAIBackend, *, stream: bool = False, pieces: list[str] | None = None):
    """(the Generation or the exception, seconds it took)."""

    async def go():
        try:
            on_text = (pieces.append if pieces is not None else lambda _: None) if stream else None
            return await b.generate(MESSAGES, Sampling(max_tokens=8), on_text=on_text)
        finally:
            await b.aclose()

    started = time.monotonic()
    try:
        out = asyncio.run(go())
    except BackendError as exc:
        out = exc
    return out, time.monotonic() - started


def failed(server: RawServer, expected: type[BackendError], *, stream=False, **kw):
    """Ask `server` once and check the failure: its type, one sanitised line, no secrets."""
    out, elapsed = ask(backend(server.base_url, **kw), stream=stream)
    assert type(out) is expected, out
    message = str(out)
    assert "\n" not in message and "\x1b" not in message
    assert message.startswith("hostile at http://127.0.0.1:")
    return message, elapsed


# ------------------------------------------------------------------------- slow servers


def test_a_trickling_server_trips_the_wall_clock_deadline():
    # One byte every 0.1 s: no read ever waits long, so a read timeout never fires.
    with RawServer(trickle(completion_json("b2"), interval_s=0.1)) as server:
        message, elapsed = failed(server, BackendTimeout, timeout_s=1.0)
    assert "timed out" in message and "within 1 s" in message and "(1 attempt)" in message
    assert 0.9 <= elapsed < 2.5
    assert server.sent_bytes < len(completion_json("b2")) + 200  # it never finished


def test_a_stream_that_never_ends_trips_the_deadline_too():
    def drip(conn, req):  # a well-formed event every 0.05 s, forever
        conn.head(200, "text/event-stream", None, (("transfer-encoding", "chunked"),))
        line = f"data: {chunk_json('b')}\n\n"
        while conn.send(f"{len(line):x}\r\n{line}\r\n"):
            conn.wait(0.05)

    with RawServer(drip) as server:
        message, elapsed = failed(server, BackendTimeout, stream=True, timeout_s=0.8)
    assert "timed out" in message and 0.7 <= elapsed < 2.0


def test_a_server_that_never_answers_times_out():
    with RawServer(hang()) as server:
        message, elapsed = failed(server, BackendTimeout, timeout_s=0.5, max_retries=1)
    assert "(2 attempts)" in message
    assert 0.9 <= elapsed < 2.5
    assert len(server.requests) == 2


def test_a_server_that_accepts_and_never_reads_times_out():
    with RawServer(hang(), read_request=False) as server:
        message, elapsed = failed(server, BackendTimeout, timeout_s=0.5)
    assert elapsed < 1.5


def test_retries_stop_at_the_total_budget():
    with RawServer(hang()) as server:
        message, elapsed = failed(
            server, BackendTimeout, timeout_s=0.5, max_retries=10, total_timeout_s=1.2
        )
    assert "budget of 1.2 s" in message
    assert elapsed < 2.2
    assert len(server.requests) <= 3


def test_a_retry_after_past_the_budget_gives_up_at_once():
    body = json.dumps({"error": {"message": "busy"}})
    with RawServer(respond(503, body, headers=(("Retry-After", "30"),))) as server:
        message, elapsed = failed(
            server, BackendUnavailable, max_retries=5, total_timeout_s=3, retry_after_max_s=30
        )
    assert "HTTP 503" in message and "busy" in message and "budget of 3 s" in message
    assert elapsed < 1.5 and len(server.requests) == 1


def test_retryable_statuses_are_retried_a_bounded_number_of_times():
    with RawServer(respond(429, '{"error": {"message": "slow down"}}')) as server:
        message, _ = failed(server, BackendUnavailable, max_retries=3)
    assert "HTTP 429" in message and "(4 attempts)" in message
    assert len(server.requests) == 4
    with RawServer(respond(408, '{"error": {"message": "late"}}')) as server:
        failed(server, BackendUnavailable, max_retries=1)
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [400, 403, 404, 413])
def test_other_client_errors_are_not_retried(status):
    with RawServer(respond(status, '{"error": {"message": "no"}}')) as server:
        message, _ = failed(server, BackendError, max_retries=3)
    assert f"HTTP {status}" in message and "(1 attempt)" in message
    assert len(server.requests) == 1


# ------------------------------------------------------------------------ dying servers


def test_connection_refused_is_unavailable_quickly():
    url = f"http://127.0.0.1:{free_port()}/v1"
    out, elapsed = ask(backend(url, max_retries=1))
    assert isinstance(out, BackendUnavailable) and "connection failed" in str(out)
    assert elapsed < 2


def test_a_server_that_dies_mid_body_is_unavailable_and_retried():
    with RawServer(die_after(completion_json("b2"), 30)) as server:
        message, _ = failed(server, BackendUnavailable, max_retries=1)
    assert "connection failed" in message and "(2 attempts)" in message
    assert len(server.requests) == 2


def test_a_reset_connection_is_unavailable():
    with RawServer(reset_at_once()) as server:
        message, elapsed = failed(server, BackendUnavailable)
    assert "connection failed" in message and elapsed < 2
    with RawServer(die_after(completion_json("b2"), 30, reset=True)) as server:
        failed(server, BackendUnavailable)


def test_a_bad_gateway_page_is_unavailable_with_a_sanitised_excerpt():
    page = "<html><title>502 Bad Gateway</title>\x1b]0;owned\x07\n<body>nginx</body></html>"
    with RawServer(respond(502, page, "text/html")) as server:
        message, _ = failed(server, BackendUnavailable, max_retries=1)
    assert "HTTP 502" in message and "Bad Gateway" in message and "\\x1b" in message
    assert "\x07" not in message and len(server.requests) == 2


# ------------------------------------------------------------------------- huge replies


def _peak_while(fn):
    """(what `fn()` returned, the peak of Python memory allocated while it ran, in bytes),
    after one ordinary request (the libraries load some modules at their first use)."""
    with RawServer(respond(200, completion_json())) as server:
        assert not isinstance(ask(backend(server.base_url))[0], Exception)
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_5_mb_reply_is_refused_unread():
    assert DEFAULT_MAX_BODY_BYTES == 1 << 20
    with RawServer(respond(200, FIVE_MB)) as server:
        (out, _), peak = _peak_while(lambda: ask(backend(server.base_url, max_retries=2)))
    assert type(out) is BackendBadReply
    assert "over the cap of 1 MiB; not read" in str(out) and "(1 attempt)" in str(out)
    assert len(server.requests) == 1  # not retried: it would say the same again
    assert peak < 1 << 20, peak  # not even the cap's worth was read


def test_an_endless_body_is_cut_at_the_cap():
    with RawServer(endless()) as server:
        (out, elapsed), peak = _peak_while(lambda: ask(backend(server.base_url)))
    assert type(out) is BackendBadReply and "passed 1 MiB; reading stopped" in str(out)
    assert elapsed < 5
    assert peak < 3 * (1 << 20), peak  # about the cap (1 MiB), not the ~GB it would reach


def test_many_huge_replies_at_once_stay_small():
    """The report: 64 concurrent 5 MB replies took the process to 968 MiB."""
    cap = 256 * 1024

    async def many(url):
        b = backend(url, max_body_bytes=cap, concurrency=32)
        try:
            return await asyncio.gather(
                *(b.generate(MESSAGES, Sampling()) for _ in range(32)), return_exceptions=True
            )
        finally:
            await b.aclose()

    with RawServer(endless()) as server:
        outs, peak = _peak_while(lambda: asyncio.run(many(server.base_url)))
    assert all(type(o) is BackendBadReply for o in outs), outs[:3]
    assert peak < 32 * cap * 2.5, peak  # about one cap per reply, never the whole body


def test_a_stream_event_without_end_is_cut_at_the_cap():
    with RawServer(endless(b"data: " + b"x" * 65536, "text/event-stream")) as server:
        message, elapsed = failed(server, BackendBadReply, stream=True, max_body_bytes=100_000)
    assert "a stream event passed" in message and elapsed < 3


def test_a_streamed_reply_is_capped_in_total():
    events = [chunk_json("y" * 1000)] * 200  # 200 KB of text in well-formed events
    with RawServer(sse(events)) as server:
        message, _ = failed(server, BackendBadReply, stream=True, max_body_bytes=64 * 1024)
    assert "the streamed reply passed 64 KiB" in message


def test_a_compressed_reply_is_refused():
    headers = (("Content-Encoding", "gzip"),)
    with RawServer(respond(200, completion_json(), headers=headers)) as server:
        message, _ = failed(server, BackendBadReply)
    assert "compressed (gzip)" in message
    assert server.requests[0].headers["accept-encoding"] == "identity"


# ------------------------------------------------------------------------ lying servers


@pytest.mark.parametrize(
    "body, content_type, expected",
    [
        ('{"choices": [', "application/json", 'is not JSON: {"choices": ['),
        ("<html>maintenance</html>", "text/html", "(text/html) is not JSON: <html>maintenance"),
        ("", "application/json", "is not JSON: (empty)"),
        ('["a", "list"]', "application/json", "JSON but not an object"),
        (
            json.dumps({"error": {"message": "\x1b[31mquota exceeded", "code": 429}}),
            "application/json",
            "HTTP 200 carrying an error: \\x1b[31mquota exceeded",
        ),
        (completion_json(choices=[]), "application/json", "the reply has no choices"),
        (completion_json(choices=None), "application/json", "the reply has no choices"),
        (
            completion_json(choices=[{"index": 0, "finish_reason": "stop"}]),
            "application/json",
            "choices[0] has no message",
        ),
        (
            completion_json(choices=[{"index": 0, "message": None}]),
            "application/json",
            "choices[0] has no message",
        ),
        (completion_json(None), "application/json", "no content (finish_reason 'stop')"),
        (completion_json(42), "application/json", "content is a int, not text"),
        (
            completion_json([{"type": "image_url", "image_url": {"url": "x"}}]),
            "application/json",
            "holds a image_url part",
        ),
    ],
    ids=[
        "invalid-json",
        "html-200",
        "empty-body",
        "json-list",
        "error-in-200",
        "empty-choices",
        "null-choices",
        "no-message",
        "null-message",
        "null-content",
        "number-content",
        "image-part",
    ],
)
def test_a_200_that_is_not_a_completion_is_a_bad_reply(body, content_type, expected):
    with RawServer(respond(200, body, content_type)) as server:
        message, elapsed = failed(server, BackendBadReply, max_retries=3)
    assert "bad reply: " in message and expected in message, message
    assert "(1 attempt)" in message and len(server.requests) == 1
    assert elapsed < 2 and len(message) <= 600


def test_replies_that_are_the_models_doing_are_replies():
    parts = [{"type": "text", "text": "b"}, {"type": "text", "text": "2"}]
    cases = [
        (completion_json(parts), "b2"),  # content as a list of parts
        (completion_json(""), ""),  # an empty answer: an illegal move, not an error
    ]
    length = json.loads(completion_json(None))
    length["choices"][0]["finish_reason"] = "length"  # ran out of tokens (thinking)
    cases.append((json.dumps(length), ""))
    refusal = json.loads(completion_json(None))
    refusal["choices"][0]["message"]["refusal"] = "I will not play."
    cases.append((json.dumps(refusal), "I will not play."))
    for body, text in cases:
        with RawServer(respond(200, body)) as server:
            out, _ = ask(backend(server.base_url))
        assert not isinstance(out, Exception), out
        assert out.text == text and out.prompt_tokens == 10


# ------------------------------------------------------------------------ broken streams


def test_a_complete_stream_without_done_but_with_a_finish_reason_is_fine():
    events = [chunk_json("b2"), chunk_json(None, "stop")]
    with RawServer(sse(events, done=False)) as server:
        pieces: list[str] = []
        out, _ = ask(backend(server.base_url), stream=True, pieces=pieces)
    assert not isinstance(out, Exception), out
    assert out.text == "b2" == "".join(pieces) and out.finish_reason == "stop"


@pytest.mark.parametrize(
    "behaviour, expected",
    [
        (sse([chunk_json("b2")], done=False), "neither [DONE] nor a finish_reason"),
        (sse([chunk_json("b2")], done=False, chunked=False), "neither [DONE] nor a finish_reason"),
        (sse([chunk_json("b2"), chunk_json(None, "stop")], cut=70), "connection failed"),
        (
            sse([chunk_json("b2"), chunk_json(None, "stop")], cut=70, chunked=False),
            "neither [DONE] nor a finish_reason",
        ),
    ],
    ids=["no-done-chunked", "no-done-closed", "cut-mid-event-chunked", "cut-mid-event-closed"],
)
def test_a_cut_stream_is_unavailable_and_retried(behaviour, expected):
    with RawServer(behaviour) as server:
        message, _ = failed(server, BackendUnavailable, stream=True, max_retries=1)
    assert expected in message and "(2 attempts)" in message
    assert len(server.requests) == 2


def test_a_stream_that_goes_on_after_done_is_not_waited_for():
    def done_then_endless(conn, req):
        conn.head(200, "text/event-stream", None, (("transfer-encoding", "chunked"),))
        for line in (f"data: {chunk_json('b2')}\n\n", "data: [DONE]\n\n"):
            conn.send(f"{len(line):x}\r\n{line}\r\n")
        while conn.send(b"5\r\nxxxxx\r\n"):
            pass

    with RawServer(done_then_endless) as server:
        out, elapsed = ask(backend(server.base_url, timeout_s=3), stream=True)
    assert not isinstance(out, Exception), out
    assert out.text == "b2" and elapsed < 2


@pytest.mark.parametrize(
    "events, expected",
    [
        (["not json"], "a stream event is not JSON: not json"),
        ([json.dumps({"error": {"message": "overloaded"}})], "bad reply: overloaded"),
        ([json.dumps({"choices": [42]})], "not a completion chunk"),
    ],
    ids=["garbage", "error-event", "bad-chunk"],
)
def test_a_stream_of_the_wrong_things_is_a_bad_reply(events, expected):
    with RawServer(sse(events)) as server:
        message, _ = failed(server, BackendBadReply, stream=True, max_retries=2)
    assert expected in message and len(server.requests) == 1


# ------------------------------------------------------------------------------ settings


def test_deadline_defaults():
    b = OpenAIBackend("http://127.0.0.1:9/v1", "m")
    assert b.timeout_s == 120.0 and b.total_timeout_s == 360.0
    assert b.max_body_bytes == 1 << 20
    assert OpenAIBackend("http://x/v1", "m", timeout_s=10).total_timeout_s == 30
    for bad in ({"total_timeout_s": 0}, {"max_body_bytes": 10}):
        with pytest.raises(ValueError):
            OpenAIBackend("http://x/v1", "m", **bad)


# ---------------------------------------------------------------------- whole matches


DIRECT = PromptOptions(reasoning="direct", include_rules=False)


def match_against(url: str, **kw):
    """The model (seat 0, on `url`) against the random bot at tic-tac-toe; (result, seconds)."""

    async def scenario():
        model = LLMPlayer(
            "remote", backend(url, **kw), prompt=DIRECT, sampling=Sampling(max_tokens=8)
        )
        try:
            return await play_match(
                games.make("tictactoe"),
                [model, BotPlayer("bot", "random")],
                seed=0,
                rules=MatchRules(retries=1, on_exhausted="forfeit"),
            )
        finally:
            await model.backend.aclose()

    started = time.monotonic()
    result = asyncio.run(scenario())
    return result, time.monotonic() - started


def assert_match_error(result, words: str):
    assert result.status == "error", result
    assert result.returns is None and result.forfeit_seat is None
    assert result.moves == []  # the failed request left no move, illegal or forced
    assert result.error.startswith("remote: ") and words in result.error


def test_a_match_against_a_trickling_server_ends_in_error_not_forfeit():
    with RawServer(trickle(completion_json("b2"), interval_s=0.1)) as server:
        result, elapsed = match_against(server.base_url, timeout_s=0.6, max_retries=1)
    assert_match_error(result, "timed out")
    assert elapsed < 3


@pytest.mark.parametrize(
    "behaviour, words",
    [
        (respond(200, FIVE_MB), "over the cap of 1 MiB"),
        (respond(200, "<html>hello</html>", "text/html"), "is not JSON"),
        (die_after(completion_json("b2"), 40), "connection failed"),
    ],
    ids=["5mb", "html", "dies"],
)
def test_a_match_against_a_lying_or_dying_server_ends_in_error(behaviour, words):
    with RawServer(behaviour) as server:
        result, elapsed = match_against(server.base_url)
    assert_match_error(result, words)
    assert len(json.dumps(result.to_dict(), default=str)) < 4096  # no megabytes stored
    assert elapsed < 3


def test_arena_match_against_a_5_mb_server_stores_an_unrated_error(tmp_path):
    from arena.store.db import open_db
    from arena.store.queries import is_match_rated, list_matches, match_transcript

    db_path = tmp_path / "arena.db"
    spec = tmp_path / "remote.toml"
    with RawServer(respond(200, FIVE_MB)) as server:
        spec.write_text(
            'name = "remote"\nkind = "openai"\n'
            f'base_url = "{server.base_url}"\nmodel = "hostile"\napi_key_env = "ARENA_NO_KEY"\n'
            "timeout_s = 5\nmax_retries = 1\n"
            '[prompt]\nreasoning = "direct"\ninclude_rules = false\n'
        )
        out = subprocess.run(
            [sys.executable, "-m", "arena.cli", "--db", str(db_path), "match", "tictactoe"]
            + [str(spec), "random", "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            env=dict(os.environ, ARENA_NO_KEY="sk-local-test-key"),  # (a key that is set)
        )
    assert out.returncode == 1, out.stderr
    assert "match error: remote: " in out.stderr and "over the cap of 1 MiB" in out.stderr
    record = json.loads(out.stdout)
    assert record["status"] == "error" and record["moves"] == []
    assert record["returns"] is None and record["forfeit_seat"] is None
    assert len(server.requests) == 1  # not retried
    db = open_db(db_path)
    try:
        (row,) = list_matches(db)
        assert row["status"] == "error" and "over the cap" in row["error"]
        assert not row["rated"] and not is_match_rated(db, row["id"])
        assert match_transcript(db, row["id"])["moves"] == []
    finally:
        db.close()
    assert db_path.stat().st_size < 1 << 20  # nothing near the 5 MB reached the store


def test_a_players_spec_sets_the_reply_cap_and_the_total_budget():
    """`max_body_bytes` and `total_timeout_s` in a player's spec reach the backend it plays
    through: a 5 KB reply is refused under a 2 KB cap, and a hanging server is given up on
    when the whole budget is spent, not after every attempt's own deadline."""
    from arena.players.factory import BackendPool
    from arena.specs import parse_spec

    def spec_backend(url: str, **fields):
        data = {"name": "s", "kind": "openai", "base_url": url, "model": "m", "api_key_env": ""}
        return BackendPool().get(parse_spec({**data, **fields}))

    with RawServer(respond(200, completion_json("x" * 5000))) as big:
        out, _ = ask(spec_backend(big.base_url, max_body_bytes=2048, max_retries=0))
    assert isinstance(out, BackendBadReply) and "over the cap of 2 KiB" in str(out)
    with RawServer(hang()) as stuck:
        b = spec_backend(stuck.base_url, timeout_s=5, total_timeout_s=1.0, max_retries=3)
        out, elapsed = ask(b)
    assert isinstance(out, BackendTimeout) and elapsed < 3
