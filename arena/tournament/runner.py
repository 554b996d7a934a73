"""Playing a stored tournament: K matches at once on one asyncio loop, each committed with its
rating update. Run and resume are the same call: whatever is pending is played.

Matches are stored and rated in schedule order, not the order they finish in: one that
finishes ahead of an earlier one waits in memory until that one is stored. So a seeded
tournament of deterministic players ends with the same records and ratings at any concurrency,
and after a stop and resume. (A match that ends in error is retried on a later run, out of that
order; the ladder pairs from the ratings stored when it picks, so only at concurrency 1 does
its schedule depend on the seed alone.)

Stopping: setting `stop` lets every match in flight end at its next move; they are stored as
`aborted` (unrated) and their slots stay pending for `resume`. Cancelling the task instead
(a second Ctrl-C) drops in-flight matches without a trace; their slots also stay pending. A
killed process leaves its slots pending too: the schedule is stored before play and each match
commits atomically, so resume neither loses nor repeats a match. The SQL is in
`arena.store.tournaments`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arena.errors import ArenaError
from arena.processes import process_running
from arena.store import tournaments as store
from arena.store.db import write
from arena.store.players import get_player
from arena.store.records import record_match
from arena.store.standings import ratings_of
from arena.tournament.config import ConfigError, TournamentConfig, duplicate_deals
from arena.tournament.schedule import (
    GameEntry,
    LadderPicker,
    Pairing,
    match_seed,
    matches_per_group,
    rotations,
    swiss_pairings,
    swiss_round,
    swiss_rounds_default,
)
from arena.tournament.setup import check_config, insert_slots

if TYPE_CHECKING:
    from sqlite_utils import Database

    from arena.match import MatchEvent, MatchResult
    from arena.players.base import Player


class TournamentError(ArenaError):
    """The tournament cannot run (unknown id, finished, running elsewhere)."""


@dataclass(frozen=True)
class Slot:
    id: int
    idx: int
    round: int
    game: str
    params: dict[str, Any]
    seats: list[str]
    seed: int


@dataclass
class Progress:
    """What a progress view needs; passed to `on_progress` after every change."""

    tournament_id: int
    total: int
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    played: int = 0  # matches stored by this run (finished)
    errors: int = 0
    aborted: int = 0
    started: float = field(default_factory=time.monotonic)
    last: MatchResult | None = None
    paused: bool = False
    standings: dict[str, list[int]] = field(default_factory=dict)  # name -> [wins, draws, losses]

    def leaders(self, n: int = 3) -> list[tuple[str, list[int]]]:
        """The best `n` by points (a win 1, a draw 1/2) among this run's finished matches."""
        return sorted(self.standings.items(), key=lambda kv: (-(kv[1][0] + kv[1][1] / 2), kv[0]))[
            :n
        ]

    @property
    def eta_s(self) -> float | None:
        if not self.played:
            return None
        rate = self.played / max(time.monotonic() - self.started, 1e-9)
        return max(self.total - self.done - self.failed, 0) / rate


async def _first(*waits: Any) -> None:
    """Wait until the first of several coroutines returns; cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


def tournament_status(row: dict[str, Any]) -> str:
    """The stored status, with a run whose process died shown as interrupted."""
    if row["status"] == "running" and not process_running(row["pid"]):
        return "interrupted"
    return row["status"]


def load_tournament(db: Database, tournament_id: int) -> tuple[dict[str, Any], TournamentConfig]:
    """The tournament's row and its config; TournamentError when there is none."""
    row = store.tournament_row(db, tournament_id)
    if row is None:
        raise TournamentError(f"no tournament with id {tournament_id}")
    return row, TournamentConfig.model_validate_json(row["config"])


def _slot(row: tuple) -> Slot:
    return Slot(row[0], row[1], row[2], row[3], json.loads(row[4]), json.loads(row[5]), row[6])


class _Planner:
    """Hands out the next slot to play; formats differ only here."""

    def __init__(self, db: Database, tid: int, config: TournamentConfig, entries: list[GameEntry]):
        self.db, self.tid, self.config, self.entries = db, tid, config, entries
        self.queue: deque[Slot] = deque()  # pending slots not yet handed out by this run
        self.seen = 0  # the highest slot id loaded into the queue
        self.load()

    def load(self) -> None:
        """Queue the pending slots stored since the last load (each handed out once per run)."""
        for slot in map(_slot, store.pending_slots(self.db, self.tid, self.seen)):
            self.queue.append(slot)
            self.seen = max(self.seen, slot.id)

    def total(self) -> int:
        return sum(store.slot_counts(self.db, self.tid).values())

    def next(self, busy: set[str], in_flight: int) -> Slot | None:
        return self.queue.popleft() if self.queue else None

    def unplanned(self) -> bool:
        """Whether matches remain that are not in the schedule yet."""
        return False

    def has_more(self) -> bool:
        return bool(self.queue) or self.unplanned()


