"""The Training section with real detached trainer processes (the trainer's test stand-in loop,
ARENA_TRAINER_FAKE=1, so no model trains here): start from the form, curves and log follow,
stop and resume."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from model_folders import stub_model_folder
from textual.widgets import DataTable, Input, Label, Sparkline

from arena.jobs import get_job, stop_job
from arena.store import open_db
from arena.tui.app import make_app


async def _until(pilot, check, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.1)
        await pilot.pause()


async def test_a_job_started_from_the_form_is_followed_stopped_and_resumed(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("ARENA_TRAINER_FAKE", "1")
    base = stub_model_folder(tmp_path / "base-model")
    db_path = tmp_path / "arena.db"
    app = make_app(db_path, seed_first_run=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("j")
        await pilot.pause()
        screen = app.screen
        assert type(screen).__name__ == "TrainingScreen"
        screen.query_one("#games", Input).value = "kuhn_poker"
        screen.query_one("#base", Input).value = str(base)
        screen.query_one("#steps", Input).value = "400"
        screen.query_one("#options", Input).value = 'batch_games=4 opponents=["random"]'
        await pilot.click("#start")
        await _until(pilot, lambda: screen.jobs and screen.jobs[0].status == "running")
        await _until(pilot, lambda: len(screen.query(Sparkline)) >= 1 and screen.jobs[0].step >= 3)
        curve = screen.query_one(Sparkline)
        assert len(curve.data) >= 3
        await pilot.press("x")
        await _until(pilot, lambda: screen.jobs[0].status == "stopped")
        stopped_at = screen.jobs[0].step
        assert 3 <= stopped_at < 400
        await pilot.press("u")
        await _until(
            pilot, lambda: screen.jobs[0].status == "running" and screen.jobs[0].step > stopped_at
        )
    db = open_db(db_path)
    job = get_job(db, 1)
    assert job.config["batch_games"] == 4 and job.config["opponents"] == ["random"]
    assert stop_job(db, job.id) in ("stopped", "finished")


async def test_bad_form_input_shows_an_error_and_creates_no_job(tmp_path: Path) -> None:
    app = make_app(tmp_path / "arena.db", seed_first_run=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("j")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#games", Input).value = "nosuchgame"
        screen.query_one("#base", Input).value = str(tmp_path / "missing")
        screen.start_from_form()
        await pilot.pause()
        assert "nosuchgame" in str(screen.query_one("#form-error", Label).render())
        assert screen.query_one("#jobs", DataTable).row_count == 0
        screen.query_one("#games", Input).value = "kuhn_poker"
        screen.query_one("#base", Input).value = str(tmp_path)
        for bad, shown in (("lora", "KEY=VALUE"), ("no_such_setting=1", "no_such_setting")):
            screen.query_one("#options", Input).value = bad
            screen.start_from_form()
            await pilot.pause()
            assert shown in str(screen.query_one("#form-error", Label).render())
            assert screen.query_one("#jobs", DataTable).row_count == 0


def test_curves_list_losses_before_evaluations_and_ratings_before_unknown_metrics() -> None:
    from arena.tui.screens.training import curve_names

    names = curve_names(
        {
            n: [(1, 0.0)]
            for n in (
                "zeta",
                "score/tictactoe/vs-random",
                "eval/kuhn_poker/cfr/score",
                "rating/kuhn_poker/mu",
                "exploitability/kuhn_poker",
                "loss",
                "reward/kuhn_poker/0",
            )
        }
    )
    assert names == [
        "reward/kuhn_poker/0",
        "loss",
        "exploitability/kuhn_poker",
        "rating/kuhn_poker/mu",
        "eval/kuhn_poker/cfr/score",
        "score/tictactoe/vs-random",
        "zeta",
    ]


async def test_a_job_whose_replies_collapsed_shows_a_warning(tmp_path: Path) -> None:
    from arena.jobs import create_job
    from arena.store.jobs import write_job_metrics
    from arena.train_config import parse_config

    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    base = stub_model_folder(tmp_path / "base-model")
    config = parse_config({"base": str(base), "policy": "generate", "name": "thinker"})
    job_id = create_job(db, config)
    for step, tokens in enumerate((60, 64, 62, 30, 12, 10), start=1):
        write_job_metrics(db, job_id, step, {"mean_reply_tokens": float(tokens)}, set_step=True)
    db.conn.close()
    app = make_app(db_path, seed_first_run=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("j")
        await pilot.pause()
        shown = str(app.screen.query_one("#job-warning", Label).render())
        assert "thinker: reply length fell from 62 to 17 tokens" in shown
        assert "thinking collapse? (SPIRAL)" in shown


def _metric_jobs(tmp_path: Path, jobs: dict[str, dict[str, list[float]]]) -> tuple[Path, list[int]]:
    """Jobs (by name) with the given metrics per step (step 0 first), no process."""
    from arena.jobs import create_job
    from arena.store.jobs import write_job_metrics
    from arena.train_config import parse_config

    db_path = tmp_path / "arena.db"
    db = open_db(db_path)
    base = stub_model_folder(tmp_path / "base-model")
    ids = []
    for name, metrics in jobs.items():
        job_id = create_job(db, parse_config({"base": str(base), "name": name}))
        steps = len(next(iter(metrics.values())))
        for step in range(steps):
            values = {k: v[step] for k, v in metrics.items()}
            write_job_metrics(db, job_id, step, values, set_step=True)
        ids.append(job_id)
    db.conn.close()
    return db_path, ids


def _curve_titles(app) -> list[str]:
    return [
        str(w.render())
        for w in app.screen.query("#curves Label")
        if w.parent is not None and w.display and not getattr(w, "_closing", False)
    ]


async def test_curves_switch_with_the_selected_job_and_show_where_step_0_started(
    tmp_path: Path,
) -> None:
    db_path, _ = _metric_jobs(
        tmp_path,
        {
            "first": {"loss": [0.9, 0.5, 0.25], "exploitability/kuhn_poker": [0.46, 0.4, 0.31]},
            "second": {"entropy": [1.0, 0.7]},
        },
    )
    app = make_app(db_path, seed_first_run=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("j")
        await pilot.pause()
        table = app.screen.query_one("#jobs", DataTable)
        table.focus()
        # newest first: "second" is selected
        await _until(pilot, lambda: any("entropy" in t for t in _curve_titles(app)))
        assert not any("loss" in t for t in _curve_titles(app))
        await pilot.press("down")
        await _until(pilot, lambda: any("loss" in t for t in _curve_titles(app)))
        await pilot.pause(0.3)
        titles = _curve_titles(app)
        assert not any("entropy" in t for t in titles)  # the other job's curve is gone
        exploit = next(t for t in titles if t.startswith("exploitability/kuhn_poker"))
        assert "0.31 (step 2" in exploit and "step 0: 0.46" in exploit
        # back and forth faster than widgets are removed (no await between): no clash, and
        # each curve of the job shown last appears once
        screen = app.screen
        first, second = sorted(j.id for j in screen.jobs)
        for job_id in [second, first, second, first]:
            screen.selected = job_id
            screen.show_detail()
        await pilot.pause(0.3)
        titles = _curve_titles(app)
        assert sorted(t.split(":")[0].split(" ")[0] for t in titles) == [
            "exploitability/kuhn_poker",
            "loss",
        ]


async def test_the_log_follows_its_tail_unless_the_user_scrolls_up(tmp_path: Path) -> None:
    from textual.containers import VerticalScroll

    db_path, ids = _metric_jobs(tmp_path, {"chatty": {"loss": [1.0]}})
    db = open_db(db_path)
    log_path = Path(get_job(db, ids[0]).log_path)
    db.conn.close()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("".join(f"line {i}\n" for i in range(150)))
    app = make_app(db_path, seed_first_run=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("j")
        pane = app.screen.query_one("#log", VerticalScroll)
        await _until(pilot, lambda: pane.max_scroll_y > 0 and pane.scroll_y == pane.max_scroll_y)
        with log_path.open("a") as f:  # the job writes on: the pane follows
            f.write("".join(f"more {i}\n" for i in range(20)))
        await _until(pilot, lambda: "more 19" in str(app.screen.query_one("#log-text").render()))
        await _until(pilot, lambda: pane.scroll_y == pane.max_scroll_y)
        pane.scroll_to(y=0, animate=False)  # the user scrolls up to read
        await pilot.pause()
        with log_path.open("a") as f:
            f.write("later\n")
        await _until(pilot, lambda: "later" in str(app.screen.query_one("#log-text").render()))
        await pilot.pause(0.3)
        assert pane.scroll_y == 0  # left where the user put it
