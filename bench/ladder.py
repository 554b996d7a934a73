"""Ladder scheduling time: the planner's picks alone, for long continuous ladders.

    python bench/ladder.py [--sizes 2000 8000 32000] [--players 20] [--concurrency 4]
                           [--old-max 2000]

A ladder tournament of `--players` random bots on tictactoe is stored in a fresh SQLite file,
and its planner is driven as `run_tournament` drives it, with results that arrive at once:
`--concurrency` slots in flight (their players busy), the oldest finished first, its two
players' ratings updated with TrueSkill and its slot marked done. Only the `planner.next`
calls are timed, so the figures are scheduling alone (each pick is stored in its own
transaction, as in a real run); the results are outside the clock. The clock is the process's
CPU time, which other work on a shared machine barely disturbs (`--wall` for wall-clock time;
with WAL and synchronous=NORMAL a commit does not wait on the disk).

Rows, all measured in this run:
- ladder: the planner in arena/tournament/runner.py (incremental state, `LadderPicker`);
- old ladder: the planner as it was before (every pick rescans the stored schedule to count
  games per player and counts the slots with SQL), kept below as the baseline; quadratic, so
  only run for sizes up to `--old-max`;
- store only: the same number of pairings stored one transaction each and handed out, with
  no pairing logic at all (the floor of any on-the-fly schedule);
- round-robin: a round-robin schedule of the same number of matches, built, stored in one
  transaction and handed out by the round-robin planner.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

# Run as a script, bench/ comes first on sys.path and bench/games.py would shadow the package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from arena.ratings import Rating, rate_match  # noqa: E402
from arena.specs import parse_spec  # noqa: E402
from arena.store import open_db, write  # noqa: E402
from arena.store.players import add_player, get_player  # noqa: E402
from arena.store.ratings import DEFAULT_PARAMS  # noqa: E402
from arena.tournament.config import parse_config  # noqa: E402
from arena.tournament.runner import _LadderPlanner, _Planner  # noqa: E402
from arena.tournament.schedule import Pairing, ladder_next, match_seed, round_robin  # noqa: E402
from arena.tournament.setup import create_tournament, game_entries, insert_slots  # noqa: E402

CLOCK = [time.process_time]  # or time.perf_counter with --wall


class OldLadderPlanner(_Planner):
    """The ladder planner before the incremental state, verbatim: the baseline."""

    def __init__(self, *args):
        super().__init__(*args)
        self.rng = random.Random(f"ladder:{self.config.seed}:{self.played_count()}")

    def budget(self) -> int:
        return self.config.matches or 10 * len(self.config.players)

    def total(self) -> int:
        return self.budget()

    def unplanned(self) -> bool:
        return self.played_count() < self.budget()

    def played_count(self) -> int:
        return self.db.conn.execute(
            "SELECT COUNT(*) FROM schedule WHERE tournament_id = ?", (self.tid,)
        ).fetchone()[0]

    def next(self, busy, in_flight):
        if self.queue:
            return self.queue.popleft()
        count = self.played_count()
        if count >= self.budget():
            return None
        entry = self.entries[count % len(self.entries)]
        ratings = {p: Rating(DEFAULT_PARAMS.mu, DEFAULT_PARAMS.sigma) for p in self.config.players}
        for name, mu, sigma in self.db.conn.execute(
            "SELECT p.name, r.mu, r.sigma FROM ratings r JOIN players p ON p.id = r.player_id "
            "WHERE r.scope = ?",
            (entry.id,),
        ):
            if name in ratings:
                ratings[name] = Rating(mu, sigma)
        games = dict.fromkeys(self.config.players, 0)
        for (seats,) in self.db.conn.execute(
            "SELECT seats FROM schedule WHERE tournament_id = ?", (self.tid,)
        ):
            for name in json.loads(seats):
                games[name] = games.get(name, 0) + 1
        seats = ladder_next(
            ratings,
            games,
            entry,
            beta=DEFAULT_PARAMS.beta,
            min_games=self.config.min_games,
            rng=self.rng,
            busy=busy,
        )
        if seats is None:
            return None
        pairing = Pairing(
            entry, tuple(seats), match_seed(self.config.seed, "ladder", count), count + 1
        )
        with write(self.db):
            insert_slots(self.db, self.tid, [pairing])
        self.load()
        return self.queue.popleft() if self.queue else None


class StoreOnlyPlanner(OldLadderPlanner):
    """No pairing logic: the next pair in a fixed cycle, stored and handed out like a pick."""

    def __init__(self, *args):
        super().__init__(*args)
        self.count = self.played_count()

    def next(self, busy, in_flight):
        if self.count >= self.budget():
            return None
        players = [p for p in self.config.players if p not in busy]
        if len(players) < 2:
            return None
        entry = self.entries[0]
        seats = (players[self.count % len(players)], players[(self.count + 1) % len(players)])
        with write(self.db):
            insert_slots(self.db, self.tid, [Pairing(entry, seats, self.count, self.count + 1)])
        self.count += 1
        self.load()
        return self.queue.popleft()


def setup(path: Path, players: int, matches: int, concurrency: int):
    db = open_db(path)
    names = [f"bot{i:03d}" for i in range(players)]
    for name in names:
        add_player(db, parse_spec({"name": name, "kind": "bot", "bot": "random"}))
    config = parse_config(
        {
            "format": "ladder",
            "games": ["tictactoe"],
            "players": names,
            "matches": matches,
            "concurrency": concurrency,
            "seed": 1,
        }
    )
    return db, create_tournament(db, config), config


def drive(
    planner_cls, path: Path, players: int, matches: int, concurrency: int
) -> tuple[float, list[str]]:
    """Seconds spent in `planner.next` to schedule `matches` with instant results, and the
    schedule's seats in order."""
    clock = CLOCK[0]
    db, tid, config = setup(path, players, matches, concurrency)
    entries = game_entries(config)
    ids = {name: get_player(db, name).id for name in config.players}
    ratings = {name: Rating(DEFAULT_PARAMS.mu, DEFAULT_PARAMS.sigma) for name in config.players}
    outcomes = random.Random(0)
    in_flight: deque = deque()
    spent = 0.0
    planner = planner_cls(db, tid, config, entries)
    scheduled = 0
    while True:
        while len(in_flight) < concurrency:
            busy = {n for s in in_flight for n in s.seats}
            t0 = clock()
            slot = planner.next(busy, len(in_flight))
            spent += clock() - t0
            if slot is None:
                break
            in_flight.append(slot)
            scheduled += 1
        if not in_flight:
            break
        slot = in_flight.popleft()  # the result arrives: a TrueSkill update, the slot done
        a, b = slot.seats
        win = outcomes.random()
        returns = [1.0, -1.0] if win < 0.45 else [-1.0, 1.0] if win < 0.9 else [0.0, 0.0]
        ratings[a], ratings[b] = rate_match(DEFAULT_PARAMS, [ratings[a], ratings[b]], returns)
        with write(db):
            for name in (a, b):
                db.conn.execute(
                    "INSERT INTO ratings (player_id, scope, mu, sigma) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (player_id, scope) DO UPDATE SET mu = excluded.mu, "
                    "sigma = excluded.sigma",
                    (ids[name], slot.game, ratings[name].mu, ratings[name].sigma),
                )
            db.conn.execute("UPDATE schedule SET state = 'done' WHERE id = ?", (slot.id,))
    assert scheduled == matches, (planner_cls.__name__, scheduled, matches)
    seats = [r[0] for r in db.conn.execute("SELECT seats FROM schedule ORDER BY idx")]
    db.conn.close()
    return spent, seats


