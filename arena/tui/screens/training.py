"""The Training section: self-play jobs (background `python -m trainer` processes) listed from
the database, started from a form, and followed live: their curves, latest figures and log
tail, with stop and resume. The app never imports the trainer or torch: it starts the process
and reads what it writes."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, DataTable, Header, Input, Label, Sparkline, Static

from arena.tui.safe import literal, tell
from arena.tui.widgets.key_bar import KeyBar

CURVES = (
    "reward",
    "loss",
    "entropy",
    "invalid_rate",
    "reply_tokens",
    "mean_reply_tokens",
    "exploitability",
    "exploitability_avg",
    "rating",
    "eval",
    "score",
)


# Log lines the log pane holds (it scrolls; it follows the tail unless scrolled up).
LOG_LINES = 200


def curve_label(name: str, points: list[tuple[int, float]]) -> str:
    """A curve's title: its latest value and step, and where it started when step 0 (the
    starting model) was measured."""
    step, value = points[-1]
    label = f"{name}: {value:.4g} (step {step}, {len(points)} points"
    if points[0][0] == 0 and step != 0:
        label += f"; step 0: {points[0][1]:.4g}"
    return label + ")"


def curve_names(metrics: dict[str, list[tuple[int, float]]]) -> list[str]:
    """The metrics to plot, known ones first (any `exploitability/<game>` counts)."""
    known = [n for c in CURVES for n in sorted(metrics) if n == c or n.startswith(c + "/")]
    return known + sorted(n for n in metrics if n not in known)


class TrainingScreen(Screen):
    """Jobs, a start form, and the selected job's curves and log."""

    DEFAULT_CSS = """
    TrainingScreen #jobs { height: 8; }
    TrainingScreen .form-row { height: auto; }
    TrainingScreen .form-row Input { width: 1fr; }
    /* Short fields sized to their placeholders; the games and (when wide) the folder grow. */
    TrainingScreen #steps { width: 17; }
    TrainingScreen #name { width: 21; }
    TrainingScreen.-narrow #base { width: 23; }
    TrainingScreen .form-row Button { margin-left: 1; }
    TrainingScreen #form-error { color: $error; height: auto; margin: 0 1; }
    TrainingScreen #job-warning { color: $warning; height: auto; margin: 0 1; }
    TrainingScreen #detail { height: 1fr; }
    TrainingScreen #curves { width: 1fr; }
    TrainingScreen #curves Sparkline { height: 2; margin-bottom: 1; }
    TrainingScreen #log { width: 1fr; border-left: vkey $accent; padding-left: 1; }
    """
    BINDINGS = [
        Binding("x", "stop_job", "Stop job", id="training.stop", tooltip="Stop the selected job"),
        Binding(
            "u", "resume_job", "Resume job", id="training.resume", tooltip="Resume the selected job"
        ),
        Binding(
            "s",
            "toggle_samples",
            "Samples",
            id="training.samples",
            tooltip="Show the selected job's sampled replies (generation mode), or its log again",
        ),
        Binding(
            "f5", "refresh_jobs", "Refresh", id="training.refresh", tooltip="Read the jobs again"
        ),
    ]
    REFRESH_S = 1.0
    SAMPLES_PER_STEP = 3  # replies shown of each step in the samples pane

    def __init__(self) -> None:
        super().__init__()
        self.selected: int | None = None
        self.jobs: list[Any] = []
        self.samples_shown = False  # the right-hand pane: the job's sampled replies, not its log
        self.curve_widgets: list[tuple[Label, Sparkline]] = []  # title and line, reused
        self.log_of: tuple[int, bool] | None = None  # the job (and pane) the log pane shows

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="jobs", cursor_type="row")
        # Start comes after the last field, on screen and in the tab order.
        with Horizontal(id="form", classes="form-row"):
            yield Input(placeholder="games: kuhn_poker, tictactoe", id="games")
            yield Input(placeholder="base model folder", id="base")
            yield Input(placeholder="steps (100)", id="steps")
            yield Input(placeholder="name (optional)", id="name")
        with Horizontal(id="form-more", classes="form-row"):
            yield Input(
                placeholder='options: lora=true eval_games=10 opponents=["random"]',
                id="options",
                tooltip="Any other job setting as KEY=VALUE (JSON values), space-separated",
            )
            yield Button("Start", id="start", variant="primary")
        yield Label("", id="form-error")
        yield Label("", id="job-warning")
        with Horizontal(id="detail"):
            yield VerticalScroll(id="curves")
            with VerticalScroll(id="log"):
                yield Static("", id="log-text")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#jobs", DataTable)
        table.add_columns("id", "name", "status", "step", "games", "base")
        self.refresh_jobs()
        self.set_interval(self.REFRESH_S, self.refresh_jobs)

    # --- reading ------------------------------------------------------------------------
    def refresh_jobs(self) -> None:
        from arena.jobs import list_jobs, mark_dead_jobs

        db = self.app.db
        mark_dead_jobs(db)
        self.jobs = list_jobs(db)
        table = self.query_one("#jobs", DataTable)
        cursor = table.cursor_row
        table.clear()
        for job in self.jobs:
            steps = job.config.get("steps", "?")
            table.add_row(
                job.id,
                literal(job.name),
                job.status,
                f"{job.step}/{steps}",
                literal(", ".join(job.config.get("games", []))),
                literal(str(job.config.get("base", ""))[-40:]),
                key=str(job.id),
            )
        if self.jobs:
            table.move_cursor(row=min(cursor, len(self.jobs) - 1))
            if self.selected is None or all(j.id != self.selected for j in self.jobs):
                self.selected = self.jobs[0].id
        self.show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self.selected = int(event.row_key.value)
            self.show_detail()

    def show_detail(self) -> None:
        from arena.jobs import get_job, log_tail, read_metrics, thinking_collapse

        curves = self.query_one("#curves", VerticalScroll)
        log = self.query_one("#log-text", Static)
        if self.selected is None:
            log.update("No jobs yet: fill the form (games, a model folder) and Start.")
            return
        db = self.app.db
        job = get_job(db, self.selected)
        metrics = read_metrics(db, job.id)
        warning = thinking_collapse(metrics)
        self.query_one("#job-warning", Label).update(
            literal(f"{job.name}: {warning}") if warning else ""
        )
        names = curve_names(metrics)
        # The curve widgets are never removed, only reused and hidden: a removal finishes
        # later, and a quick switch between jobs would otherwise meet the outgoing widgets.
        while len(self.curve_widgets) < len(names):
            pair = (Label("", classes="curve-label"), Sparkline([]))
            self.curve_widgets.append(pair)
            curves.mount(*pair)
        for i, (title, line) in enumerate(self.curve_widgets):
            shown = i < len(names)
            if shown:
                points = metrics[names[i]]
                title.update(literal(curve_label(names[i], points)))
                line.data = [v for _, v in points]
            title.display = line.display = shown
        header = f"{job.name}: {job.status}, step {job.step}"
        if job.error:
            header += f"\n{job.error}"
        if self.samples_shown:
            body = samples_text(job, db.path, self.SAMPLES_PER_STEP)  # type: ignore[attr-defined]
        else:
            body = "\n".join(log_tail(db, job.id, LOG_LINES))
        pane = self.query_one("#log", VerticalScroll)
        # Follow the tail unless the user scrolled up to read (or another job is shown now).
        follow = pane.scroll_y >= pane.max_scroll_y - 1 or self.log_of != (
            job.id,
            self.samples_shown,
        )
        self.log_of = (job.id, self.samples_shown)
        log.update(literal(header + "\n\n" + body))
        if follow:
            pane.call_after_refresh(pane.scroll_end, animate=False)

    def action_toggle_samples(self) -> None:
        self.samples_shown = not self.samples_shown
        self.show_detail()

    def action_refresh_jobs(self) -> None:
        self.refresh_jobs()

    # --- acting -------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.start_from_form()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # Enter in any field starts, like pressing Start
        self.start_from_form()

    def start_from_form(self) -> None:
        from arena.commands.params import parse_params
        from arena.jobs import JobError, create_job
        from arena.train_config import parse_config

        error = self.query_one("#form-error", Label)
        games = [g.strip() for g in self.query_one("#games", Input).value.split(",") if g.strip()]
        data: dict[str, Any] = {"base": self.query_one("#base", Input).value.strip()}
        if games:
            data["games"] = games
        steps = self.query_one("#steps", Input).value.strip()
        name = self.query_one("#name", Input).value.strip()
        options = self.query_one("#options", Input).value
        try:
            data.update(parse_params(options.split()))  # JSON values: no spaces inside
            if steps:
                data["steps"] = int(steps)
            if name:
                data["name"] = name
            config = parse_config(data)
            job_id = create_job(self.app.db, config)
        except (JobError, ValueError) as exc:
            error.update(literal(str(exc)))
            return
        error.update("")
        self.selected = job_id
        self._in_thread(lambda db_path: _start(db_path, job_id))

    def action_stop_job(self) -> None:
        if self.selected is not None:
            job_id = self.selected
            tell(self, f"stopping job {job_id} (it saves a checkpoint first)")
            self._in_thread(lambda db_path: _stop(db_path, job_id))

    def action_resume_job(self) -> None:
        if self.selected is not None:
            job_id = self.selected
            self._in_thread(lambda db_path: _resume(db_path, job_id))

    def _in_thread(self, work: Any) -> None:
        """Process control can wait (a stop waits for the checkpoint): off the event loop,
        with the thread's own connection; the result comes back as a notification."""
        db_path = self.app.db.path  # type: ignore[attr-defined]

        def run() -> None:
            try:
                work(db_path)
            except Exception as exc:
                self.app.call_from_thread(self.notify, str(exc), severity="error")
            self.app.call_from_thread(self.refresh_jobs)

        self.run_worker(run, thread=True, group="training")


