"""Which OpenSpiel games play in the arena, and why the others do not.

    .venv/bin/python bench/openspiel_catalogue.py            # print the counts and the table
    .venv/bin/python bench/openspiel_catalogue.py --write    # also rewrite docs/openspiel_games.md

Every game pyspiel registers goes through `games.openspiel_games.check_game` with the smoke
playout on (the listing skips it: bridge's double-dummy scoring alone takes seconds), and the
result is compared with the cheap check that `arena games --openspiel` runs. Each exposed
two-player zero-sum game's tree is measured against the CFR bot's node cap, and each exposed
game plays one seeded random playout against the baseline of the same playout in bare pyspiel.
Needs the extra: pip install 'arena-games[openspiel]'.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DOC = ROOT / "docs" / "openspiel_games.md"
MAX_STEPS = 5000


def tree_size(game) -> int | None:
    """Nodes of the whole tree, or None when it exceeds the CFR bot's cap."""
    from games.analysis import GameTree
    from games.openspiel_games import CFR_MAX_NODES

    try:
        return len(GameTree.build(game, max_nodes=CFR_MAX_NODES).kind)
    except ValueError:
        return None


def arena_playout(game, seed: int) -> tuple[int, float, list[int]]:
    from games import sample_chance

    rng = random.Random(seed)
    state = game.new_initial_state()
    t0 = time.perf_counter()
    steps = 0
    while not state.is_terminal() and steps < MAX_STEPS:
        if state.is_chance_node():
            state.apply(sample_chance(state, rng))
        else:
            state.apply(rng.choice(state.legal_actions()))
        steps += 1
    return steps, time.perf_counter() - t0, state.action_ids()


def spiel_replay(spiel_game, action_ids: list[int]) -> float:
    """The baseline: the same moves in bare pyspiel, listing the moves at each step as well."""
    state = spiel_game.new_initial_state()
    t0 = time.perf_counter()
    for action_id in action_ids:
        if state.is_chance_node():
            state.chance_outcomes()
        else:
            state.legal_actions()
        state.apply_action(action_id)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {DOC.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    try:
        import pyspiel
    except ImportError:
        print("open_spiel is not installed: pip install 'arena-games[openspiel]'")
        return 1
    import games
    from games import openspiel_games as og

    t0 = time.perf_counter()
    cheap = {v.name: v for v in og.catalogue()}
    cheap_s = time.perf_counter() - t0
    verdicts = og.catalogue(smoke=True)
    mismatches = [v.name for v in verdicts if v.exposed != cheap[v.name].exposed]
    rows = []
    for v in verdicts:
        if not v.exposed:
            continue
        game = games.make(og.PREFIX + v.name)
        size = None
        if game.num_players == 2 and game.zero_sum:
            size = tree_size(game)
        steps, arena_s, action_ids = arena_playout(game, 0)
        spiel_s = spiel_replay(game.spiel_game, action_ids)
        rows.append((v, game, size, steps, arena_s, spiel_s))
    cfr_fit = sorted(v.name for v, _, size, *_ in rows if size is not None)
    left_out = [v for v in verdicts if not v.exposed]
    lm = [g for _, g, *_ in rows if g.language_model]
    print(f"pyspiel {pyspiel.__version__ if hasattr(pyspiel, '__version__') else ''}".strip())
    print(f"registered games:            {len(verdicts)}")
    print(f"exposed as openspiel/<name>: {len(rows)}")
    print(f"  playable by a model:       {len(lm)} (hand-written rules or a payoff table)")
    print(f"  bots only:                 {len(rows) - len(lm)} (generic rules)")
    print(f"  simultaneous, made turn-based: {sum(v.simultaneous for v, *_ in rows)}")
    print(f"left out:                    {len(left_out)}")
    for reason, count in _reason_counts(left_out).items():
        print(f"  {count:3d}  {reason}")
    print(f"cheap listing check: {cheap_s:.2f} s; mismatches with the smoke check: {mismatches}")
    print(f"trees within the CFR cap ({og.CFR_MAX_NODES} nodes): {', '.join(cfr_fit)}")
    if set(cfr_fit) != set(og.CFR_GAMES):
        print(f"  CFR_GAMES differs: shipped {sorted(og.CFR_GAMES)}")
    moves = sum(r[3] for r in rows)
    arena_s, spiel_s = sum(r[4] for r in rows), sum(r[5] for r in rows)
    print(
        f"one seeded random playout per exposed game, {moves:,} moves: arena {arena_s:.2f} s, "
        f"the same moves in bare pyspiel {spiel_s:.2f} s (x{arena_s / spiel_s:.1f} for names "
        "and the wrapper)"
    )
    if args.write:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(_doc(rows, left_out, og))
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 1 if mismatches else 0


def _reason_counts(left_out) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in left_out:
        key = v.reason.split(" (")[0] if v.reason.startswith("does not load") else v.reason
        if "players with default parameters" in key:
            key = "more than 4 players with default parameters"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _doc(rows, left_out, og) -> str:
    lm = sum(1 for _, g, *_ in rows if g.language_model)
    lines = [
        "# OpenSpiel games in the arena",
        "",
        "Generated by `python bench/openspiel_catalogue.py --write`; do not edit by hand.",
        "",
        "With the extra (`pip install 'arena-games[openspiel]'`), every game below plays as",
        "`openspiel/<name>` (`arena games --openspiel` lists them). Moves are OpenSpiel's action",
        "names, a seat sees OpenSpiel's own string for that seat, chance is sampled by the arena's",
        "seeded generator, and simultaneous moves are hidden sequential turns.",
        "",
        f"- registered in pyspiel: {len(rows) + len(left_out)}",
        f"- exposed: {len(rows)}; playable by a language model: {lm} (hand-written rules, or a "
        f"payoff table for one-shot games); bots only: {len(rows) - lm} (generic rules)",
        f"- left out: {len(left_out)}",
        "",
        "## Exposed",
        "",
        "| id | players | kind | rules | bots | random playout (moves) |",
        "|---|---|---|---|---|---|",
    ]
    for _v, game, _size, steps, *_ in rows:
        kind = []
        if game.chance:
            kind.append("chance")
        if game.hidden_info:
            kind.append("hidden")
        if game.simultaneous:
            kind.append("simultaneous (turn-based)")
        kind.append("zero-sum" if game.zero_sum else "general-sum")
        rules = "language model" if game.language_model else "generic (bots only)"
        bots = ", ".join(game.info().bots)
        lines.append(
            f"| `{game.id}` | {game.num_players} | {', '.join(kind)} | {rules} | {bots} | {steps} |"
        )
    lines += ["", "## Left out", "", "| game | reason |", "|---|---|"]
    for v in left_out:
        lines.append(f"| `{v.name}` | {v.reason} |")
    lines += [
        "",
        "Games written in Python inside OpenSpiel (`open_spiel.python.games`) register only when",
        "that package is imported; the arena does not import it, so they are not listed here.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
