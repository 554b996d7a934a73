"""Duplicate deals: how many fewer games it takes to tell two bots of known strength apart.

    python bench/duplicate.py [--runs 100] [--max-games 1500] [--sample 20000] [--seed 0]

The CFR equilibrium bot plays the random bot at kuhn_poker and leduc_poker, in the order a
round-robin of the two schedules them (`arena.tournament.schedule.round_robin`), each match
played with the arena's own chance and seat generators (`chance_rng_for`, `seat_rng`: the
same cards as `play_match` would deal for that seed):
- fresh deals (`duplicate=False`): seats alternate, every match its own seed;
- duplicate deals (`duplicate=True`): every seed twice, seats swapped; a deal's result is the
  sum of its two matches' returns, so the luck of the cards cancels.

A run plays up to `--max-games` matches. "median" and "p25-p75": the games played when the
95% confidence interval of CFR's mean return (normal, with the sample's standard deviation,
over games or over deals; a deal counts as its two games) first lies above 0, after at least
30 games, over `--runs` runs with different tournament seeds ("never": runs that did not get
there). "80% power": the fewest games (in steps of 10) at which 80% of the runs have the
interval above 0, a steadier figure than the first crossing, which chance can hit early.
"mean/game" and "sd/game": CFR's mean return per game and its standard deviation (duplicate:
of a deal's sum over sqrt 2, so both are in per-game units), from one fixed sample of
`--sample` games; "expected": the games a fixed-size test needs at that spread,
(1.96 * sd / mean)**2. The last column divides the fresh row's expected, 80% power and median
by the duplicate row's. Both modes, both games, same run, so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

# Run as a script, bench/ comes first on sys.path and bench/games.py would shadow the package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import games  # noqa: E402
from arena.match import chance_rng_for, seat_rng  # noqa: E402
from arena.tournament.schedule import GameEntry, round_robin  # noqa: E402
from games import CHANCE, sample_chance  # noqa: E402
from games.bots import make_bot  # noqa: E402

Z95 = 1.959964
MIN_GAMES = 30
STEP = 10
POWER = 0.8
PLAYERS = ("cfr", "random")


def play(game, bots: dict, seats: tuple[str, ...], seed: int) -> list[float]:
    """One match as `play_match` plays it for bots: chance from the seed's chance generator,
    each seat's sampling from its own."""
    state = game.new_initial_state()
    chance = chance_rng_for(seed)
    rngs = [seat_rng(seed, s) for s in range(len(seats))]
    while not state.is_terminal():
        seat = state.current_player()
        if seat == CHANCE:
            state.apply(sample_chance(state, chance))
        else:
            state.apply(bots[seats[seat]].act(state, rngs[seat]))
    return [float(r) for r in state.returns()]


class Running:
    """Mean and variance, one observation at a time (Welford)."""

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, x: float) -> None:
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self.m2 += d * (x - self.mean)

    def sd(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else math.inf

    def above_zero(self) -> bool:
        """Whether the 95% confidence interval of the mean lies above 0."""
        return self.n > 1 and self.mean > Z95 * self.sd() / math.sqrt(self.n)


def observations(game, bots, entry: GameEntry, seed: int, duplicate: bool, max_games: int):
    """(games played so far, CFR's result): per game, or per deal (the sum of its two). The
    schedule is built in growing chunks: a longer one starts with the same matches."""
    played, chunk, deal = 0, 64, []
    while played < max_games:
        chunk = min(chunk * 2, max_games)
        schedule = round_robin(list(PLAYERS), [entry], chunk, seed, duplicate=duplicate)
        for pairing in schedule[played:]:
            returns = play(game, bots, pairing.seats, pairing.seed)
            played += 1
            deal.append(returns[pairing.seats.index("cfr")])
            if len(deal) == (2 if duplicate else 1):
                yield played, sum(deal)
                deal = []


def one_run(game, bots, entry, seed: int, duplicate: bool, max_games: int) -> tuple[int, list]:
    """Games played until the 95% interval of CFR's mean return first lies above 0 (after
    MIN_GAMES; max_games if never), and whether it does at each multiple of STEP games."""
    test, first, above = Running(), max_games, []
    for played, x in observations(game, bots, entry, seed, duplicate, max_games):
        test.add(x)
        if played >= MIN_GAMES and first == max_games and test.above_zero():
            first = played
        if played % STEP == 0:
            above.append(test.above_zero())
    return first, above


def spread(game, bots, entry, seed: int, duplicate: bool, games: int) -> tuple[float, float]:
    """CFR's mean return per game and its standard deviation in per-game units (a deal's sum
    over sqrt 2), from a fixed sample of `games` games."""
    stats = Running()
    for _, x in observations(game, bots, entry, seed, duplicate, games):
        stats.add(x / math.sqrt(2) if duplicate else x)
    return stats.mean / (math.sqrt(2) if duplicate else 1), stats.sd()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--max-games", type=int, default=1500)
    parser.add_argument("--sample", type=int, default=20_000, help="games for sd/game")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cap = args.max_games
    started = time.perf_counter()
    print(
        f"{'game':<12} {'deals':<10} {'mean/game':>9} {'sd/game':>8} {'expected':>8} "
        f"{'80% power':>9} {'median':>6} {'p25-p75':>9} {'never':>5}   fresh / duplicate"
    )
    for game_id in ("kuhn_poker", "leduc_poker"):
        game = games.make(game_id)
        bots = {name: make_bot(game, name) for name in PLAYERS}
        entry = GameEntry(game_id, game.num_players)
        figures = {}
        for duplicate in (False, True):
            firsts, power = [], [0] * (cap // STEP)
            for run in range(args.runs):
                seed = args.seed * 1_000_003 + run
                first, above = one_run(game, bots, entry, seed, duplicate, cap)
                firsts.append(first)
                for i, yes in enumerate(above):
                    power[i] += yes
            # the fewest games at which 80% of the runs have told them apart
            n80 = next((STEP * (i + 1) for i, k in enumerate(power) if k >= POWER * args.runs), cap)
            mean, sd = spread(game, bots, entry, args.seed - 1, duplicate, args.sample)
            expect = (Z95 * sd / mean) ** 2 if mean else math.inf
            q = statistics.quantiles(firsts, n=4)
            label = "duplicate" if duplicate else "fresh"
            median = statistics.median(firsts)
            figures[label] = (expect, n80, median)
            never = sum(n >= cap for n in firsts)
            print(
                f"{game_id:<12} {label:<10} {mean:>+9.3f} {sd:>8.3f} {expect:>8.0f} {n80:>9} "
                f"{median:>6.0f} {f'{q[0]:.0f}-{q[2]:.0f}':>9} {never:>5}",
                end="",
            )
            if duplicate:
                ratios = [a / b for a, b in zip(figures["fresh"], figures["duplicate"])]
                print("   " + " ".join(f"{r:.2f}x" for r in ratios))
            else:
                print()
    print(f"\n{args.runs} runs per row, {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
