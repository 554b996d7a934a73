"""Hostile text through every output path: a real server on 127.0.0.1 answers with escape
sequences, C1 controls and bidi overrides; a server error carries them; names, a tournament, a
model field, a job's error and its log hold them. Every command that shows any of it must show
it visibly (escaped), never pass a control character to the terminal, and `--json` and exports
must carry them as JSON escapes.

Click strips ANSI colour sequences itself when its output is not a terminal, which would hide a
leak of ESC: the commands run with `color=True`, as on a terminal."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from hostile_cases import HOSTILE, OUTPUT_COMMANDS, build_hostile_db, run_in_process

from arena.safe_text import has_unsafe, one_line


def run(db: Path, *args: str) -> tuple[int, str]:
    return run_in_process(db, *args)


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return build_hostile_db(tmp_path_factory.mktemp("hostile"))


def _match_ids(db: Path) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM matches ORDER BY id")]
    finally:
        conn.close()


COMMANDS = OUTPUT_COMMANDS


def test_the_hostile_text_was_recorded(hostile_db: dict) -> None:
    """The setup did what it says: the replies and the server's error are in the record."""
    conn = sqlite3.connect(hostile_db["db"])
    try:
        replies = [r[0] for r in conn.execute("SELECT reply FROM moves WHERE reply IS NOT NULL")]
        errors = [r[0] for r in conn.execute("SELECT error FROM matches WHERE error IS NOT NULL")]
    finally:
        conn.close()
    assert any(HOSTILE in r for r in replies)  # stored verbatim: the record is the truth
    assert any("overloaded" in e for e in errors)


@pytest.mark.parametrize(
    "step", ["match", "match --json", "match (server error)", "tournament run"]
)
def test_live_output_is_sanitised(hostile_db: dict, step: str) -> None:
    out = hostile_db["outputs"][step]
    assert not has_unsafe(out), f"{step} printed a raw control character: {out!r}"


@pytest.mark.parametrize("args", COMMANDS, ids=[one_line(" ".join(a), 40) for a in COMMANDS])
def test_every_command_shows_hostile_text_escaped(hostile_db: dict, args: tuple[str, ...]) -> None:
    code, out = run(hostile_db["db"], *args)
    assert not has_unsafe(out), f"`arena {' '.join(args)}` printed a raw control: {out!r}"
    assert code == 0, out


def test_match_transcripts_show_the_reply_escaped(hostile_db: dict) -> None:
    for match_id in _match_ids(hostile_db["db"]):
        for extra in ((), ("--prompts",), ("--json",)):
            code, out = run(hostile_db["db"], "matches", "show", str(match_id), *extra)
            assert code == 0, out
            assert not has_unsafe(out), out
    code, out = run(hostile_db["db"], "matches", "show", str(_match_ids(hostile_db["db"])[0]))
    assert "\\x1b[2J" in out and "\\u202e" in out  # shown, visibly


def test_json_output_and_exports_round_trip_the_exact_text(hostile_db: dict) -> None:
    target = hostile_db["tmp"] / "export.jsonl"
    code, out = run(hostile_db["db"], "export", "matches", "--out", str(target))
    assert code == 0, out
    raw = target.read_text(encoding="utf-8")
    assert not has_unsafe(raw)
    replies = [json.loads(line).get("reply") or "" for line in raw.splitlines()]
    assert any(HOSTILE in r for r in replies)  # the data is exact; only its spelling is safe