def samples_text(job: Any, db_path: Any, per_step: int) -> str:
    """A job's sampled replies as the samples pane shows them (raw text: the caller shows it
    with `literal`): its first and latest step with samples, `per_step` replies of each."""
    from arena.jobs import (
        NO_SAMPLES,
        JobError,
        cut_reply,
        read_samples,
        sample_heading,
        sample_steps,
        step_title,
    )

    steps = sample_steps(job, db_path)
    if not steps:
        return NO_SAMPLES.format(name=job.name) + "\n\n(s: back to the log)"
    parts = ["Sampled replies (s: back to the log)"]
    for step in sorted({steps[0], steps[-1]}):
        try:
            samples, skipped = read_samples(job, db_path, step)
        except JobError as exc:  # gone or unreadable since it was listed
            parts.append(f"step {step}: {exc}")
            continue
        shown = samples[:per_step]
        parts.append(f"== {step_title(step, len(samples), skipped, len(shown))} ==")
        for sample in shown:
            parts.append(f"-- {sample_heading(sample)}\n{cut_reply(sample['text'])}")
    return "\n\n".join(parts)


def _stop(db_path: Any, job_id: int) -> str:
    from arena.jobs import stop_job
    from arena.store import open_db

    db = open_db(db_path)
    try:
        return stop_job(db, job_id)
    finally:
        db.close()


def _start(db_path: Any, job_id: int) -> int:
    from arena.jobs import start_job

    return start_job(db_path, job_id)


def _resume(db_path: Any, job_id: int) -> int:
    from arena.jobs import resume_job

    return resume_job(db_path, job_id)
