"""A generation-mode job's sampled replies (`<job dir>/samples/step-N.jsonl`), read back: the
reader in `arena.jobs`, `arena train samples`, and the Training section's samples pane. The
files are untrusted: corrupt lines are skipped and counted, hostile text is never shown raw."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from model_folders import stub_model_folder

from arena.cli import cli
from arena.jobs import (
    REPLY_CHARS,
    JobError,
    create_job,
    get_job,
    job_dir,
    parse_sample,
    read_samples,
    sample_steps,
)
from arena.store import open_db
from arena.train_config import parse_config

HOSTILE = "\x1b[31mred\x1b[0m \x1b]52;c;aGVsbG8=\x07 \x9b2J \u202eevil \x08\r"


def _sample(move: str | None, text: str, **extra) -> dict:
    data = {
        "game_id": "kuhn_poker",
        "seed": 7,
        "seat": 0,
        "prompt_tail": "Your card: K. Legal moves: bet, check",
        "text": text,
        "action": move,
        "legal": move is not None,
        "formatted": move is not None,
        "finish_reason": "stop",
        "reply_tokens": 42,
        "return": 1.0,
        "reward": 0.0,
        "answer_index": -1,
        "answer_logprob": 0.0,
    }
    data.update(extra)
    return data


def _write(folder: Path, step: int, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"step-{step}.jsonl").write_text("".join(x + "\n" for x in lines), "utf-8")


@pytest.fixture
def jobs(tmp_path: Path) -> dict:
    """A database with two generation-mode jobs: `thinker` with samples at steps 0, 5 and 10
    (corrupt and hostile lines among them), `quiet` with none."""
    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    base = stub_model_folder(tmp_path / "base-model")
    thinker = create_job(
        db, parse_config({"base": str(base), "policy": "generate", "name": "thinker"})
    )
    quiet = create_job(db, parse_config({"base": str(base), "policy": "generate", "name": "quiet"}))
    folder = job_dir(get_job(db, thinker), db_path) / "samples"
    _write(
        folder,
        0,
        [
            json.dumps(_sample("check", "I am the base model. Final answer: check")),
            "{not json",
            json.dumps(_sample(None, "I cannot decide. Final answer: fold", **{"return": -1.0})),
        ],
    )
    _write(folder, 5, [json.dumps(_sample("bet", "middle of training. Final answer: bet"))])
    long_text = "K is the best card, so " * 60 + "Final answer: bet"
    _write(
        folder,
        10,
        [
            json.dumps(_sample("bet", long_text, reply_tokens=300)),
            json.dumps(_sample("bet", HOSTILE + " Final answer: bet", game_id="kuhn\x1b[2J")),
            json.dumps({"game_id": "kuhn_poker", "seat": "zero", "text": "wrong type"}),
            json.dumps(["a list"]),
            json.dumps({"seat": 1, "text": "no game"}),
            json.dumps(_sample("bet", "a seat that is true", seat=True)),
            "",
        ],
    )
    (folder / "step-11.jsonl.tmp").write_text("half written")  # not a samples file
    db.close()
    return {"db_path": db_path, "thinker": thinker, "quiet": quiet}


def _run(db_path: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(db_path), "train", "samples", *args])


# --- the reader ---------------------------------------------------------------------------------


def test_the_reader_lists_steps_returns_good_lines_and_counts_corrupt_ones(jobs) -> None:
    db = open_db(jobs["db_path"])
    job = get_job(db, jobs["thinker"])
    assert sample_steps(job, jobs["db_path"]) == [0, 5, 10]
    assert sample_steps(get_job(db, jobs["quiet"]), jobs["db_path"]) == []

    samples, skipped = read_samples(job, jobs["db_path"], 0)
    assert skipped == 1
    assert [s["action"] for s in samples] == ["check", None]
    assert samples[0]["text"].endswith("Final answer: check")
    assert samples[1]["return"] == -1.0 and samples[1]["legal"] is False
    assert set(samples[0]) == {
        "game_id", "seed", "seat", "prompt_tail", "text", "action", "legal", "formatted",
        "finish_reason", "reply_tokens", "return", "reward", "answer_index", "answer_logprob",
    }  # fmt: skip

    samples, skipped = read_samples(job, jobs["db_path"], 10)
    assert len(samples) == 2 and skipped == 4  # wrong type, a list, no game, seat true
    assert samples[1]["text"].startswith("\x1b[31m")  # read as written; shown sanitised
    db.close()


def test_a_missing_step_is_a_job_error_naming_the_steps_there_are(jobs) -> None:
    db = open_db(jobs["db_path"])
    with pytest.raises(JobError, match=r"no samples for step 3; steps with samples: 0, 5, 10"):
        read_samples(get_job(db, jobs["thinker"]), jobs["db_path"], 3)
    with pytest.raises(JobError, match="generation mode"):
        read_samples(get_job(db, jobs["quiet"]), jobs["db_path"], 0)
    db.close()


def test_parse_sample_fills_missing_optional_keys_and_refuses_bad_values() -> None:
    minimal = parse_sample('{"game_id": "tictactoe", "seat": 1, "text": "Final answer: 5"}')
    assert minimal is not None and minimal["seat"] == 1
    assert (
        minimal["action"] is None and minimal["return"] is None and minimal["reply_tokens"] is None
    )
    for bad in (
        '{"game_id": "g", "seat": 0, "text": "t", "return": NaN}',
        '{"game_id": "g", "seat": 0, "text": "t", "reply_tokens": "many"}',
        '{"game_id": "g", "seat": 0, "text": 5}',
        '"just a string"',
        "[" * 100_000,  # deep nesting
    ):
        assert parse_sample(bad) is None, bad
    # a lone surrogate cannot reach a terminal encoder
    odd = parse_sample('{"game_id": "g", "seat": 0, "text": "a\\ud800b"}')
    assert odd is not None
    odd["text"].encode("utf-8")


# --- the CLI ------------------------------------------------------------------------------------


def test_the_cli_shows_the_first_and_latest_step_by_default(jobs) -> None:
    result = _run(jobs["db_path"], "thinker")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "step 0 (the base model): 2 replies, 1 corrupt line(s) skipped" in out
    assert "step 10: 2 replies, 4 corrupt line(s) skipped" in out
    assert "step 5" not in out and "middle of training" not in out
    assert "game kuhn_poker, seat 0, move check, return 1, 42 tokens" in out
    assert "move illegal, return -1" in out
    assert "I am the base model. Final answer: check" in out
    # the long reply is cut, with a marker
    long_line = next(line for line in out.splitlines() if line.startswith("K is the best"))
    assert len(long_line) < REPLY_CHARS + 40 and "more characters]" in long_line


def test_the_cli_by_id_and_with_step_and_limit(jobs) -> None:
    result = _run(jobs["db_path"], str(jobs["thinker"]), "--step", "5")
    assert result.exit_code == 0, result.output
    assert "middle of training" in result.output and "base model" not in result.output
    result = _run(jobs["db_path"], "thinker", "--step", "0", "-n", "1")
    assert result.exit_code == 0, result.output
    assert "2 replies (1 shown)" in result.output and "I cannot decide" not in result.output


def test_the_cli_json_parses(jobs) -> None:
    result = _run(jobs["db_path"], "thinker", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["job"] == "thinker"
    assert sorted(data["steps"]) == ["0", "10"]
    assert data["skipped"] == {"0": 1, "10": 4}
    assert data["steps"]["0"][0]["action"] == "check"
    assert data["steps"]["10"][1]["text"].startswith("\x1b[31m")  # JSON carries it escaped
    assert "\x1b" not in result.output


def test_hostile_escapes_never_reach_the_output(jobs) -> None:
    for args in (("thinker",), ("thinker", "--json"), ("thinker", "--step", "10")):
        result = _run(jobs["db_path"], *args)
        assert result.exit_code == 0, result.output
        for raw in ("\x1b", "\x07", "\x9b", "\u202e", "\x08", "\r"):
            assert raw not in result.output, (args, raw)
    shown = _run(jobs["db_path"], "thinker").output
    assert "\\x1b[31mred" in shown and "\\x1b]52;" in shown and "game kuhn\\x1b[2J" in shown


def test_a_job_without_samples_gets_a_friendly_message(jobs) -> None:
    result = _run(jobs["db_path"], "quiet")
    assert result.exit_code == 0, result.output
    assert "no sampled replies" in result.output and "--policy generate" in result.output
    data = json.loads(_run(jobs["db_path"], "quiet", "--json").output)
    assert data["steps"] == {} and data["skipped"] == {}


def test_an_unknown_step_or_job_is_a_clear_error(jobs) -> None:
    result = _run(jobs["db_path"], "thinker", "--step", "3")
    assert result.exit_code == 1
    assert "no samples for step 3; steps with samples: 0, 5, 10" in result.output
    result = _run(jobs["db_path"], "nosuchjob")
    assert result.exit_code == 1 and "no job 'nosuchjob'" in result.output


# --- the TUI ------------------------------------------------------------------------------------


async def test_the_training_section_toggles_between_log_and_samples(jobs) -> None:
    from textual.widgets import DataTable, Static

    from arena.tui.app import make_app

    db = open_db(jobs["db_path"])
    log_path = get_job(db, jobs["thinker"]).log_path
    db.close()
    Path(log_path).write_text("a line of the trainer's log\n")
    app = make_app(jobs["db_path"], seed_first_run=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("j")
        await pilot.pause()
        screen = app.screen
        assert type(screen).__name__ == "TrainingScreen"
        pane = screen.query_one("#log-text", Static)
        assert screen.selected == jobs["quiet"]  # the newest job
        await pilot.press("s")
        await pilot.pause()
        assert "has no sampled replies" in str(pane.render())

        table = screen.query_one("#jobs", DataTable)
        table.move_cursor(row=1)  # thinker: its samples now, the pane stays on samples
        await pilot.pause()
        assert screen.selected == jobs["thinker"]
        shown = str(pane.render())
        assert "move check" in shown and "step 0 (the base model)" in shown
        assert "step 10" in shown and "a line of the trainer's log" not in shown
        assert "\x1b" not in shown and "\\x1b[31mred" in shown
        screen.refresh_jobs()  # what the timer does every second: the samples stay
        await pilot.pause()
        assert "move check" in str(pane.render())

        await pilot.press("s")
        await pilot.pause()
        shown = str(pane.render())
        assert "thinker: created" in shown
        assert "a line of the trainer's log" in shown and "move check" not in shown
