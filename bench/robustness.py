"""Hostile inputs, counted: what a user or an attacker can hand arena, through which paths, and
what came out.

    python bench/robustness.py [--skip-endpoints] [--json FILE]

1. Files and options (`tests/hostile_cases.py`): corrupt and foreign databases, broken tournament
   configs, player specs with pasted keys, credentials, NaN and 64-bit overflows, bad GGUFs, bad
   options, each through the real CLI in a subprocess. Judged: a clear one-line error (exit 1/2,
   no traceback), files unchanged, no secret repeated back.
2. Output paths: a database full of escape sequences, C1 controls and bidi overrides (from real
   servers' replies and errors, and rows an old database may hold) shown by every command;
   judged: no raw control character reaches the terminal.
3. Endpoints (`bench/robustness_endpoints.py`): servers that trickle, hang, lie or die.

Exits 1 if any case fails its judgement.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from hostile_cases import (  # noqa: E402
    CASES,
    OUTPUT_COMMANDS,
    build_hostile_db,
    run_case,
    run_in_process,
    summary,
)

from arena.safe_text import has_unsafe, one_line  # noqa: E402


def _table(rows: list[dict[str, object]], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def inputs(folder: Path) -> tuple[list[dict[str, object]], bool]:
    results = []
    for i, case in enumerate(CASES):
        out = run_case(case, folder / f"case{i}")
        results.append((case, out))
        print(f"  {case.kind}: {case.name}: {out.verdict}", file=sys.stderr)
    ok = all(o.clear_error and o.unchanged and not o.traceback for _, o in results)
    rows = summary(results)
    return rows, ok and all(r["secret echoed"] == 0 for r in rows)


def outputs(folder: Path) -> tuple[list[dict[str, object]], bool]:
    folder.mkdir(parents=True, exist_ok=True)
    made = build_hostile_db(folder)
    rows = []
    for step, text in made["outputs"].items():
        rows.append({"path": f"arena {step}", "exit": "-", "raw controls": int(has_unsafe(text))})
    for args in OUTPUT_COMMANDS:
        code, text = run_in_process(made["db"], *args)
        shown = one_line(" ".join(args), 48)
        rows.append({"path": f"arena {shown}", "exit": code, "raw controls": int(has_unsafe(text))})
    export = folder / "export.jsonl"
    run_in_process(made["db"], "export", "matches", "--out", str(export))
    raw = export.read_text(encoding="utf-8")
    rows.append({"path": "export file", "exit": "-", "raw controls": int(has_unsafe(raw))})
    ok = all(r["raw controls"] == 0 and r["exit"] in (0, "-") for r in rows)
    return rows, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-endpoints", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="Also write the tables here.")
    args = parser.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        in_rows, in_ok = inputs(folder / "inputs")
        out_rows, out_ok = outputs(folder / "outputs")
    print("## Hostile files and options, through the CLI\n")
    print(
        _table(
            in_rows,
            ["kind", "tried", "clear error", "traceback", "data changed", "secret echoed", "paths"],
        )
    )
    print(f"\n{sum(int(r['tried']) for r in in_rows)} inputs in all\n")  # type: ignore[call-overload]
    print("## Hostile text (ESC, CSI, OSC, C1, bidi, NUL) through every output path\n")
    print(_table(out_rows, ["path", "exit", "raw controls"]))
    print(f"\n{len(out_rows)} output paths, {sum(r['raw controls'] for r in out_rows)} leaked")  # type: ignore[misc]
    ok = in_ok and out_ok
    if not args.skip_endpoints:
        print("\n## Misbehaving endpoints\n", flush=True)
        code = subprocess.call([sys.executable, str(ROOT / "bench" / "robustness_endpoints.py")])
        ok = ok and code == 0
    if args.json:
        args.json.write_text(json.dumps({"inputs": in_rows, "outputs": out_rows}, indent=1))
    print(f"\n{'all held' if ok else 'FAILURES above'} ({time.perf_counter() - t0:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
