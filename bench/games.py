"""Random-playout speed of every game, against OpenSpiel's Python loop when it is installed.

    python bench/games.py [--seconds 1.0] [--rounds 3] [--game ID ...]

Both implementations run the same loop (seeded `random.Random`, legal actions, uniform choice,
chance sampled from its outcome list) in alternating rounds within one run, so machine noise
hits both; the table reports the median rate of each and the ratio arena / OpenSpiel.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import games  # noqa: E402
from games import CHANCE, TERMINAL, sample_chance  # noqa: E402

# arena id -> OpenSpiel game string
OPENSPIEL = {
    "tictactoe": "tic_tac_toe",
    "connect_four": "connect_four",
    "kuhn_poker": "kuhn_poker",
    "leduc_poker": "leduc_poker",
    "liars_dice": "liars_dice",
    "chess": "chess",
}
BAR = 0.5
# The games the bar applies to; chess is shown for interest (OpenSpiel's chess is C++ end to
# end and its games have no 200-ply cap, so the ratio compares different things).
BARRED = {"tictactoe", "connect_four", "kuhn_poker", "leduc_poker", "liars_dice"}


def arena_rate(game_id: str, seconds: float, seed: int) -> float:
    game = games.make(game_id)
    rng = random.Random(seed)
    n = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        state = game.new_initial_state()
        while True:
            player = state.current_player()
            if player == TERMINAL:
                break
            if player == CHANCE:
                state.apply(sample_chance(state, rng))
            else:
                state.apply(rng.choice(state.legal_actions()))
        state.returns()
        n += 1
    return n / (time.perf_counter() - start)


def openspiel_rate(name: str, seconds: float, seed: int) -> float:
    import pyspiel

    game = pyspiel.load_game(name)
    rng = random.Random(seed)
    n = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        state = game.new_initial_state()
        while not state.is_terminal():
            if state.is_chance_node():
                # The same draw as for arena: sample_chance only calls chance_outcomes(), which
                # OpenSpiel's states have too (with integer actions).
                state.apply_action(sample_chance(state, rng))
            else:
                state.apply_action(rng.choice(state.legal_actions()))
        state.returns()
        n += 1
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per round and implementation")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--game", action="append", help="only these games (repeatable)")
    args = parser.parse_args(argv)
    try:
        import pyspiel  # noqa: F401

        have_openspiel = True
    except ImportError:
        have_openspiel = False
        print("open_spiel is not installed: arena rates only (pip install open_spiel)\n")

    rows = []
    failed = False
    for game_id in args.game or games.game_ids():
        try:
            games.make(game_id)
        except games.GameParamError as exc:
            print(f"{game_id}: skipped ({exc})")
            continue
        spiel = OPENSPIEL.get(game_id) if have_openspiel else None
        ours, theirs = [], []
        for r in range(args.rounds):
            ours.append(arena_rate(game_id, args.seconds, seed=r))
            if spiel:
                theirs.append(openspiel_rate(spiel, args.seconds, seed=r))
        a = statistics.median(ours)
        if theirs:
            o = statistics.median(theirs)
            ratio = a / o
            if game_id in BARRED:
                verdict = "ok" if ratio >= BAR else "BELOW BAR"
                failed |= ratio < BAR
            else:
                verdict = "(no bar)"
            rows.append((game_id, f"{a:,.0f}", f"{o:,.0f}", f"{ratio:.2f}x", verdict))
        else:
            rows.append((game_id, f"{a:,.0f}", "-", "-", ""))
        print(f"  measured {game_id}", file=sys.stderr)

    headers = ("game", "arena games/s", "OpenSpiel games/s", "ratio", f"bar {BAR}x")
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
