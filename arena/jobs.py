"""Training jobs, headless: create, start, watch, stop and resume `python -m trainer` processes.

A job is a row of the `jobs` table plus a detached child process. The process owns its row while
it runs (it sets its pid, step and final status through `set_job_state`); everyone else follows
it through the database and its log file, so the CLI or the TUI may quit and come back. A
process that died without saying so (killed, out of memory) is found by `mark_dead_jobs`.

The job config, `TrainConfig`, lives here rather than in `trainer/`: the arena core validates it
before anything is written, and the core never imports the trainer (see ARCHITECTURE.md).
`trainer.config` re-exports it.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from arena.models.trainable import untrainable_reason
from arena.processes import process_running
from arena.store.db import open_db, write
from arena.store.schema import now

if TYPE_CHECKING:
    from sqlite_utils import Database

STATUSES = ("created", "running", "stopped", "failed", "finished")
DIED = "the trainer process died (see the log)"
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.+\-]{0,47}$")
_STATE_FIELDS = {"status", "pid", "step", "error", "started_at", "finished_at"}


class JobError(ValueError):
    """A job operation cannot be done (unknown job, bad config, wrong status, ...)."""


class TrainConfig(BaseModel):
    """A training job's settings: plain data, stored as JSON with the job."""

    model_config = ConfigDict(extra="forbid")

    games: list[str] = Field(default_factory=lambda: ["kuhn_poker"], min_length=1)
    """Game ids to train on (a mixture when more than one)."""
    base: str
    """The Hugging Face model folder training starts from (stored as an absolute path)."""
    steps: int = Field(100, ge=1)
    """Optimizer steps in all (a resumed job continues up to this number)."""
    batch_games: int = Field(16, ge=1)
    """Games played per step."""
    lr: float = Field(1e-4, gt=0)
    """Learning rate (1e-3 collapses the tiny model to a pure strategy within two steps)."""
    lr_end_ratio: float = Field(1.0, gt=0, le=1)
    """The learning rate at the last step as a share of `lr`, reached linearly (1 = constant)."""
    algorithm: Literal["reinforce", "ppo"] = "reinforce"
    """Policy-gradient flavour."""
    ppo_epochs: int = Field(2, ge=1, le=8)
    """PPO: passes over each batch."""
    clip: float = Field(0.2, gt=0, le=1)
    """PPO: ratio clipping range."""
    kl_coef: float = Field(0.0, ge=0)
    """Weight of the KL penalty to the starting model (0 = none)."""
    entropy_coef: float = Field(0.01, ge=0)
    """Weight of the entropy bonus."""
    epsilon: float = Field(0.1, ge=0, lt=1)
    """Exploration: probability of playing a uniformly random legal action instead."""
    estimator: Literal["importance", "natural"] = "importance"
    """How a move's advantage reaches the policy: importance (REINFORCE's log-probability
    gradient, exploration corrected by truncated importance weights) or natural (the advantage
    divided by the move's behaviour probability, applied to its centred logit: the natural
    gradient of a softmax policy, which does not vanish on moves the policy has given up)."""
    magnet_coef: float = Field(0.0, ge=0)
    """Pull of the logits over the legal moves toward uniform (magnetic mirror descent; keeps
    the policy mixed where moves are near equal)."""
    baseline_decay: float = Field(0.9, ge=0, lt=1)
    """Decay of the per-(game, seat) moving-average baseline of returns."""
    normalize_advantages: bool = False
    """Divide each (game, seat) group's advantages by their standard deviation (MARS)."""
    include_rules: bool = True
    """Put the game's rules in the prompt; checkpoints are registered with the same prompt."""
    temperature: float = Field(1.0, gt=0)
    """Sampling temperature of rollouts."""
    player_temperature: float | None = Field(None, ge=0)
    """Temperature of the registered checkpoint players (0 = greedy; default: `temperature`).
    Greedy and sampled play of one checkpoint are different players."""
    average_checkpoints: int = Field(4, ge=0)
    """kuhn_poker and leduc_poker: also report the exploitability of the average strategy of
    the last this many checkpoints (0 = off)."""
    checkpoint_every: int = Field(25, ge=1)
    """Save (and register as a player) a checkpoint every this many steps."""
    eval_games: int = Field(0, ge=0)
    """Evaluation games per checkpoint against each anchor on each game (0 = no evaluation);
    they are recorded and rated like any match."""
    anchors: list[str] = Field(default_factory=list)
    """Evaluation opponents (empty: `random`, the games' built-in bots, the last checkpoint)."""
    opponents: list[str] = Field(default_factory=list)
    """Player names for an opponent pool (built-in bots, earlier checkpoints, any registered
    player); empty = pure self-play."""
    opponent_share: float = Field(0.5, ge=0, le=1)
    """Share of each step's games played against the pool (the pool player takes one seat)."""
    warm_start: list[str] = Field(default_factory=list)
    """Players (e.g. `cfr`, `minimax`) whose recorded moves on the job's games the model imitates
    before self-play: the supervised warm start SPIRAL compares against (empty = none)."""
    warm_start_file: str = ""
    """A JSONL move file (`arena export matches --format jsonl`) to imitate instead."""
    warm_start_epochs: int = Field(2, ge=1, le=100)
    """Passes over the warm start's moves."""
    warm_start_lr: float | None = Field(None, gt=0)
    """The warm start's learning rate (default: `lr`)."""
    seed: int = 0
    """Seeds rollouts, exploration and initialisation."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to train."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights' dtype (auto: bfloat16 on GPU, float32 on CPU)."""
    lora: bool = False
    """Train LoRA adapters (peft) instead of every weight; checkpoints hold the merged weights
    (they play and export like any model) and the adapters (for resuming)."""
    lora_rank: int = Field(8, ge=1, le=256)
    """LoRA: the adapters' rank."""
    name: str | None = None
    """The job's unique name (default: `<first game>-<job id>`); checkpoints are `<name>@<step>`."""

    @field_validator("games")
    @classmethod
    def _known_games(cls, v: list[str]) -> list[str]:
        from games import game_ids

        known = game_ids()
        for gid in v:
            if gid not in known:
                raise ValueError(f"unknown game {gid!r} (known: {', '.join(known)})")
        return v

    @field_validator("base")
    @classmethod
    def _base_is_trainable(cls, v: str) -> str:
        # Files only (config.json, weights, tokenizer, chat template): cheap, no torch.
        reason = untrainable_reason(v)
        if reason is not None:
            raise ValueError(reason)
        return str(Path(v).expanduser().resolve())

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME_RE.match(v):
            raise ValueError(
                "a job name is 1-48 characters: letters, digits and _ . + - (starting with a letter)"
            )
        return v


