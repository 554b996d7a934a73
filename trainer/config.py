"""The job config as the trainer sees it.

`TrainConfig` is defined in `arena.jobs`: the arena core validates a config before it writes a
job, and the core may not import the trainer. It is re-exported here for the trainer's modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arena.jobs import JobError, TrainConfig, get_job, parse_config

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["JobError", "TrainConfig", "load_job_config", "parse_config"]


def load_job_config(db: Database, job_id: int) -> TrainConfig:
    """The validated config of a stored job (`JobError` if, e.g., its base folder is gone)."""
    return parse_config(get_job(db, job_id).config)
