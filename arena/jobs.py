"""Training jobs, headless: create, start, watch, stop and resume `python -m trainer` processes.

A job is a row of the `jobs` table plus a detached child process. The process owns its row while
it runs (it claims the row with its pid, records its step, and at the end its final status);
everyone else follows it through the database and its log file, so the CLI or the TUI may quit
and come back. A process that died without saying so (kill -9, out of memory) is found by
`mark_dead_jobs`. SIGTERM or SIGINT ends a run at its next step boundary (with a checkpoint) as
`interrupted`; `arena train stop` sends SIGTERM and records the end it asked for as `stopped`.
Either resumes from the job's latest checkpoint. The SQL is in `arena.store.jobs`.

The job config, `TrainConfig`, is in `arena.train_config`: validated there before anything is
written, and parsed again from the job's row by the trainer.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arena.private_files import open_private_append, private_dir
from arena.processes import process_running
from arena.safe_text import one_line
from arena.store import jobs as store
from arena.store.db import open_db
from arena.store.schema import now
from arena.train_config import JobError, TrainConfig, parse_config

if TYPE_CHECKING:
    from sqlite_utils import Database

log = logging.getLogger(__name__)

# `interrupted`: ended by SIGTERM or SIGINT from outside (not `arena train stop`); resumable.
# The status column is free text: a new status needs no migration.
STATUSES = ("created", "running", "stopped", "interrupted", "failed", "finished")
DIED = "the trainer process died (see the log)"
# A checkpoint folder is `<job dir>/step-<N>/`, complete once this file is in it.
CHECKPOINT_STATE_FILE = "trainer_state.pt"
_STEP_DIR = re.compile(r"^step-(\d+)$")


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


# -- checks before a job is written ------------------------------------------------------------

_PLAYER_FIELDS = ("opponents", "anchors", "warm_start")


def _player_problems(config: TrainConfig, db: Database | None) -> list[str]:
    """The players the config names (opponents, anchors, warm_start) that are neither a
    built-in bot nor a registered, active player (with no database: built-in bots only).
    With a `warm_start_file`, `warm_start` names players in that file: not checked here."""
    from arena.store.players import builtin_specs

    fields = [f for f in _PLAYER_FIELDS if f != "warm_start" or not config.warm_start_file]
    builtin = builtin_specs()
    named = [n for f in fields for n in getattr(config, f) if n not in builtin]
    registered = store.known_player_names(db, named) if db is not None and named else {}
    problems = []
    for field in fields:
        for name in getattr(config, field):
            if name in builtin:
                continue
            if name not in registered:
                problems.append(
                    f"{field}: unknown player {name!r} (neither a built-in bot nor a "
                    "registered player; see `arena players list`)"
                )
            elif registered[name]:
                problems.append(f"{field}: player {name!r} is retired")
    return problems


def cuda_available() -> bool | None:
    """Whether torch sees a CUDA device; None when torch cannot be imported. Asked of a child
    Python unless torch is loaded here already: the TUI may call this, and neither it nor
    `arena --help` loads torch. Remembered per CUDA_VISIBLE_DEVICES."""
    key = os.environ.get("CUDA_VISIBLE_DEVICES")
    if key not in _CUDA:
        if "torch" in sys.modules:
            _CUDA[key] = bool(sys.modules["torch"].cuda.is_available())
        else:
            code = "import sys, torch; sys.stdout.write(str(int(torch.cuda.is_available())))"
            try:
                out = subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
                )
                _CUDA[key] = out.stdout.strip() == "1" if out.returncode == 0 else None
            except (OSError, subprocess.TimeoutExpired):
                _CUDA[key] = None
    return _CUDA[key]


_CUDA: dict[str | None, bool | None] = {}


def check_job_config(config: TrainConfig, db: Database | None = None) -> None:
    """The checks of a parsed config that look beyond it, made before anything is written or
    started (the CLI's `train start` and `create_job`, so the TUI's form too): every player
    it names is a built-in bot or a registered, active player (`db` None: no database yet,
    built-in bots only), and `device = "cuda"` has a CUDA device. `JobError` naming each
    field that is wrong."""
    problems = _player_problems(config, db)
    if config.device == "cuda":
        cuda = cuda_available()
        if cuda is None:
            problems.append("device: cuda was asked but torch cannot be imported here")
        elif not cuda:
            problems.append(
                "device: cuda was asked but no CUDA device is available "
                "(torch.cuda.is_available() is False); use --device cpu or auto"
            )
    if problems:
        raise JobError("invalid job config: " + "; ".join(problems))


def create_job(db: Database, config: TrainConfig, *, kind: str = "selfplay") -> int:
    """A new job in status `created`, its log at `<db dir>/jobs/<id>.log`; returns its id.
    `check_job_config` runs first (JobError: nothing is written)."""
    check_job_config(config, db)  # before the transaction: the CUDA check may take seconds
    jobs_dir = Path(db.path).resolve().parent / "jobs"  # type: ignore[attr-defined]

    def still_valid(db: Database) -> None:  # inside the write: a player may have gone since
        problems = _player_problems(config, db)
        if problems:
            raise JobError("invalid job config: " + "; ".join(problems))

    job_id = store.insert_job(
        db,
        kind=kind,
        config=config.model_dump(mode="json"),
        name=config.name,
        name_prefix=config.games[0],
        log_dir=jobs_dir,
        check=still_valid,
    )
    if job_id is None:
        raise JobError(f"a job named {config.name!r} already exists")
    private_dir(jobs_dir)
    return job_id


def get_job(db: Database, id_or_name: int | str) -> Job:
    """A job by id (or digits) or by name; `JobError` when there is none."""
    key = str(id_or_name)
    row = store.job_row(db, job_id=int(key)) if key.isdigit() else store.job_row(db, name=key)
    if row is None:
        raise JobError(f"no job {key!r} (see `arena train list`)")
    return _job(row)


def job_config(job: Job) -> TrainConfig:
    """A stored job's config parsed as `arena train start` parses it (`JobError` if, e.g., its
    base folder has gone since), its `name` the job's own."""
    return parse_config({**job.config, "name": job.config.get("name") or job.name})