def round_robin_time(path: Path, players: int, matches: int) -> float:
    """Seconds to build a round-robin schedule of `matches`, store it and hand it out."""
    db, tid, config = setup(path, players, matches, 1)
    entries = game_entries(config)
    pairs = players * (players - 1) // 2
    clock = CLOCK[0]
    t0 = clock()
    schedule = round_robin(config.players, entries, -(-matches // pairs), config.seed)[:matches]
    with write(db):
        insert_slots(db, tid, schedule)
    planner = _Planner(db, tid, config, entries)
    handed = 0
    while planner.next(set(), 0) is not None:
        handed += 1
    spent = clock() - t0
    assert handed == matches
    db.conn.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 32000])
    parser.add_argument("--players", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--old-max", type=int, default=2000, help="Largest size the old planner runs."
    )
    parser.add_argument("--repeats", type=int, default=3, help="Runs per cell; the best counts.")
    parser.add_argument("--wall", action="store_true", help="Wall-clock time, not CPU time.")
    args = parser.parse_args()
    if args.wall:
        CLOCK[0] = time.perf_counter
    with tempfile.TemporaryDirectory(prefix="arena-bench-ladder-") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, work: Path) -> None:
    print(
        f"# {args.players} players, tictactoe, {args.concurrency} in flight; "
        f"{'wall' if args.wall else 'CPU'} seconds in planner.next (picks only)"
    )
    head = (
        f"{'matches':>8} {'ladder s':>9} {'us/pick':>8} {'store s':>8} {'/store':>7} "
        f"{'rr s':>7} {'/rr':>6} {'old s':>8} {'old/new':>8}"
    )
    print(head)
    previous = None
    same = []

    def best(planner_cls, n: int) -> tuple[float, list[str]]:
        runs = [
            drive(planner_cls, work / f"{planner_cls.__name__}-{n}-{r}.db", args.players, n, k)
            for r in range(args.repeats)
        ]
        return min(t for t, _ in runs), runs[0][1]

    k = args.concurrency
    for n in args.sizes:
        new, new_seats = best(_LadderPlanner, n)
        store, _ = best(StoreOnlyPlanner, n)
        rr = min(
            round_robin_time(work / f"rr-{n}-{r}.db", args.players, n) for r in range(args.repeats)
        )
        if n <= args.old_max:
            old, old_seats = best(OldLadderPlanner, n)
            same.append(old_seats == new_seats)
            old_cols = f"{old:>8.2f} {old / new:>8.1f}"
        else:
            old_cols = f"{'-':>8} {'-':>8}"
        print(
            f"{n:>8} {new:>9.2f} {new / n * 1e6:>8.0f} {store:>8.2f} {new / store:>7.2f} "
            f"{rr:>7.2f} {new / rr:>6.1f} {old_cols}"
        )
        if previous:
            pn, pt = previous
            print(f"#   x{n / pn:g} matches -> x{new / pt:.2f} ladder time")
        previous = (n, new)
    if same:
        print(f"# old and new planners picked the same schedule: {all(same)}")
    print(
        f"# best of {args.repeats} runs; /store: ladder against storing the same picks with no "
        "pairing logic; /rr: against a round-robin of the same size; old/new: the old planner "
        "against the new"
    )


if __name__ == "__main__":
    main()
