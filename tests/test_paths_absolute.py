"""Paths a user gives are stored absolute (a player works from any directory), a spec file's
relative paths are read from the file's own folder, and every install hint names the real
distribution, `arena-games`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from click.testing import CliRunner

from arena.cli import cli
from arena.examples import example_path
from arena.specs import load_specs
from arena.store import open_db
from arena.store.players import find_player, get_player
from arena.store.queries import list_matches
from arena.tournament.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def arena(db: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(db), *args])


def test_players_add_stores_a_relative_gguf_absolute_and_it_plays_from_elsewhere(
    tmp_path, monkeypatch, tiny_gguf
):
    home = tmp_path / "project"
    (home / "models").mkdir(parents=True)
    shutil.copy(tiny_gguf, home / "models" / "tiny.gguf")
    db = tmp_path / "arena.db"
    monkeypatch.chdir(home)
    out = arena(
        db,
        "players",
        "add",
        "tiny",
        "--kind",
        "llamacpp",
        "--path",
        "models/tiny.gguf",
        "--decode",
        "constrained",
        "--reasoning",
        "direct",
        "--max-tokens",
        "8",
    )
    assert out.exit_code == 0, out.output
    stored = get_player(open_db(str(db)), "tiny").spec["path"]
    assert stored == str((home / "models" / "tiny.gguf").resolve())

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # models/tiny.gguf means nothing here
    out = arena(db, "match", "tictactoe", "tiny", "random", "--seed", "2", "--on-illegal", "random")
    assert out.exit_code == 0, out.output
    [row] = list_matches(open_db(str(db)))
    assert row["status"] == "finished" and row["players"] == ["tiny", "random"]


def test_a_missing_model_path_is_an_error_naming_the_field(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "arena.db"
    out = arena(db, "players", "add", "ghost", "--kind", "llamacpp", "--path", "nowhere.gguf")
    assert out.exit_code == 2, out.output  # a bad option: named as the command line names it
    assert "--path: GGUF file 'nowhere.gguf' does not exist" in out.output
    out = arena(db, "players", "add", "ghost", "--kind", "transformers", "--model", "./no-folder")
    assert out.exit_code == 2, out.output
    assert "--model: model folder './no-folder' does not exist" in out.output
    assert find_player(open_db(str(db)), "ghost") is None


def test_other_model_paths_given_relative_are_stored_absolute(tmp_path, monkeypatch):
    (tmp_path / "hf").mkdir()
    (tmp_path / "served.gguf").write_bytes(b"GGUF")
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "arena.db"
    out = arena(db, "players", "add", "hf", "--kind", "transformers", "--model", "./hf")
    assert out.exit_code == 0, out.output
    out = arena(
        db,
        "players",
        "add",
        "served",
        "--kind",
        "openai",
        "--model",
        "m",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--api-key-env",
        "",
        "--set",
        "gguf_path=served.gguf",
    )
    assert out.exit_code == 0, out.output
    store = open_db(str(db))
    assert get_player(store, "hf").spec["model"] == str((tmp_path / "hf").resolve())
    assert get_player(store, "served").spec["gguf_path"] == str(
        (tmp_path / "served.gguf").resolve()
    )


def test_a_spec_files_relative_paths_are_read_from_its_own_folder(tmp_path, monkeypatch):
    specs = tmp_path / "specs"
    (specs / "hf").mkdir(parents=True)
    (tmp_path / "served.gguf").write_bytes(b"GGUF")
    (specs / "players.toml").write_text(
        '[[players]]\nname = "hf"\nkind = "transformers"\nmodel = "hf"\n'
        '[[players]]\nname = "hub"\nkind = "transformers"\nmodel = "org/some-model"\n'
        '[[players]]\nname = "served"\nkind = "openai"\nmodel = "m"\napi_key_env = ""\n'
        'gguf_path = "../served.gguf"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # neither hf/ nor ../served.gguf is there from here
    hf, hub, served = load_specs(Path("../specs/players.toml"))
    assert hf.model == str((specs / "hf").resolve())
    assert hub.model == "org/some-model"  # a hub id stays one
    assert served.gguf_path == str((tmp_path / "served.gguf").resolve())

    config = specs / "tournament.toml"
    config.write_text(
        'games = ["tictactoe"]\nplayers = ["random", "served"]\n'
        '[[player]]\nname = "served"\nkind = "openai"\nmodel = "m"\napi_key_env = ""\n'
        'gguf_path = "../served.gguf"\n'
    )
    [inline] = load_config(config).inline_specs()
    assert inline.gguf_path == str((tmp_path / "served.gguf").resolve())


def test_a_spec_file_imported_from_another_directory_finds_its_model(
    tmp_path, monkeypatch, tiny_gguf
):
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(tiny_gguf, folder / "tiny.gguf")
    (folder / "tiny.toml").write_text('name = "tiny"\nkind = "llamacpp"\npath = "tiny.gguf"\n')
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "arena.db"
    out = arena(db, "players", "import", "mine/tiny.toml")
    assert out.exit_code == 0, out.output
    assert get_player(open_db(str(db)), "tiny").spec["path"] == str(
        (folder / "tiny.gguf").resolve()
    )


def test_the_bundled_examples_work_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "arena.db"
    out = arena(db, "examples", "path", "players.toml")
    assert out.exit_code == 0, out.output
    path = Path(out.output.strip())
    assert path.is_absolute() and path == example_path("players.toml")
    out = arena(db, "players", "import", str(path))
    assert out.exit_code == 0, out.output
    assert find_player(open_db(str(db)), "minimax-d2") is not None
    out = arena(db, "examples", "path", "nope.toml")
    assert out.exit_code == 1 and "no example named 'nope.toml'" in out.output
    # The README's commands name no file by a path that only exists in a source checkout.
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.lstrip().startswith("arena "):
            assert " assets/" not in line, line


def test_every_install_hint_names_the_arena_games_distribution():
    files = [ROOT / "README.md", ROOT / "demo.py"]
    for folder in ("arena", "games", "bench"):
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".toml")]
    hints = 0
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        # `pip install 'arena[...]'` names a distribution that is not this one.
        wrong = re.findall(r"(?<![\w-])arena\[", text)
        assert not wrong, f"{path}: an install hint names 'arena[...]', not 'arena-games[...]'"
        hints += text.count("arena-games[")
    assert hints >= 2  # the hints exist: the check looked at the right files