def list_jobs(db: Database) -> list[Job]:
    """Every job, newest first."""
    return [_job(r) for r in store.job_rows(db)]


def set_job_state(db: Database, job_id: int, **fields: Any) -> None:
    """Update a job's status, pid, step, error, started_at or finished_at."""
    bad = set(fields) - store.JOB_STATE_FIELDS
    if bad:
        raise JobError(f"set_job_state cannot set {sorted(bad)}")
    if "status" in fields and fields["status"] not in STATUSES:
        raise JobError(f"unknown job status {fields['status']!r}")
    store.update_job(db, job_id, fields)


# -- checkpoints -----------------------------------------------------------------------------


def job_dir(job: Job, db_path: str | Path | None = None) -> Path:
    """Where a job keeps its checkpoints: config "dir", else a folder named after the job
    beside its log (`<db folder>/jobs/<name>/step-N`), so jobs never share checkpoints."""
    if job.config.get("dir"):
        return Path(job.config["dir"]).expanduser()
    if job.log_path:
        return Path(job.log_path).expanduser().parent / job.name
    if db_path is None:
        raise JobError(f"job {job.name} has no log path: give the database path")
    return Path(db_path).expanduser().parent / "jobs" / job.name


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """The complete checkpoints (`step-N/` holding its training state) in a job's folder, by
    step. A folder still being written has another name until it is complete."""
    root = Path(folder)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        m = _STEP_DIR.match(path.name)
        if m and (path / CHECKPOINT_STATE_FILE).exists():
            found.append((int(m.group(1)), path))
    return sorted(found)


def resume_point(job: Job, db_path: str | Path | None = None) -> int:
    """The step a run of the job starts from: its latest checkpoint's (0 with none). Steps the
    job recorded after that checkpoint are played again."""
    found = list_checkpoints(job_dir(job, db_path))
    return found[-1][0] if found else 0


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
        # only if still so inside the transaction: the trainer may have just written its end
        if store.end_job(db, job.id, "failed", pid=job.pid, error=error):
            dead.append(job.id)
    return dead


def _source_root() -> str:
    """The folder holding the `arena` (and `trainer`) packages this process runs."""
    return str(Path(__file__).resolve().parents[1])


