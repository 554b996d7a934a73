"""Start-up time of the `arena` command against a bare Python start in the same run.

    python bench/cli.py [--runs 15]

Prints the median wall time of `python -c pass` (the baseline), `arena --help` and
`arena games --json`, and each one's overhead over the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "arena --help": [sys.executable, "-m", "arena.cli", "--help"],
    "arena games --json": [sys.executable, "-m", "arena.cli", "games", "--json"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    times: dict[str, list[float]] = {k: [] for k in CASES}
    for _ in range(args.runs):  # interleaved, so noise hits every case alike
        for name, cmd in CASES.items():
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["python -c pass (baseline)"])
    print(f"{'command':28} {'median ms':>10} {'over baseline ms':>17} {'ratio':>6}")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"{name:28} {m * 1000:10.1f} {(m - base) * 1000:17.1f} {m / base:6.2f}")


if __name__ == "__main__":
    main()
