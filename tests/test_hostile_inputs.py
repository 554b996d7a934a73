"""Every hostile input in `tests/hostile_cases.py`, through the real CLI: a clear one-line error
(exit 1 or 2, no traceback), no data lost or changed, no secret repeated back.
`python bench/robustness.py` prints the same cases as a table."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_cases import CASES, SECRETS, run_case


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}: {c.name}" for c in CASES])
def test_hostile_input_gives_a_clear_error_and_loses_nothing(case, tmp_path: Path) -> None:
    out = run_case(case, tmp_path)
    assert not out.traceback, out.stderr
    assert out.clear_error, f"exit {out.code}\nstdout: {out.stdout}\nstderr: {out.stderr}"
    assert out.unchanged, "a file that had to stay as it was changed"
    assert "Error:" in out.stderr and len(out.stderr.strip().splitlines()) <= 6, out.stderr
    for secret in SECRETS:
        assert secret not in out.stdout + out.stderr, f"{secret!r} was repeated back"
