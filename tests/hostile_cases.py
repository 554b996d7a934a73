"""Hostile inputs a user (or an attacker) can hand the CLI, each with what must come out.

Used by `tests/test_hostile_inputs.py` (every case must hold) and `bench/robustness.py` (the
summary table for the notes). Each case builds its input in a fresh folder, runs
`python -m arena.cli ...` as a user would, and is judged on:

- a clear error: exit code 1 or 2, a line starting `Error:`, no traceback;
- nothing lost: an arena database that was there before is byte-for-byte the same (or, where the
  command may write, still holds every match it held);
- a foreign file given as the database is never modified.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from servers import RawServer, completion_json, respond

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    clear_error: bool
    traceback: bool
    unchanged: bool  # the files that must not change did not

    @property
    def verdict(self) -> str:
        if self.traceback:
            return "TRACEBACK"
        if not self.unchanged:
            return "DATA CHANGED"
        return "clear error" if self.clear_error else f"exit {self.code}"


@dataclass
class Case:
    kind: str  # what sort of input: database, config, spec, option, ...
    name: str
    path: str  # which command it goes through
    setup: Callable[[Path], tuple[list[str], list[Path]]]
    """Builds the input in a folder; returns the arguments after `arena` and the files that
    must come out unchanged."""


def arena(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "arena.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    return proc.returncode, proc.stdout, proc.stderr


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"


def run_case(case: Case, folder: Path) -> Outcome:
    folder.mkdir(parents=True, exist_ok=True)
    args, keep = case.setup(folder)
    before = {p: digest(p) for p in keep}
    code, out, err = arena(args, folder)
    unchanged = all(digest(p) == d for p, d in before.items())
    clear = code in (1, 2) and "Error:" in err and "Traceback" not in err
    return Outcome(code, out, err, clear, "Traceback" in err + out, unchanged)


# --- inputs ---------------------------------------------------------------------------------


_TEMPLATE: list[Path] = []


def arena_db(folder: Path) -> Path:
    """A real arena database with one stored bot match (made once, then copied)."""
    import shutil

    path = folder / "arena.db"
    if not _TEMPLATE:
        first = folder / "template.db"
        code, _, err = arena(
            ["--db", str(first), "match", "tictactoe", "random", "random", "--seed", "1"], folder
        )
        assert code == 0, err
        conn = sqlite3.connect(first)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        _TEMPLATE.append(first)
    shutil.copyfile(_TEMPLATE[0], path)
    path.chmod(0o600)
    return path


def foreign_db(folder: Path) -> Path:
    path = folder / "notes.sqlite"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('my data')")
    conn.close()
    return path


def _db_case(name: str, make: Callable[[Path], Path], *command: str) -> Case:
    def setup(folder: Path) -> tuple[list[str], list[Path]]:
        path = make(folder)
        return ["--db", str(path), *(command or ("players", "list"))], [path]

    return Case("database", name, " ".join(command or ("players", "list")), setup)


def _random_bytes(folder: Path) -> Path:
    path = folder / "random.db"
    path.write_bytes(os.urandom(8192))
    return path


def _version_only(folder: Path) -> Path:
    path = folder / "v1.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    return path


def _newer_schema(folder: Path) -> Path:
    path = arena_db(folder)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    return path


def _truncated(folder: Path) -> Path:
    path = arena_db(folder)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def _a_directory(folder: Path) -> Path:
    path = folder / "dir.db"
    path.mkdir()
    return path


def _toml(text: str | bytes, name: str = "t.toml") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path

    return make


_GOOD_CONFIG = 'name = "x"\ngames = ["tictactoe"]\nplayers = ["random", "minimax"]\n'


def _config_case(name: str, text: str | bytes) -> Case:
    def setup(folder: Path) -> tuple[list[str], list[Path]]:
        db = arena_db(folder)
        config = _toml(text)(folder)
        return ["--db", str(db), "tournament", "run", "--config", str(config), "--quiet"], [db]

    return Case("tournament config", name, "tournament run --config", setup)


def _spec_case(name: str, text: str, command: str = "import") -> Case:
    def setup(folder: Path) -> tuple[list[str], list[Path]]:
        db = arena_db(folder)
        spec = _toml(text, "player.toml")(folder)
        if command == "import":
            return ["--db", str(db), "players", "import", str(spec)], [db]
        return ["--db", str(db), "match", "tictactoe", str(spec), "random"], [db]

    return Case(
        "player spec", name, f"players {command}" if command == "import" else "match", setup
    )


def _option_case(kind: str, name: str, *command: str, gguf: bytes | None = None) -> Case:
    def setup(folder: Path) -> tuple[list[str], list[Path]]:
        from model_folders import stub_model_folder

        db = arena_db(folder)
        stub_model_folder(folder / "model")
        if gguf is not None:
            (folder / "model.gguf").write_bytes(gguf)
        (folder / "adir.gguf").mkdir(exist_ok=True)
        return ["--db", str(db), *command], [db]

    return Case(kind, name, " ".join(command[:2]), setup)


_OPENAI = 'name = "api"\nkind = "openai"\nmodel = "m"\n'

CASES: list[Case] = [
    _db_case("random bytes", _random_bytes),
    _db_case("a foreign SQLite file", foreign_db),
    _db_case("a foreign SQLite file (a write command)", foreign_db, "leaderboard"),
    _db_case("user_version=1, no tables", _version_only),
    _db_case("a newer schema", _newer_schema),
    _db_case("a truncated arena database", _truncated, "matches", "list"),
    _db_case("a directory", _a_directory),
    _config_case("not UTF-8", b'name = "\xff\xfe"\n' + _GOOD_CONFIG.encode()),
    _config_case("not TOML", "games = [tictactoe\n"),
    _config_case("an unknown key", _GOOD_CONFIG + "colour = 3\n"),
    _config_case("an unknown player", _GOOD_CONFIG.replace("minimax", "nobody-at-all")),
    _config_case("an unknown game", _GOOD_CONFIG.replace("tictactoe", "tetris")),
    _config_case("concurrency = nan", _GOOD_CONFIG + "concurrency = nan\n"),
    _config_case("concurrency = -1", _GOOD_CONFIG + "concurrency = -1\n"),
    _config_case("games_per_pair = inf", _GOOD_CONFIG + "games_per_pair = inf\n"),
    _config_case("seed over 64 bits", _GOOD_CONFIG + "seed = 1180591620717411303424\n"),
    _config_case("a format that does not exist", _GOOD_CONFIG + 'format = "knockout"\n'),
    _config_case("players is a string", 'games = ["tictactoe"]\nplayers = "random"\n'),
    _config_case("an empty file", ""),
    _spec_case("api key as the env name (sk-)", _OPENAI + 'api_key_env = "sk-proj-abc123DEF456"\n'),
    _spec_case("api key as the env name (hf_)", _OPENAI + 'api_key_env = "hf_abcdefghijklmnop"\n'),
    _spec_case(
        "api key as the env name (AKIA)", _OPENAI + 'api_key_env = "AKIAABCDEFGHIJKLMNOP"\n'
    ),
    _spec_case(
        "credentials in base_url", _OPENAI + 'base_url = "https://u:hunter2@h.example/v1"\n'
    ),
    _spec_case("temperature = nan", _OPENAI + "temperature = nan\n"),
    _spec_case("max_tokens = -5", _OPENAI + "max_tokens = -5\n"),
    _spec_case("an unknown kind", 'name = "x"\nkind = "telepathy"\n'),
    _spec_case("an unknown field", 'name = "x"\nkind = "bot"\nbot = "random"\nflavour = 1\n'),
    _spec_case("a GGUF that is not there", 'name = "g"\nkind = "llamacpp"\npath = "none.gguf"\n'),
    _spec_case("not TOML", "name = = 1\n"),
    _spec_case("a seed over 64 bits", _OPENAI + "seed = 1180591620717411303424\n", "match"),
    _option_case(
        "players add",
        "an empty GGUF",
        "players",
        "add",
        "g",
        "--kind",
        "llamacpp",
        "--path",
        "model.gguf",
        gguf=b"",
    ),  # fmt: skip
    _option_case(
        "players add",
        "random bytes as a GGUF",
        "players",
        "add",
        "g",
        "--kind",
        "llamacpp",
        "--path",
        "model.gguf",
        gguf=os.urandom(4096),
    ),  # fmt: skip
    _option_case(
        "players add",
        "a directory as a GGUF",
        "players",
        "add",
        "g",
        "--kind",
        "llamacpp",
        "--path",
        "adir.gguf",
    ),  # fmt: skip
    _option_case(
        "players add",
        "a secret as --api-key-env",
        "players",
        "add",
        "o",
        "--kind",
        "openai",
        "--model",
        "m",
        "--api-key-env",
        "ghp_abcdefghijklmnop1234",
    ),  # fmt: skip
    _option_case(
        "players add",
        "a name with escape sequences",
        "players",
        "add",
        "evil\x1b[2J",
        "--kind",
        "bot",
        "--bot",
        "random",
    ),  # fmt: skip
    _option_case(
        "tournament run",
        "--concurrency -1",
        "tournament",
        "run",
        "--game",
        "tictactoe",
        "--player",
        "random",
        "--player",
        "minimax",
        "--concurrency",
        "-1",
    ),  # fmt: skip
    _option_case(
        "tournament run",
        "--games-per-pair 0",
        "tournament",
        "run",
        "--game",
        "tictactoe",
        "--player",
        "random",
        "--player",
        "minimax",
        "--games-per-pair",
        "0",
    ),  # fmt: skip
    _option_case(
        "match",
        "--seed over 64 bits",
        "match",
        "tictactoe",
        "random",
        "random",
        "--seed",
        "1180591620717411303424",
    ),  # fmt: skip
    _option_case("match", "an unknown player", "match", "tictactoe", "nobody", "random"),
    _option_case(
        "train start",
        "lr = inf",
        "train",
        "start",
        "--game",
        "kuhn_poker",
        "--base",
        ".",
        "--lr",
        "inf",
    ),  # fmt: skip
    _option_case(
        "train start",
        "a base that is not a model",
        "train",
        "start",
        "--game",
        "kuhn_poker",
        "--base",
        "adir.gguf",
    ),  # fmt: skip
    _option_case(
        "train start",
        "an unknown opponent",
        "train",
        "start",
        "--game",
        "kuhn_poker",
        "--base",
        ".",
        "--opponent",
        "nobody-at-all",
    ),  # fmt: skip
    _option_case(
        "train start",
        "steps = 0",
        "train",
        "start",
        "--game",
        "kuhn_poker",
        "--base",
        "model",
        "--steps",
        "0",
    ),  # fmt: skip
    _option_case("matches show", "a match that is not there", "matches", "show", "99999"),
    _option_case(
        "tournament resume", "a tournament that is not there", "tournament", "resume", "424242"
    ),  # fmt: skip
]

if shutil.which("nvidia-smi") is None:  # a machine with no GPU: asking for one is an error
    CASES.append(
        _option_case(
            "train start",
            "--device cuda with no GPU",
            "train",
            "start",
            "--game",
            "kuhn_poker",
            "--base",
            "model",
            "--device",
            "cuda",
        )  # fmt: skip
    )

SECRETS = ("sk-proj-abc123DEF456", "hf_abcdefghijklmnop", "AKIAABCDEFGHIJKLMNOP", "hunter2",
           "ghp_abcdefghijklmnop1234")  # fmt: skip


def summary(results: list[tuple[Case, Outcome]]) -> list[dict[str, object]]:
    """Counts per kind of input: tried, clear errors, tracebacks, data changed, secrets shown."""
    rows: dict[str, dict[str, object]] = {}
    for case, out in results:
        row = rows.setdefault(
            case.kind,
            {
                "kind": case.kind,
                "paths": set(),
                "tried": 0,
                "clear error": 0,
                "traceback": 0,
                "data changed": 0,
                "secret echoed": 0,
            },  # fmt: skip
        )
        row["paths"].add(case.path)  # type: ignore[union-attr]
        row["tried"] += 1  # type: ignore[operator]
        row["clear error"] += out.clear_error  # type: ignore[operator]
        row["traceback"] += out.traceback  # type: ignore[operator]
        row["data changed"] += not out.unchanged  # type: ignore[operator]
        row["secret echoed"] += any(s in out.stdout + out.stderr for s in SECRETS)  # type: ignore[operator]
    for row in rows.values():
        row["paths"] = ", ".join(sorted(row["paths"]))  # type: ignore[arg-type]
    return list(rows.values())


def as_json(results: list[tuple[Case, Outcome]]) -> str:
    return json.dumps(
        [
            {
                "kind": c.kind,
                "case": c.name,
                "path": c.path,
                "verdict": o.verdict,
                "code": o.code,
                "message": (o.stderr.strip().splitlines() or [""])[-1][:160],
            }  # fmt: skip
            for c, o in results
        ],
        indent=1,
    )


# --- hostile text for the output paths -------------------------------------------------------

HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x9b31m\u202eevil\u2066\x08\x7f\x00"
REPLY = f"{HOSTILE}\nThe board is mine.\nFinal answer: b2"
SERVER_ERROR = json.dumps({"error": {"message": f"overloaded {HOSTILE}", "type": "server"}})


def run_in_process(db: Path, *args: str) -> tuple[int, str]:
    """`arena --db DB ARGS` in this process, its output as a terminal would get it (click strips
    colour sequences off a pipe by itself, which would hide a leak)."""
    from click.testing import CliRunner

    from arena.cli import cli

    result = CliRunner().invoke(cli, ["--db", str(db), *args], color=True)
    return result.exit_code, result.output  # stdout and stderr, interleaved


def hostile_spec(path: Path, name: str, base_url: str) -> Path:
    path.write_text(
        f'name = "{name}"\nkind = "openai"\nbase_url = "{base_url}"\n'
        f'model = "m\\u001b[31m\\u202e"\napi_key_env = ""\nmax_retries = 0\n'
        '[prompt]\nreasoning = "direct"\n'
    )
    return path


def build_hostile_db(tmp: Path) -> dict:
    """A database full of hostile text, made the way it gets there: matches against real servers
    that answer with it, and rows an older or foreign-written database may hold. Returns the
    database, the output of the commands that made it, and the folder."""
    db = tmp / "arena.db"
    outputs: dict[str, str] = {}
    with (
        RawServer(respond(200, completion_json(REPLY))) as good,
        RawServer(respond(500, SERVER_ERROR)) as bad,
    ):
        good_spec = hostile_spec(tmp / "good.toml", "talker", good.base_url)
        bad_spec = hostile_spec(tmp / "bad.toml", "crasher", bad.base_url)
        outputs["match"] = run_in_process(
            db, "match", "tictactoe", str(good_spec), "random", "--seed", "1"
        )[1]
        outputs["match --json"] = run_in_process(
            db, "match", "tictactoe", str(good_spec), "random", "--seed", "2", "--json"
        )[1]
        outputs["match (server error)"] = run_in_process(
            db, "match", "tictactoe", str(bad_spec), "random", "--seed", "3"
        )[1]
        outputs["tournament run"] = run_in_process(
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


# Every command that shows stored text, run against `build_hostile_db`'s database.
OUTPUT_COMMANDS = [
    ("players", "list"),
    ("players", "show", f"p{HOSTILE}"),
    ("players", "show", "talker"),
    ("leaderboard",),
    ("leaderboard", "--json"),
    ("leaderboard", "--game", "tictactoe"),
    ("matches", "list"),
    ("matches", "list", "--json"),
    ("matches", "show", "1"),
    ("matches", "show", "1", "--prompts"),
    ("matches", "show", "1", "--json"),
    ("matches", "show", "3"),
    ("tournament", "list"),
    ("tournament", "list", "--json"),
    ("tournament", "show", "1"),
    ("tournament", "show", "1", "--json"),
    ("train", "list"),
    ("train", "show", "1"),
    ("train", "logs", "1"),
    ("export", "matches"),
]