class _SwissPlanner(_Planner):
    def rounds(self) -> int:
        return self.config.rounds or swiss_rounds_default(len(self.config.players))

    def unplanned(self) -> bool:
        return self._round() < self.rounds()

    def _round(self) -> int:
        return store.last_round(self.db, self.tid)

    def total(self) -> int:
        per_pair = matches_per_group(self.config.games_per_pair, 2, self.config.duplicate)
        per_round = (len(self.config.players) // 2) * per_pair * len(self.entries)
        return per_round * self.rounds()

    def next(self, busy: set[str], in_flight: int) -> Slot | None:
        if self.queue:
            return self.queue.popleft()
        if in_flight:
            return None  # the round is still being played
        # the round is paired from what is stored and stored before any of it is played, in
        # one transaction (pairing is quick: no model call is made here)
        with write(self.db):
            round_no = self._round()
            unfinished = store.slot_counts(self.db, self.tid).get("pending", 0)
            if unfinished or round_no >= self.rounds():
                return None  # a match of this round failed in this run: resume retries it first
            standings, played, byes = self._standings()
            pairs, _ = swiss_pairings(standings, played, round_no + 1, self.config.seed, byes=byes)
            pairings = swiss_round(
                pairs,
                self.entries,
                self.config.games_per_pair,
                self.config.seed,
                round_no + 1,
                duplicate=self.config.duplicate,
            )
            insert_slots(self.db, self.tid, pairings)
        self.load()
        return self.queue.popleft() if self.queue else None

    def _standings(self) -> tuple[dict[str, float], dict[frozenset[str], int], list[str]]:
        standings = {p: 0.0 for p in self.config.players}
        played: dict[frozenset[str], int] = {}
        appeared: dict[int, set[str]] = {}
        for round_no, names in store.scheduled_seats(self.db, self.tid):
            appeared.setdefault(round_no, set()).update(names)
            key = frozenset(names)
            played[key] = played.get(key, 0) + 1
        for name, outcome in store.finished_outcomes(self.db, self.tid):
            standings[name] = standings.get(name, 0.0) + {"win": 1.0, "draw": 0.5}.get(outcome, 0.0)
        # a player absent from a played round had the bye (and scores a win for it)
        byes = []
        for names in appeared.values():
            for p in self.config.players:
                if p not in names:
                    byes.append(p)
                    standings[p] += self.config.games_per_pair * len(self.entries)
        return standings, played, byes


class _LadderPlanner(_Planner):
    """Pairs on the fly: each new match goes where it shrinks rating uncertainty most.

    Everything a pick needs is kept in memory (matches scheduled, games per player, the pair
    weights in `LadderPicker`), built once from the schedule when the planner starts (so a
    resume after a kill starts from what is stored) and updated as each pairing is stored; a
    pick reads only the field's ratings. The cost of a pick does not grow with the matches
    already scheduled.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        from arena.ratings import Rating
        from arena.store.ratings import DEFAULT_PARAMS

        self._rating, self._params = Rating, DEFAULT_PARAMS
        games = dict.fromkeys(self.config.players, 0)
        self.scheduled = 0  # the tournament's slots, of every state
        for _, seats in store.scheduled_seats(self.db, self.tid):
            self.scheduled += 1
            for name in seats:
                games[name] = games.get(name, 0) + 1
        self.picker = LadderPicker(
            self.config.players,
            beta=DEFAULT_PARAMS.beta,
            min_games=self.config.min_games,
            games_played=games,
        )
        self.rng = random.Random(f"ladder:{self.config.seed}:{self.scheduled}")
        self._names = list(self.config.players)

    def budget(self) -> int:
        """The matches to schedule; with duplicate deals, rounded up to whole deals (the
        ladder is for 2-seat games: pairs of matches)."""
        budget = self.config.matches or 10 * len(self.config.players)
        return -(-budget // 2) * 2 if duplicate_deals(self.config) else budget

    def total(self) -> int:
        return self.budget()

    def unplanned(self) -> bool:
        return self.scheduled < self.budget()

    def played_count(self) -> int:
        return self.scheduled

    def _ratings(self, entry: GameEntry) -> dict[str, Any]:
        """The field's current ratings for the game (the default for a player never rated)."""
        params, rating = self._params, self._rating
        ratings = {p: rating(params.mu, params.sigma) for p in self._names}
        ratings.update(ratings_of(self.db, entry.id, self._names))
        return ratings

    def next(self, busy: set[str], in_flight: int) -> Slot | None:
        if self.queue:
            return self.queue.popleft()
        count = self.scheduled
        if count >= self.budget():
            return None
        entry = self.entries[count % len(self.entries)]
        seats = self.picker.next(self._ratings(entry), entry, rng=self.rng, busy=busy)
        if seats is None:
            return None
        # One deal: the pair in both seatings on one seed with duplicate deals, else one match.
        seed = match_seed(self.config.seed, "ladder", count)
        seatings = rotations(seats) if duplicate_deals(self.config) else [tuple(seats)]
        pairings = [Pairing(entry, s, seed, count + 1 + k) for k, s in enumerate(seatings)]
        with write(self.db):
            insert_slots(self.db, self.tid, pairings)
        self.scheduled += len(pairings)
        for seating in seatings:
            self.picker.record(seating)
        self.load()
        return self.queue.popleft() if self.queue else None


_PLANNERS = {
    "round_robin": _Planner,
    "gauntlet": _Planner,
    "swiss": _SwissPlanner,
    "ladder": _LadderPlanner,
}


# Matches finished ahead of an earlier one, waiting for it to be stored first, at most this many
# per concurrent match (no new match starts beyond it): what a kill can lose is bounded.
HELD_PER_SLOT = 4


def _claim(db: Database, tid: int) -> None:
    """Mark the tournament running by this process (checked and written in one transaction)."""
    refused = store.claim_tournament(db, tid, os.getpid(), running_elsewhere=process_running)
    if refused == "missing":
        raise TournamentError(f"no tournament with id {tid}")
    if refused == "finished":
        raise TournamentError(f"tournament {tid} is finished")
    if refused is not None:
        owner = refused.removeprefix("running ")
        raise TournamentError(f"tournament {tid} is already running (process {owner})")


def _settle(db: Database, tid: int, planner: _Planner, stopped: bool) -> str:
    """Record how the run ended: `interrupted` when stopped or anything is left to play,
    else `finished`; decided inside the transaction that writes it."""
    with write(db):
        pending = store.slot_counts(db, tid).get("pending", 0)
        status = "interrupted" if stopped or pending or planner.unplanned() else "finished"
        store.end_tournament_run(db, tid, status)
    return status


def _record(db, result, player_ids, tournament_id, schedule_id, config) -> None:
    """Store a played match. A record that SQLite cannot take (a value a player returned
    that is not text or a number) is stored as an error of the match instead, so the slot is
    counted and a resume does not trip on the same match for ever."""
    import sqlite3

    kw = {"tournament_id": tournament_id, "schedule_id": schedule_id}
    try:
        record_match(db, result, player_ids, max_tries=config.max_error_tries, **kw)
    except (sqlite3.InterfaceError, sqlite3.ProgrammingError, TypeError, ValueError) as exc:
        result.status, result.returns, result.moves = "error", None, []
        result.forfeit_seat = None
        result.error = f"the match record could not be stored: {type(exc).__name__}: {exc}"
        record_match(db, result, player_ids, max_tries=config.max_error_tries, **kw)


async def run_tournament(
    db: Database,
    tournament_id: int,
    *,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    concurrency: int | None = None,
    go: asyncio.Event | None = None,
    on_match_event: Callable[[Slot, MatchEvent], None] | None = None,
) -> dict[str, Any]:
    """Play every pending match of a stored tournament; returns a summary (id, status,
    matches_played, ...). Safe to call again on an interrupted tournament (that is resume).

    `stop` ends the run (matches in flight end at their next move); clearing `go` pauses it
    (no new match starts; those in flight finish) until it is set again. `on_match_event`
    receives every match's events, replies streaming in, for a spectator view."""
    import games
    from arena.match import MatchRules, play_match
    from arena.players.factory import BackendPool, make_player

    row, config = load_tournament(db, tournament_id)
    try:
        entries, specs = check_config(db, config)
    except ConfigError as exc:
        raise TournamentError(str(exc)) from None
    executor = None
    if config.executor == "ray":
        from arena.tournament.ray_executor import RayExecutor, RayUnavailable

        try:
            executor = RayExecutor(
                dict(specs),
                address=config.address,
                replicas=config.replicas,
                model_resources={"num_cpus": config.model_cpus, "num_gpus": config.model_gpus},
            )
        except RayUnavailable as exc:
            raise TournamentError(str(exc)) from None
    _claim(db, tournament_id)
    stop = stop or asyncio.Event()
    if go is None:
        go = asyncio.Event()
        go.set()
    rules = MatchRules(
        retries=config.retries,
        on_exhausted=config.on_illegal,
        move_time_limit_s=config.move_time_limit_s,
        max_reply_bytes=config.max_reply_bytes,
    )
    planner = _PLANNERS[config.format](db, tournament_id, config, entries)
    ids = {name: get_player(db, name).id for name in specs}
    pool = BackendPool()
    players: dict[str, Player] = {}
    counts = store.slot_counts(db, tournament_id)
    progress = Progress(
        tournament_id, planner.total(), done=counts.get("done", 0), failed=counts.get("failed", 0)
    )
    limit = concurrency or config.concurrency

    def player(name: str) -> Player:
        if name not in players:
            players[name] = make_player(specs[name], pool)
        return players[name]

    async def play(slot: Slot) -> MatchResult:
        if executor is not None:
            return await executor.play(slot, rules, stop)
        game = games.make(slot.game, **slot.params)
        seated = [player(n) for n in slot.seats]
        if on_match_event is None:
            return await play_match(game, seated, slot.seed, rules=rules, stop=stop)
        return await play_match(
            game,
            seated,
            slot.seed,
            rules=rules,
            stop=stop,
            on_event=lambda event: on_match_event(slot, event),
            stream=True,
        )

    running: dict[asyncio.Task, Slot] = {}
    started: deque[Slot] = deque()  # started and not yet stored, in the order they started
    held: dict[int, MatchResult] = {}  # finished before a match started earlier: waiting
    cut = False  # a match was stopped: those after it are not stored (they replay in order)
    try:
        while True:
            while (
                not stop.is_set()
                and go.is_set()
                and len(running) < limit
                and len(held) < HELD_PER_SLOT * limit
            ):
                busy = {n for s in running.values() for n in s.seats}
                slot = planner.next(busy, len(running))
                if slot is None:
                    break
                running[asyncio.ensure_future(play(slot))] = slot
                started.append(slot)
            progress.in_flight = len(running)
            progress.paused = not go.is_set()
            if on_progress:
                on_progress(progress)
            if not running:
                if progress.paused and not stop.is_set() and planner.has_more():
                    await _first(go.wait(), stop.wait())
                    continue
                break
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                slot = running.pop(task)
                held[slot.id] = task.result()
            # Stored and rated in the order they were started (the schedule's), not the order
            # they finished in: the ratings depend on the seed alone, at any concurrency.
            while started and started[0].id in held:
                slot = started.popleft()
                result = held.pop(slot.id)
                if cut and result.status == "finished":
                    continue  # after an aborted match: played again on resume, in order
                cut = cut or result.status == "aborted"
                _record(db, result, [ids[n] for n in slot.seats], tournament_id, slot.id, config)
                progress.last = result
                if result.status == "finished":
                    progress.played += 1
                    progress.done += 1
                    _tally(progress.standings, slot.seats, result)
                elif result.status == "error":
                    progress.errors += 1
                    progress.failed += store.slot_state(db, slot.id) == "failed"
                else:
                    progress.aborted += 1
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        for p in players.values():
            await p.aclose()
        await pool.aclose()
        if executor is not None:
            await executor.aclose()
        status = _settle(db, tournament_id, planner, stop.is_set() or bool(running))
    return summary(db, tournament_id) | {
        "status": status,
        "played_this_run": progress.played,
        "errors_this_run": progress.errors,
        "aborted_this_run": progress.aborted,
    }


def _tally(standings: dict[str, list[int]], seats: list[str], result: MatchResult) -> None:
    from arena.outcomes import seat_outcomes

    _, outcomes, _ = seat_outcomes(result.returns or [], result.teams)
    for name, outcome in zip(seats, outcomes):
        row = standings.setdefault(name, [0, 0, 0])
        row[("win", "draw", "loss").index(outcome)] += 1


def standings(db: Database, tournament_id: int) -> list[dict[str, Any]]:
    """Each player's finished matches in this tournament: wins, draws, losses, points and mean
    return, best first."""
    rows = store.standing_rows(db, tournament_id)
    out = [
        {
            "name": name,
            "games": games,
            "wins": wins,
            "draws": draws,
            "losses": losses,
            "points": wins + draws / 2,
            "mean_return": mean,
        }
        for name, games, wins, draws, losses, mean in rows
    ]
    out.sort(key=lambda r: (-r["points"] / max(r["games"], 1), r["name"]))
    return out


def deal_results(db: Database, tournament_id: int) -> list[dict[str, Any]]:
    """Duplicate deals' results, per game and group of players (a pair, for 2-seat games).

    A deal is the finished matches of one group with the same game, params and seed
    (`deal_key`: the schedule's link, not a stored one); it counts when they are exactly its
    seatings (`rotations`: both seat orders of a pair). Its result for each player is the sum
    of their returns over those matches, ranked as a match's returns are (`seat_outcomes`),
    so the luck of the deal cancels. Each row: game, params, players (sorted), deals,
    unpaired (finished matches not in a whole deal: their partner not played yet, an odd
    games_per_pair, or no duplicate deals) and per player wins, draws, losses and mean_return
    (a deal's summed return, averaged over the deals)."""
    from arena.outcomes import seat_outcomes
    from arena.store.queries import list_matches
    from arena.tournament.schedule import deal_key, rotations

    deals: dict[tuple, list[dict[str, Any]]] = {}
    for m in list_matches(db, tournament=tournament_id, status="finished"):
        deals.setdefault(deal_key(m["game"], m["params"], m["seed"], m["players"]), []).append(m)
    groups: dict[tuple, dict[str, Any]] = {}
    for (game, params, _, names), matches in deals.items():
        row = groups.get((game, params, names))
        if row is None:
            row = groups[(game, params, names)] = {
                "game": game,
                "params": json.loads(params),
                "players": list(names),
                "deals": 0,
                "unpaired": 0,
                "results": {n: [0, 0, 0, 0.0] for n in names},
            }
        seatings = sorted(tuple(m["players"]) for m in matches)
        if seatings != sorted(rotations(matches[0]["players"])):
            row["unpaired"] += len(matches)
            continue
        totals = [
            round(sum(m["returns"][m["players"].index(n)] for m in matches), 9) for n in names
        ]
        _, outcomes, _ = seat_outcomes(totals, None)
        row["deals"] += 1
        for name, outcome, total in zip(names, outcomes, totals):
            tally = row["results"][name]
            tally[("win", "draw", "loss").index(outcome)] += 1
            tally[3] += total
    out = []
    for key in sorted(groups):
        row = groups[key]
        row["results"] = [
            {
                "name": name,
                "wins": wins,
                "draws": draws,
                "losses": losses,
                "mean_return": total / row["deals"] if row["deals"] else None,
            }
            for name, (wins, draws, losses, total) in row["results"].items()
        ]
        out.append(row)
    return out


DEALS_HEADING = "duplicate deals (deals W-D-L, mean return per deal; luck cancels)"


def deal_lines(deals: list[dict[str, Any]]) -> list[str]:
    """`deal_results` in words, a line per game and group with deals played: each player's
    deals won, drawn and lost and mean summed return (empty: no deal played)."""
    lines = []
    for d in deals:
        if not d["deals"]:
            continue
        results = ", ".join(
            f"{r['name']} {r['wins']}-{r['draws']}-{r['losses']} {r['mean_return']:+.3f}"
            for r in d["results"]
        )
        unpaired = f" ({d['unpaired']} unpaired)" if d["unpaired"] else ""
        lines.append(f"{d['game']:<12} {d['deals']} deals{unpaired}: {results}")
    return lines


def summary(db: Database, tournament_id: int) -> dict[str, Any]:
    """The tournament's row and its counts, as plain data (for `show --json`)."""
    row, config = load_tournament(db, tournament_id)
    slots = store.slot_counts(db, tournament_id)
    matches = store.match_status_counts(db, tournament_id)
    return {
        "id": row["id"],
        "name": row["name"],
        "format": row["format"],
        "status": tournament_status(row),
        "games": [g.id for g in config.games],
        "players": config.field(),
        "seed": row["seed"],
        "scheduled": sum(slots.values()),
        "pending": slots.get("pending", 0),
        "failed": slots.get("failed", 0),
        "matches_played": matches.get("finished", 0),
        "matches_error": matches.get("error", 0),
        "matches_aborted": matches.get("aborted", 0),
        "created_at": row["created_at"],
        "finished_at": row["finished_at"],
        "standings": standings(db, tournament_id),
    }
