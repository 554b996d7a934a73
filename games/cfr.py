"""CFR+ for small two-player zero-sum games, and the equilibria shipped with the package.

CFR+ (Tammelin 2014): regret matching with regrets floored at zero, alternating updates and a
linearly weighted average strategy. The average strategy converges to a Nash equilibrium.

The solved policies of kuhn_poker and leduc_poker ship as package data (games/data/cfr_*.json);
regenerate them with `python -m games.cfr leduc_poker --iterations 400`.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import resources
from pathlib import Path

from games.analysis import CHANCE_NODE, TERMINAL_NODE, GameTree, tabular_policy
from games.core import Game

PolicyTable = dict[str, dict[str, float]]


class CFRPlusSolver:
    """Tabular CFR+ over a `GameTree`."""

    def __init__(self, game: Game | GameTree) -> None:
        self.tree = game if isinstance(game, GameTree) else GameTree.build(game)
        sizes = [len(a) for a in self.tree.infoset_actions]
        self.regrets = [[0.0] * k for k in sizes]
        self.strategy_sum = [[0.0] * k for k in sizes]
        self.iterations = 0

    def _current(self) -> list[list[float]]:
        out = []
        for row in self.regrets:
            total = sum(row)
            out.append([r / total for r in row] if total > 0 else [1.0 / len(row)] * len(row))
        return out

    def _traverse(self, player: int, sigma: list[list[float]], weight: float) -> None:
        tree = self.tree
        kind, owner, children = tree.kind, tree.player, tree.children
        infoset, chance_probs, returns = tree.infoset, tree.chance_probs, tree.returns
        regret_delta: dict[int, list[float]] = {}
        strategy_sum = self.strategy_sum

        def walk(node: int, reach_self: float, reach_other: float) -> float:
            k = kind[node]
            if k == TERMINAL_NODE:
                return returns[node][player]
            kids = children[node]
            if k == CHANCE_NODE:
                return sum(
                    p * walk(c, reach_self, reach_other * p)
                    for p, c in zip(chance_probs[node], kids)
                )
            slot = infoset[node]
            probs = sigma[slot]
            if owner[node] != player:
                return sum(
                    p * walk(c, reach_self, reach_other * p) for p, c in zip(probs, kids) if p > 0
                )
            values = [walk(c, reach_self * p, reach_other) for p, c in zip(probs, kids)]
            v = sum(p * x for p, x in zip(probs, values))
            delta = regret_delta.get(slot)
            if delta is None:
                delta = regret_delta[slot] = [0.0] * len(kids)
            for i, x in enumerate(values):
                delta[i] += reach_other * (x - v)
            acc = strategy_sum[slot]
            for i, p in enumerate(probs):
                acc[i] += weight * reach_self * p
            return v

        walk(0, 1.0, 1.0)
        for slot, delta in regret_delta.items():
            row = self.regrets[slot]
            for i, d in enumerate(delta):
                row[i] = max(row[i] + d, 0.0)

    def iterate(self, n: int = 1) -> None:
        """Run `n` CFR+ iterations (each updates seat 0, then seat 1)."""
        for _ in range(n):
            self.iterations += 1
            weight = float(self.iterations)  # linear averaging
            for player in (0, 1):
                self._traverse(player, self._current(), weight)

    def average_policy(self) -> PolicyTable:
        """The average strategy as `{information_state: {action: probability}}`."""
        table: PolicyTable = {}
        for slot, (_, key) in enumerate(self.tree.infoset_keys):
            acts = self.tree.infoset_actions[slot]
            row = self.strategy_sum[slot]
            total = sum(row)
            probs = [x / total for x in row] if total > 0 else [1.0 / len(row)] * len(row)
            table[key] = dict(zip(acts, probs))
        return table


def solve(game: Game, iterations: int) -> PolicyTable:
    """Run CFR+ for `iterations` and return the average policy."""
    solver = CFRPlusSolver(game)
    solver.iterate(iterations)
    return solver.average_policy()


def _data_name(game_id: str) -> str:
    return f"cfr_{game_id}.json"


def load_policy(game_id: str) -> PolicyTable:
    """The shipped equilibrium of `game_id` (`FileNotFoundError` if none ships)."""
    try:
        text = resources.files("games").joinpath("data", _data_name(game_id)).read_text()
    except (FileNotFoundError, OSError) as exc:
        raise FileNotFoundError(f"no shipped CFR policy for {game_id}") from exc
    return json.loads(text)["policy"]


def shipped_policy(game_id: str):
    """The shipped equilibrium as a policy function."""
    return tabular_policy(load_policy(game_id))


def main(argv: list[str] | None = None) -> None:
    from games.analysis import exploitability
    from games.registry import make

    parser = argparse.ArgumentParser(description="Solve a small poker game with CFR+.")
    parser.add_argument("game", choices=["kuhn_poker", "leduc_poker"])
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--out", type=Path, default=None, help="default: games/data/")
    args = parser.parse_args(argv)
    game = make(args.game)
    start = time.perf_counter()
    solver = CFRPlusSolver(game)
    solver.iterate(args.iterations)
    table = solver.average_policy()
    elapsed = time.perf_counter() - start
    expl = exploitability(solver.tree, tabular_policy(table))
    out = args.out or Path(__file__).parent / "data" / _data_name(args.game)
    rounded = {k: {a: round(p, 6) for a, p in row.items()} for k, row in sorted(table.items())}
    payload = {
        "game": args.game,
        "algorithm": "CFR+ (alternating updates, linear averaging)",
        "iterations": args.iterations,
        "exploitability": expl,
        "policy": rounded,
    }
    out.write_text(json.dumps(payload, indent=1) + "\n")
    print(
        f"{args.game}: {args.iterations} iterations in {elapsed:.1f}s, exploitability {expl:.6f} -> {out}"
    )


if __name__ == "__main__":
    main()
