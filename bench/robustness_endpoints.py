"""What the OpenAI-compatible backend makes of servers that trickle, hang, lie or die.

    python bench/robustness_endpoints.py [--timeout 1.5] [--retries 1] [--markdown]

Each misbehaviour is a real server on 127.0.0.1 (`RawServer` from tests/servers.py, which
writes every byte on the wire itself); the backend asks it once (with `--retries` retries,
`--timeout` seconds per attempt, fast backoff) and the table shows what came out: the
exception (or the reply), its message without the endpoint prefix, the attempts, the seconds it
took, the bytes the server managed to send and the peak of Python memory allocated meanwhile.
Exits 1 when a misbehaviour gives anything but its expected outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from servers import (  # noqa: E402
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

from arena.backends.base import Sampling  # noqa: E402
from arena.backends.openai_backend import OpenAIBackend  # noqa: E402
from arena.safe_text import one_line  # noqa: E402

FIVE_MB = completion_json("x" * 5_000_000)
PARTS = [{"type": "text", "text": "b"}, {"type": "text", "text": "2"}]


def _drip(conn, req):
    """A well-formed stream event every 0.05 s, forever."""
    conn.head(200, "text/event-stream", None, (("transfer-encoding", "chunked"),))
    line = f"data: {chunk_json('b')}\n\n"
    while conn.send(f"{len(line):x}\r\n{line}\r\n"):
        conn.wait(0.05)


# (misbehaviour, behaviour or None for "nothing listens", streamed?, RawServer options,
#  the expected outcome: an exception's class name or "reply")
CASES = [
    ("trickle: 1 byte / 0.1 s", trickle(completion_json("b2"), 0.1), False, {}, "BackendTimeout"),
    ("stream that never ends", _drip, True, {}, "BackendTimeout"),
    ("hang after the request", hang(), False, {}, "BackendTimeout"),
    ("accept, never read", hang(), False, {"read_request": False}, "BackendTimeout"),
    ("connection refused", None, False, {}, "BackendUnavailable"),
    ("reset at once", reset_at_once(), False, {}, "BackendUnavailable"),
    ("dies mid-body", die_after(completion_json("b2"), 40), False, {}, "BackendUnavailable"),
    (
        "502 HTML page",
        respond(502, "<html>502 Bad Gateway\x1b[2J</html>", "text/html"),
        False,
        {},
        "BackendUnavailable",
    ),
    (
        "429 every time",
        respond(429, '{"error": {"message": "slow down"}}'),
        False,
        {},
        "BackendUnavailable",
    ),
    ("404", respond(404, '{"error": {"message": "no such model"}}'), False, {}, "BackendError"),
    ("5 MB body (Content-Length)", respond(200, FIVE_MB), False, {}, "BackendBadReply"),
    ("endless chunked body", endless(), False, {}, "BackendBadReply"),
    (
        "gzip although not asked",
        respond(200, completion_json(), headers=(("Content-Encoding", "gzip"),)),
        False,
        {},
        "BackendBadReply",
    ),
    ("invalid JSON", respond(200, '{"choices": ['), False, {}, "BackendBadReply"),
    ("text/html 200", respond(200, "<html>hi</html>", "text/html"), False, {}, "BackendBadReply"),
    (
        "200 with an error body",
        respond(200, json.dumps({"error": {"message": "\x1b[31mquota"}})),
        False,
        {},
        "BackendBadReply",
    ),
    ("empty choices", respond(200, completion_json(choices=[])), False, {}, "BackendBadReply"),
    (
        "choices[0] without message",
        respond(200, completion_json(choices=[{"index": 0, "finish_reason": "stop"}])),
        False,
        {},
        "BackendBadReply",
    ),
    ("null content", respond(200, completion_json(None)), False, {}, "BackendBadReply"),
    ("content as parts", respond(200, completion_json(PARTS)), False, {}, "reply"),
    (
        "stream: no [DONE], no finish",
        sse([chunk_json("b2")], done=False),
        True,
        {},
        "BackendUnavailable",
    ),
    (
        "stream: cut mid-event (chunked)",
        sse([chunk_json("b2"), chunk_json(None, "stop")], cut=70),
        True,
        {},
        "BackendUnavailable",
    ),
    (
        "stream: cut mid-event (close)",
        sse([chunk_json("b2"), chunk_json(None, "stop")], cut=70, chunked=False),
        True,
        {},
        "BackendUnavailable",
    ),
    ("stream: not JSON", sse(["<html>"]), True, {}, "BackendBadReply"),
    (
        "stream: endless event",
        endless(b"data: " + b"x" * 65536, "text/event-stream"),
        True,
        {},
        "BackendBadReply",
    ),
    (
        "stream: ok, no [DONE]",
        sse([chunk_json("b2"), chunk_json(None, "stop")], done=False),
        True,
        {},
        "reply",
    ),
]


def run_case(behaviour, stream: bool, options: dict, args) -> dict:
    server = RawServer(behaviour, **options) if behaviour is not None else None
    url = server.base_url if server else f"http://127.0.0.1:{free_port()}/v1"
    b = OpenAIBackend(
        url,
        "hostile",
        api_key_env=None,
        timeout_s=args.timeout,
        max_retries=args.retries,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    )

    async def go():
        try:
            on_text = (lambda _: None) if stream else None
            return await b.generate(
                [{"role": "user", "content": "Your move?"}], Sampling(), on_text=on_text
            )
        finally:
            await b.aclose()

    if server:
        server.start()
    tracemalloc.start()
    started = time.monotonic()
    try:
        gen = asyncio.run(go())
        outcome, message = "reply", f"text {gen.text!r}, finish {gen.finish_reason}"
    except Exception as exc:  # noqa: BLE001 - the table shows whatever came out
        outcome, message = type(exc).__name__, str(exc)
    elapsed = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if server:
        server.stop()
    attempts = re.search(r"\((\d+) attempts?", message)
    message = re.sub(r"^hostile at \S+?/chat/completions: ", "", message)
    message = re.sub(r" \(\d+ attempts?[^)]*\)$", "", message)
    return {
        "outcome": outcome,
        "message": one_line(message, args.width),
        "attempts": attempts.group(1) if attempts else "1",
        "elapsed": elapsed,
        "sent": server.sent_bytes if server else 0,
        "peak": peak,
    }


def _bytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB" if n >= 1e3 else f"{n} B"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=1.5, help="timeout_s per attempt")
    ap.add_argument("--retries", type=int, default=1, help="max_retries")
    ap.add_argument("--width", type=int, default=90, help="message column width")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = ap.parse_args()

    # One ordinary request first: the libraries import some modules at their first use.
    run_case(respond(200, completion_json()), False, {}, args)
    rows = []
    bad = 0
    for name, behaviour, stream, options, expected in CASES:
        row = run_case(behaviour, stream, options, args)
        ok = row["outcome"].startswith(expected)
        bad += not ok
        rows.append((name, row, ok))

    header = ("misbehaviour", "outcome", "tries", "s", "sent", "peak", "message")
    cells = [
        (
            name + ("" if ok else "  << UNEXPECTED"),
            r["outcome"],
            r["attempts"],
            f"{r['elapsed']:.2f}",
            _bytes(r["sent"]),
            _bytes(r["peak"]),
            r["message"],
        )
        for name, r, ok in rows
    ]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for c in cells:
            print("| " + " | ".join(x.replace("|", "\\|") for x in c) + " |")
    else:
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
        for c in cells:
            print("  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip())
    print(
        f"\ntimeout_s={args.timeout:g} per attempt, max_retries={args.retries}, "
        "max_body_bytes=1 MiB; peak = Python memory allocated during the request (tracemalloc)"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