def start_job(db_path: str | Path, job_id: int, *, python: str = sys.executable) -> int:
    """Spawn `python -m trainer --db PATH --job ID` detached from this process; returns its pid.

    The child gets its own session (a closed terminal or a quitting TUI does not take it
    down), stdin from /dev/null, stdout and stderr appended to the job's log. The job is
    claimed for the child at once, its step set to where the child resumes."""
    db_path = Path(db_path).expanduser().resolve()
    db = open_db(db_path)
    try:
        job = get_job(db, job_id)
        if job.status == "running" and pid_alive(job.pid):
            raise JobError(f"job {job.name} is already running (pid {job.pid})")
        log_path = Path(job.log_path or db_path.parent / "jobs" / f"{job.id}.log")
        private_dir(log_path.parent)
        step = resume_point(job, db_path)
        cmd = launch_command(
            python,
            db_path,
            job.id,
            int(job.config.get("ranks", 1)),
            nodes=int(job.config.get("nodes", 1)),
            master=job.config.get("master"),
        )
        env = dict(os.environ, PYTHONUNBUFFERED="1")  # log lines appear as they are written
        # the trainer must come from the same source tree as this arena, whatever the cwd
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_source_root(), os.environ.get("PYTHONPATH")) if p
        )
        with open_private_append(log_path) as log:
            log.write(
                f"--- {now()} starting job {job.id} ({job.name}): {shlex.join(cmd)}\n".encode()
            )
            for k, command in enumerate(node_commands(job, python), start=1):
                log.write(f"--- on node {k} run: {command}\n".encode())
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
        other = store.claim_job(db, job.id, proc.pid, alive=pid_alive, step=step)
        if other is not None:  # another start won the race: ours would refuse to run anyway
            proc.terminate()
            proc.wait()
            raise JobError(f"job {job.name} is already running (pid {other})")
        return proc.pid
    finally:
        db.conn.close()


RANK0_PID_FILE = "rank0.pid"


def launch_command(
    python: str,
    db_path: str | Path | None,
    job_id: int,
    ranks: int,
    *,
    nodes: int = 1,
    master: str | None = None,
    node_rank: int = 0,
) -> list[str]:
    """How a job's trainer is started: one process, or `ranks` data-parallel processes under
    torchrun on this machine; with `nodes` above 1, this node's part of a job on several
    machines (torchrun's static rendezvous at `master`, this node's rank `node_rank`; node 0
    holds the database, the others are given none). The job's config records all of it, so a
    resume starts it the same way."""
    trainer = ["-m", "trainer", "--job", str(job_id)]
    if db_path is not None:
        trainer += ["--db", str(db_path)]
    if ranks <= 1 and nodes <= 1:
        return [python, *trainer]
    launcher = [python, "-m", "torch.distributed.run", "--max-restarts=0"]
    if nodes <= 1:
        return [*launcher, "--standalone", f"--nproc-per-node={ranks}", *trainer]
    host, _, port = (master or "").rpartition(":")
    where = [f"--master-addr={host}", f"--master-port={port}"]
    counts = [f"--nnodes={nodes}", f"--node-rank={node_rank}", f"--nproc-per-node={ranks}"]
    return [*launcher, *counts, *where, *trainer]


def node_commands(job: Job, python: str = "python") -> list[str]:
    """What to run on each other machine of a job on several nodes (node 1, 2, ...)."""
    nodes = int(job.config.get("nodes", 1))
    ranks = int(job.config.get("ranks", 1))
    master = job.config.get("master")
    return [
        shlex.join(
            launch_command(python, None, job.id, ranks, nodes=nodes, master=master, node_rank=k)
        )
        for k in range(1, nodes)
    ]


def _signal_target(job: Job, db_path: str | Path | None) -> int:
    """The process a stop request goes to: the trainer, or under torchrun its rank 0 (which
    tells the others at the step's end; torchrun itself would kill them after 30 s)."""
    assert job.pid is not None
    if int(job.config.get("ranks", 1)) > 1 or int(job.config.get("nodes", 1)) > 1:
        try:
            pid = int((job_dir(job, db_path) / RANK0_PID_FILE).read_text())
        except (OSError, ValueError, JobError):
            return job.pid
        if pid_alive(pid):
            return pid
    return job.pid


def stop_job(db: Database, job_id: int | str, timeout_s: float = 30) -> str:
    """Ask a running job to stop (SIGTERM: it ends at its next step boundary and saves a
    checkpoint) and wait up to `timeout_s` for it; returns the job's status then: `stopped`
    once it ended (recorded so: the stop was asked for), `running` if it has not yet."""
    job = get_job(db, job_id)
    if job.status != "running":
        raise JobError(f"job {job.name} is not running (it is {job.status})")
    if not pid_alive(job.pid):
        mark_dead_jobs(db)
        return get_job(db, job.id).status
    try:
        os.kill(_signal_target(job, getattr(db, "path", None)), signal.SIGTERM)
    except ProcessLookupError:
        pass  # ended meanwhile: the checks below tell how
    deadline = time.monotonic() + timeout_s
    # wait for the process to end, not only for its status: a caller may resume at once
    while time.monotonic() < deadline and pid_alive(job.pid):
        time.sleep(0.05)
    if not pid_alive(job.pid):
        # the trainer recorded `interrupted` (any signal), or ended from our signal before it
        # could write (still starting up): either way the stop we asked for
        store.end_job(db, job.id, "stopped", pid=job.pid, only_if=("running", "interrupted"))
    return get_job(db, job.id).status


