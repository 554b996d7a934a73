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
from click.testing import CliRunner
from servers import RawServer, completion_json, respond

from arena.cli import cli
from arena.safe_text import has_unsafe, one_line

HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x9b31m\u202eevil\u2066\x08\x7f\x00"
REPLY = f"{HOSTILE}\nThe board is mine.\nFinal answer: b2"
SERVER_ERROR = json.dumps({"error": {"message": f"overloaded {HOSTILE}", "type": "server"}})


def run(db: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", str(db), *args], color=True)
    return result.exit_code, result.output  # stdout and stderr, interleaved


def spec(path: Path, name: str, base_url: str) -> Path:
    path.write_text(
        f'name = "{name}"\nkind = "openai"\nbase_url = "{base_url}"\n'
        f'model = "m\\u001b[31m\\u202e"\napi_key_env = ""\nmax_retries = 0\n'
        '[prompt]\nreasoning = "direct"\n'
    )
    return path


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("hostile")
    db = tmp / "arena.db"
    outputs: dict[str, str] = {}
    with (
        RawServer(respond(200, completion_json(REPLY))) as good,
        RawServer(respond(500, SERVER_ERROR)) as bad,
    ):
        good_spec = spec(tmp / "good.toml", "talker", good.base_url)
        bad_spec = spec(tmp / "bad.toml", "crasher", bad.base_url)
        outputs["match"] = run(db, "match", "tictactoe", str(good_spec), "random", "--seed", "1")[1]
        outputs["match --json"] = run(
            db, "match", "tictactoe", str(good_spec), "random", "--seed", "2", "--json"
        )[1]
        outputs["match (server error)"] = run(
            db, "match", "tictactoe", str(bad_spec), "random", "--seed", "3"
        )[1]
        outputs["tournament run"] = run(
            db,
            "tournament", "run", "--game", "tictactoe", "--player", "talker",
            "--player", "random", "--games-per-pair", "1", "--name", f"t{HOSTILE}",
        )[1]  # fmt: skip
    # What an older or foreign-written database may hold: names and a job with hostile text.
    log = tmp / "job.log"
    log.write_text(f"step 1\n{HOSTILE}\nstep 2\n")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO players (name, kind, spec, created_at) VALUES (?, 'bot', ?, '2026')",
            (f"p{HOSTILE}", json.dumps({"kind": "bot", "name": f"p{HOSTILE}", "bot": "random"})),
        )
        conn.execute("UPDATE tournaments SET name = ? WHERE name NOT LIKE 't%'", (f"t{HOSTILE}",))
        conn.execute(
            "INSERT INTO jobs (name, status, config, error, log_path, created_at) "
            "VALUES (?, 'failed', '{}', ?, ?, '2026')",
            (f"j{HOSTILE}", f"boom {HOSTILE}", str(log)),
        )
    conn.close()
    return {"db": db, "outputs": outputs, "tmp": tmp}


def _match_ids(db: Path) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM matches ORDER BY id")]
    finally:
        conn.close()


COMMANDS = [
    ("players", "list"),
    ("players", "show", f"p{HOSTILE}"),
    ("players", "show", "talker"),
    ("leaderboard",),
    ("leaderboard", "--json"),
    ("leaderboard", "--game", "tictactoe"),
    ("matches", "list"),
    ("matches", "list", "--json"),
    ("tournament", "list"),
    ("tournament", "list", "--json"),
    ("tournament", "show", "1"),
    ("tournament", "show", "1", "--json"),
    ("train", "list"),
    ("train", "show", "1"),
    ("train", "logs", "1"),
    ("export", "matches"),
]


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
