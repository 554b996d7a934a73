"""Whether a process recorded in the database (a tournament run, a training job) still runs."""

from __future__ import annotations

import os
from pathlib import Path


def process_running(pid: int | None, *, cmdline_has: bytes | None = None) -> bool:
    """True if `pid` is a live process (not a zombie); with `cmdline_has`, also that its
    command line contains those bytes, which rules out a pid reused by another program
    (checked where /proc exists)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            if (proc / "stat").read_text().rpartition(")")[2].split()[0] == "Z":
                return False
            return cmdline_has is None or cmdline_has in (proc / "cmdline").read_bytes()
        except (OSError, IndexError):
            return False
    return True