def parse_config(data: dict[str, Any]) -> TrainConfig:
    """Validate config data; `JobError` with every problem on one line."""
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(config)"
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown config field {where!r}")
            else:
                problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        raise JobError("invalid job config: " + "; ".join(problems)) from None


@dataclass(frozen=True)
class Job:
    """One row of the `jobs` table, config decoded."""

    id: int
    name: str
    kind: str
    status: str
    config: dict[str, Any]
    pid: int | None
    step: int
    error: str | None
    log_path: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _job(r: dict[str, Any]) -> Job:
    return Job(**{**r, "config": json.loads(r["config"])})


def create_job(db: Database, config: TrainConfig, *, kind: str = "selfplay") -> int:
    """A new job in status `created`, its log at `<db dir>/jobs/<id>.log`; returns its id."""
    jobs_dir = Path(db.path).resolve().parent / "jobs"  # type: ignore[attr-defined]
    jobs_dir.mkdir(parents=True, exist_ok=True)
    with write(db):
        if config.name is not None and _find(db, "name = ?", [config.name]):
            raise JobError(f"a job named {config.name!r} already exists")
        cur = db.conn.execute(
            "INSERT INTO jobs (name, kind, status, config, created_at) VALUES (?, ?, ?, ?, ?)",
            # a unique placeholder until the id is known (the default name includes it)
            [f"\x00new-{os.getpid()}-{time.time_ns()}", kind, "created", "{}", now()],
        )
        job_id = int(cur.lastrowid)
        name = config.name or f"{config.games[0]}-{job_id}"
        if config.name is None and _find(db, "name = ?", [name]):
            name = f"{name}-{time.time_ns() % 100000}"  # taken by a user-named job
        stored = config.model_copy(update={"name": name})
        db.conn.execute(
            "UPDATE jobs SET name = ?, config = ?, log_path = ? WHERE id = ?",
            [name, stored.model_dump_json(), str(jobs_dir / f"{job_id}.log"), job_id],
        )
    return job_id


