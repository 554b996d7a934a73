"""Files only their owner can read: the database, job logs and what a job writes hold prompts,
replies and configs, so they are created 0600 (folders 0700) whatever the umask. Files that
already exist keep the mode their owner gave them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO


def private_dir(path: Path) -> Path:
    """`path` and its missing parents, created 0700 (existing folders are left as they are)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask
    return path


def open_private_append(path: Path) -> BinaryIO:
    """`path` opened for appending bytes, created 0600 if it is new."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    return os.fdopen(fd, "ab")