def resume_job(db_path: str | Path, job_id: int | str) -> int:
    """Start a stopped, interrupted, failed (or never started) job again; the trainer
    continues from its last checkpoint (`resume_point`). Returns the new pid."""
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


def record_metrics(
    db: Database, job_id: int, step: int, metrics: dict[str, float], *, set_step: bool = False
) -> list[str]:
    """Store a step's metrics (a value written again for the same step replaces the old one);
    with `set_step`, it becomes the job's step in the same transaction. The one way metrics
    are written: a NaN or infinite value (a diverged loss) is recorded as missing, one warning
    a call naming those skipped, never an error. Returns the names skipped."""
    skipped = store.write_job_metrics(db, job_id, step, metrics, set_step=set_step)
    if skipped:
        log.warning(
            "step %d: %d non-finite metric(s) not recorded: %s",
            step,
            len(skipped),
            ", ".join(sorted(skipped)),
        )
    return skipped


def read_metrics(
    db: Database, job_id: int, *, since_step: int | None = None
) -> dict[str, list[tuple[int, float]]]:
    """Every metric of a job as `{name: [(step, value), ...]}` by step; `since_step` keeps only
    later steps (for following a running job)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for name, step, value in store.job_metric_rows(db, job_id, since_step=since_step):
        out.setdefault(name, []).append((step, value))
    return out


# In generate mode the trainer records each step's mean reply length under this name.
REPLY_LENGTH_METRIC = "mean_reply_tokens"
_COLLAPSE_WINDOW = 3  # steps averaged at the start and at the end
_COLLAPSE_MIN_TOKENS = 4.0  # a start shorter than this has no reasoning to lose


def thinking_collapse(metrics: dict[str, list[tuple[int, float]]]) -> str | None:
    """A warning when a generation-mode job's replies have shrunk to under half their length at
    the start (SPIRAL's "thinking collapse": the model stops reasoning and answers at once);
    None otherwise. `metrics` as `read_metrics` returns them.

    The rule, robust to one short step: the start is the mean of `mean_reply_tokens` over the
    first 3 steps from the first recorded (1..3 of a job: step 0 plays no rollouts), the latest
    is the mean of the last 3 points recorded after those; it warns when latest < start / 2,
    with at least 3 points after the start and a start of at least 4 tokens."""
    points = sorted(metrics.get(REPLY_LENGTH_METRIC, []))
    if not points:
        return None
    first = points[0][0]
    early = [v for s, v in points if s < first + _COLLAPSE_WINDOW]
    late = [v for s, v in points if s >= first + _COLLAPSE_WINDOW][-_COLLAPSE_WINDOW:]
    if len(late) < _COLLAPSE_WINDOW:
        return None
    start = sum(early) / len(early)
    latest = sum(late) / len(late)
    if start < _COLLAPSE_MIN_TOKENS or latest >= start / 2:
        return None
    return f"reply length fell from {start:.0f} to {latest:.0f} tokens: thinking collapse? (SPIRAL)"


# -- sampled replies (generation mode) ---------------------------------------------------------

# A generation-mode job writes each step's first replies to `<job dir>/samples/step-<N>.jsonl`
# (`trainer.generate.write_samples`; N: the optimizer steps the model had taken, 0 the base).
SAMPLES_DIR = "samples"
_SAMPLES_FILE = re.compile(r"^step-(\d+)\.jsonl$")
_NUMBER = (int, float)
# Every key a sample is read with, and the types its value may have (None: missing or null).
# A line missing a required key, or with a value of another type, is skipped as corrupt.
SAMPLE_REQUIRED: dict[str, tuple[type, ...]] = {"game_id": (str,), "seat": (int,), "text": (str,)}
SAMPLE_OPTIONAL: dict[str, tuple[type, ...]] = {
    "seed": (int,),
    "prompt_tail": (str,),
    "action": (str,),
    "legal": (bool,),
    "formatted": (bool,),
    "finish_reason": (str,),
    "reply_tokens": (int,),
    "return": _NUMBER,
    "reward": _NUMBER,
    "answer_index": (int,),
    "answer_logprob": _NUMBER,
}


def samples_dir(job: Job, db_path: str | Path | None = None) -> Path:
    """The folder a generation-mode job writes its sampled replies to."""
    return job_dir(job, db_path) / SAMPLES_DIR


def _sample_files(job: Job, db_path: str | Path | None) -> dict[int, Path]:
    folder = samples_dir(job, db_path)
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        m = _SAMPLES_FILE.match(path.name)
        if m and path.is_file():
            found[int(m.group(1))] = path
    return found


def sample_steps(job: Job, db_path: str | Path | None = None) -> list[int]:
    """The steps of a job that have a samples file, sorted (none: not a generation-mode job,
    or none written yet)."""
    return sorted(_sample_files(job, db_path))


def _clean_str(s: str) -> str:
    """A string as JSON may decode it, lone surrogates (`"\\ud800"`) replaced: they cannot be
    encoded for a terminal."""
    return s.encode("utf-8", "replace").decode("utf-8")


def _valid(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False  # JSON true is no seat, step or return
    if not isinstance(value, types):
        return False
    return not (isinstance(value, float) and not math.isfinite(value))


def parse_sample(line: str) -> dict[str, Any] | None:
    """One line of a samples file as a plain dict with every key of `SAMPLE_REQUIRED` and
    `SAMPLE_OPTIONAL` (a missing optional key: None; others dropped); None when the line is not
    a JSON object, lacks a required key or holds a value of the wrong type."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    out: dict[str, Any] = {}
    for key, types in SAMPLE_REQUIRED.items():
        if not _valid(data.get(key), types):
            return None
        out[key] = data[key]
    for key, types in SAMPLE_OPTIONAL.items():
        value = data.get(key)
        if value is not None and not _valid(value, types):
            return None
        out[key] = value
    return {k: _clean_str(v) if isinstance(v, str) else v for k, v in out.items()}


def read_samples(
    job: Job, db_path: str | Path | None, step: int
) -> tuple[list[dict[str, Any]], int]:
    """A step's sampled replies (`parse_sample`'s dicts, in file order) and how many lines were
    skipped as corrupt (blank lines are not counted). `JobError` when the step has no samples
    file, naming the steps that have one."""
    files = _sample_files(job, db_path)
    path = files.get(step)
    if path is None:
        steps = sorted(files)
        have = (
            "steps with samples: " + ", ".join(map(str, steps))
            if steps
            else "it has none (samples are written in generation mode, --policy generate)"
        )
        raise JobError(f"job {job.name} has no samples for step {step}; {have}")
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise JobError(f"cannot read {path}: {exc.strerror or exc}") from None
    samples: list[dict[str, Any]] = []
    skipped = 0
    for line in text.split("\n"):  # not splitlines: a raw U+2028 or U+0085 is inside a string
        if not line.strip():
            continue
        sample = parse_sample(line)
        if sample is None:
            skipped += 1
        else:
            samples.append(sample)
    return samples, skipped


REPLY_CHARS = 600  # of a reply's text shown (`train samples`, the TUI); the rest is cut


def cut_reply(text: str, limit: int = REPLY_CHARS) -> str:
    """`text` cut to `limit` characters, with a marker saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def _number(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def sample_heading(sample: dict[str, Any]) -> str:
    """One line about a sampled reply: game, seat, move (or illegal), return, length."""
    move = one_line(sample["action"], 60) if sample["action"] is not None else "illegal"
    tokens = "?" if sample["reply_tokens"] is None else sample["reply_tokens"]
    return (
        f"game {one_line(sample['game_id'], 60)}, seat {sample['seat']}, move {move}, "
        f"return {_number(sample['return'])}, {tokens} tokens"
    )


def step_title(step: int, total: int, skipped: int, shown: int | None = None) -> str:
    """A step's heading in the samples: which model wrote them, how many replies (and how many
    of them shown, when not all), how many corrupt lines were skipped."""
    who = " (the base model)" if step == 0 else ""
    part = f" ({shown} shown)" if shown is not None and shown < total else ""
    extra = f", {skipped} corrupt line(s) skipped" if skipped else ""
    return f"step {step}{who}: {total} repl{'y' if total == 1 else 'ies'}{part}{extra}"


NO_SAMPLES = (
    "job {name} has no sampled replies: a job writes them (samples/step-N.jsonl in its folder) "
    "only in generation mode (--policy generate), from its first step on"
)