def _find(db: Database, where: str, params: list[Any]) -> Job | None:
    rows = list(db.query(f"SELECT * FROM jobs WHERE {where}", params))
    return _job(rows[0]) if rows else None


def get_job(db: Database, id_or_name: int | str) -> Job:
    """A job by id (or digits) or by name; `JobError` when there is none."""
    key = str(id_or_name)
    job = _find(db, "id = ?", [int(key)]) if key.isdigit() else _find(db, "name = ?", [key])
    if job is None:
        raise JobError(f"no job {key!r} (see `arena train list`)")
    return job


def list_jobs(db: Database) -> list[Job]:
    """Every job, newest first."""
    return [_job(r) for r in db.query("SELECT * FROM jobs ORDER BY id DESC")]


def set_job_state(db: Database, job_id: int, **fields: Any) -> None:
    """Update a job's status, pid, step, error, started_at or finished_at (the trainer's part)."""
    bad = set(fields) - _STATE_FIELDS
    if bad:
        raise JobError(f"set_job_state cannot set {sorted(bad)}")
    if "status" in fields and fields["status"] not in STATUSES:
        raise JobError(f"unknown job status {fields['status']!r}")
    if not fields:
        return
    assignments = ", ".join(f"{k} = ?" for k in fields)
    with write(db):
        db.conn.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", [*fields.values(), job_id])


# -- processes ---------------------------------------------------------------------------------

# Popen handles of the trainers this process started: polling them reaps a child that ended (a
# zombie still answers `kill(pid, 0)`), and keeping them stops Python warning about them.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def pid_alive(pid: int | None) -> bool:
    """Whether a trainer process with this pid is still running."""
    if pid and pid in _CHILDREN:
        return _CHILDREN[pid].poll() is None
    return process_running(pid, cmdline_has=b"trainer")


def job_status(job: Job) -> str:
    """The status to show: the stored one, but `failed` for a running job whose process is gone."""
    if job.status == "running" and not pid_alive(job.pid):
        return "failed"
    return job.status


def mark_dead_jobs(db: Database) -> list[int]:
    """Mark running jobs whose process is gone as failed; returns their ids."""
    dead = []
    for job in list_jobs(db):
        if job.status != "running" or pid_alive(job.pid):
            continue
        last = next((line for line in reversed(_tail(job.log_path, 5)) if line.strip()), "")
        error = f"{DIED}: {last.strip()}" if last else DIED
        with write(db):
            # re-check inside the transaction: the trainer may have just written its own end
            current = _find(db, "id = ?", [job.id])
            if current is None or current.status != "running" or current.pid != job.pid:
                continue
            db.conn.execute(
                "UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?",
                [error, now(), job.id],
            )
        dead.append(job.id)
    return dead


def _source_root() -> str:
    """The folder holding the `arena` (and `trainer`) packages this process runs."""
    return str(Path(__file__).resolve().parents[1])


def start_job(db_path: str | Path, job_id: int, *, python: str = sys.executable) -> int:
    """Spawn `python -m trainer --db PATH --job ID` detached from this process; returns its pid.

    The child gets its own session (a closed terminal or a quitting TUI does not take it
    down), stdin from /dev/null, stdout and stderr appended to the job's log."""
    db_path = Path(db_path).expanduser().resolve()
    db = open_db(db_path)
    try:
        job = get_job(db, job_id)
        if job.status == "running" and pid_alive(job.pid):
            raise JobError(f"job {job.name} is already running (pid {job.pid})")
        log_path = Path(job.log_path or db_path.parent / "jobs" / f"{job.id}.log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [python, "-m", "trainer", "--db", str(db_path), "--job", str(job.id)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")  # log lines appear as they are written
        # the trainer must come from the same source tree as this arena, whatever the cwd
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_source_root(), os.environ.get("PYTHONPATH")) if p
        )
        with open(log_path, "ab") as log:
            log.write(f"--- {now()} starting job {job.id} ({job.name})\n".encode())
            log.flush()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        _CHILDREN[proc.pid] = proc
        set_job_state(
            db,
            job.id,
            status="running",
            pid=proc.pid,
            error=None,
            started_at=now(),
            finished_at=None,
        )
        return proc.pid
    finally:
        db.conn.close()


def stop_job(db: Database, job_id: int | str, timeout_s: float = 30) -> str:
    """Ask a running job to stop (SIGTERM: it ends at its next step boundary and saves a
    checkpoint) and wait up to `timeout_s` for it; returns the job's status then."""
    job = get_job(db, job_id)
    if job.status != "running":
        raise JobError(f"job {job.name} is not running (it is {job.status})")
    if not pid_alive(job.pid):
        mark_dead_jobs(db)
        return get_job(db, job.id).status
    try:
        os.kill(job.pid, signal.SIGTERM)  # type: ignore[arg-type]
    except ProcessLookupError:
        pass  # ended meanwhile: the checks below tell how
    deadline = time.monotonic() + timeout_s
    # wait for the process to end, not only for its status: a caller may resume at once
    while time.monotonic() < deadline and pid_alive(job.pid):
        time.sleep(0.05)
    current = get_job(db, job.id)
    if current.status == "running" and not pid_alive(job.pid):
        # it ended from our signal before it could write (e.g. still starting up): a stop
        set_job_state(db, job.id, status="stopped", finished_at=now())
        return "stopped"
    return current.status


def resume_job(db_path: str | Path, job_id: int | str) -> int:
    """Start a stopped, failed (or never started) job again; the trainer continues from its
    last checkpoint. Returns the new pid."""
    db = open_db(db_path)
    try:
        mark_dead_jobs(db)
        job = get_job(db, job_id)
    finally:
        db.conn.close()
    if job.status == "running":
        raise JobError(f"job {job.name} is already running (pid {job.pid})")
    if job.status == "finished":
        raise JobError(f"job {job.name} has finished all its {job.config.get('steps')} steps")
    return start_job(db_path, job.id)


# -- logs and metrics ----------------------------------------------------------------------------


def _tail(path: str | Path | None, lines: int) -> list[str]:
    """The last `lines` lines of a text file (reads backwards in blocks: logs grow large)."""
    if not path or lines <= 0:
        return []
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            data = b""
            while end > 0 and data.count(b"\n") <= lines:
                start = max(0, end - 65536)
                fh.seek(start)
                data = fh.read(end - start) + data
                end = start
    except FileNotFoundError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()[-lines:]


def log_tail(db: Database, job_id: int | str, lines: int = 50) -> list[str]:
    """The last lines of a job's log (empty before it first starts)."""
    return _tail(get_job(db, job_id).log_path, lines)


def record_metrics(db: Database, job_id: int, step: int, metrics: dict[str, float]) -> None:
    """Store a step's metrics (a value written again for the same step replaces the old one)."""
    # SQLite stores NaN as NULL, which the NOT NULL column refuses: non-finite values are skipped
    rows = [(job_id, step, k, float(v)) for k, v in metrics.items() if math.isfinite(float(v))]
    if not rows:
        return
    with write(db):
        db.conn.executemany(
            "INSERT OR REPLACE INTO job_metrics (job_id, step, name, value) VALUES (?, ?, ?, ?)",
            rows,
        )


def read_metrics(
    db: Database, job_id: int, *, since_step: int | None = None
) -> dict[str, list[tuple[int, float]]]:
    """Every metric of a job as `{name: [(step, value), ...]}` by step; `since_step` keeps only
    later steps (for following a running job)."""
    sql = "SELECT step, name, value FROM job_metrics WHERE job_id = ?"
    params: list[Any] = [job_id]
    if since_step is not None:
        sql += " AND step > ?"
        params.append(since_step)
    out: dict[str, list[tuple[int, float]]] = {}
    for r in db.query(sql + " ORDER BY name, step", params):
        out.setdefault(r["name"], []).append((r["step"], r["value"]))
    return out
