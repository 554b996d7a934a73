"""Playing a stored tournament: K matches at once on one asyncio loop, each committed with its
rating update as it finishes. Run and resume are the same call: whatever is pending is played.

Stopping: setting `stop` lets every match in flight end at its next move; they are stored as
`aborted` (unrated) and their slots stay pending for `resume`. Cancelling the task instead
(a second Ctrl-C) drops in-flight matches without a trace; their slots also stay pending. A
killed process leaves its slots pending too: the schedule is stored before play and each match
commits atomically, so resume neither loses nor repeats a match.
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

from arena.processes import process_running
from arena.store.db import write
from arena.store.players import get_player
from arena.store.records import record_match
from arena.store.schema import now
from arena.tournament.config import ConfigError, TournamentConfig
from arena.tournament.schedule import (
    GameEntry,
    Pairing,
    ladder_next,
    swiss_pairings,
    swiss_round,
    swiss_rounds_default,
)
from arena.tournament.setup import check_config, insert_slots

if TYPE_CHECKING:
    from sqlite_utils import Database

    from arena.match import MatchEvent, MatchResult
    from arena.players.base import Player


class TournamentError(RuntimeError):
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
    rows = list(db.query("SELECT * FROM tournaments WHERE id = ?", [tournament_id]))
    if not rows:
        raise TournamentError(f"no tournament with id {tournament_id}")
    return rows[0], TournamentConfig.model_validate_json(rows[0]["config"])


def _slot(row: tuple) -> Slot:
    return Slot(row[0], row[1], row[2], row[3], json.loads(row[4]), json.loads(row[5]), row[6])


_SLOT_COLUMNS = "id, idx, round, game, params, seats, seed"


class _Planner:
    """Hands out the next slot to play; formats differ only here."""

    def __init__(self, db: Database, tid: int, config: TournamentConfig, entries: list[GameEntry]):
        self.db, self.tid, self.config, self.entries = db, tid, config, entries
        self.queue: deque[Slot] = deque()  # pending slots not yet handed out by this run
        self.seen = 0  # the highest slot id loaded into the queue
        self.load()

    def load(self) -> None:
        """Queue the pending slots stored since the last load (each handed out once per run)."""
        rows = self.db.conn.execute(
            f"SELECT {_SLOT_COLUMNS} FROM schedule WHERE tournament_id = ? AND state = 'pending' "
            "AND id > ? ORDER BY idx",
            (self.tid, self.seen),
        )
        for slot in map(_slot, rows):
            self.queue.append(slot)
            self.seen = max(self.seen, slot.id)

    def total(self) -> int:
        return self.db.conn.execute(
            "SELECT COUNT(*) FROM schedule WHERE tournament_id = ?", (self.tid,)
        ).fetchone()[0]

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
        return self.db.conn.execute(
            "SELECT COALESCE(MAX(round), 0) FROM schedule WHERE tournament_id = ?", (self.tid,)
        ).fetchone()[0]

    def total(self) -> int:
        per_round = (len(self.config.players) // 2) * self.config.games_per_pair * len(self.entries)
        return per_round * self.rounds()

    def next(self, busy: set[str], in_flight: int) -> Slot | None:
        if self.queue:
            return self.queue.popleft()
        if in_flight:
            return None  # the round is still being played
        round_no = self._round()
        unfinished = self.db.conn.execute(
            "SELECT COUNT(*) FROM schedule WHERE tournament_id = ? AND state = 'pending'",
            (self.tid,),
        ).fetchone()[0]
        if unfinished or round_no >= self.rounds():
            return None  # a match of this round failed in this run: resume retries it first
        standings, played, byes = self._standings()
        pairs, _bye = swiss_pairings(standings, played, round_no + 1, self.config.seed, byes=byes)
        pairings = swiss_round(
            pairs, self.entries, self.config.games_per_pair, self.config.seed, round_no + 1
        )
        with write(self.db):  # the round is stored before any of it is played
            insert_slots(self.db, self.tid, pairings)
        self.load()
        return self.queue.popleft() if self.queue else None

    def _standings(self) -> tuple[dict[str, float], dict[frozenset[str], int], list[str]]:
        standings = {p: 0.0 for p in self.config.players}
        played: dict[frozenset[str], int] = {}
        appeared: dict[int, set[str]] = {}
        for round_no, seats in self.db.conn.execute(
            "SELECT round, seats FROM schedule WHERE tournament_id = ?", (self.tid,)
        ):
            names = json.loads(seats)
            appeared.setdefault(round_no, set()).update(names)
            key = frozenset(names)
            played[key] = played.get(key, 0) + 1
        for name, outcome in self.db.conn.execute(
            "SELECT p.name, r.outcome FROM results r JOIN matches m ON m.id = r.match_id "
            "JOIN players p ON p.id = r.player_id WHERE m.tournament_id = ? AND m.status = 'finished'",
            (self.tid,),
        ):
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
    """Pairs on the fly: each new match goes where it shrinks rating uncertainty most."""

    def __init__(self, *args: Any) -> None:
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

    def next(self, busy: set[str], in_flight: int) -> Slot | None:
        if self.queue:
            return self.queue.popleft()
        count = self.played_count()
        if count >= self.budget():
            return None
        entry = self.entries[count % len(self.entries)]
        from arena.ratings import Rating
        from arena.store.ratings import DEFAULT_PARAMS

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
        from arena.tournament.schedule import match_seed

        pairing = Pairing(
            entry, tuple(seats), match_seed(self.config.seed, "ladder", count), count + 1
        )
        with write(self.db):
            insert_slots(self.db, self.tid, [pairing])
        self.load()
        return self.queue.popleft() if self.queue else None


_PLANNERS = {
    "round_robin": _Planner,
    "gauntlet": _Planner,
    "swiss": _SwissPlanner,
    "ladder": _LadderPlanner,
}


def _claim(db: Database, tid: int, status: str) -> None:
    with write(db):
        row = db.conn.execute("SELECT status, pid FROM tournaments WHERE id = ?", (tid,)).fetchone()
        if row[0] == "running" and process_running(row[1]) and row[1] != os.getpid():
            raise TournamentError(f"tournament {tid} is already running (process {row[1]})")
        if row[0] == "finished":
            raise TournamentError(f"tournament {tid} is finished")
        db.conn.execute(
            "UPDATE tournaments SET status = ?, pid = ?, started_at = COALESCE(started_at, ?) "
            "WHERE id = ?",
            (status, os.getpid(), now(), tid),
        )


def _settle(db: Database, tid: int, planner: _Planner, stopped: bool) -> str:
    pending = db.conn.execute(
        "SELECT COUNT(*) FROM schedule WHERE tournament_id = ? AND state = 'pending'", (tid,)
    ).fetchone()[0]
    status = "interrupted" if stopped or pending or planner.unplanned() else "finished"
    with write(db):
        db.conn.execute(
            "UPDATE tournaments SET status = ?, pid = NULL, finished_at = ? WHERE id = ?",
            (status, now() if status == "finished" else None, tid),
        )
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
    _claim(db, tournament_id, "running")
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
    counts = dict(
        db.conn.execute(
            "SELECT state, COUNT(*) FROM schedule WHERE tournament_id = ? GROUP BY state",
            (tournament_id,),
        ).fetchall()
    )
    progress = Progress(
        tournament_id, planner.total(), done=counts.get("done", 0), failed=counts.get("failed", 0)
    )
    limit = concurrency or config.concurrency

    def player(name: str) -> Player:
        if name not in players:
            players[name] = make_player(specs[name], pool)
        return players[name]

    async def play(slot: Slot) -> MatchResult:
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
    try:
        while True:
            while not stop.is_set() and go.is_set() and len(running) < limit:
                busy = {n for s in running.values() for n in s.seats}
                slot = planner.next(busy, len(running))
                if slot is None:
                    break
                running[asyncio.ensure_future(play(slot))] = slot
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
                result = task.result()
                _record(db, result, [ids[n] for n in slot.seats], tournament_id, slot.id, config)
                progress.last = result
                if result.status == "finished":
                    progress.played += 1
                    progress.done += 1
                    _tally(progress.standings, slot.seats, result)
                elif result.status == "error":
                    progress.errors += 1
                    tries = db.conn.execute(
                        "SELECT state FROM schedule WHERE id = ?", (slot.id,)
                    ).fetchone()[0]
                    progress.failed += tries == "failed"
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
        status = _settle(db, tournament_id, planner, stop.is_set() or bool(running))
    return summary(db, tournament_id) | {
        "status": status,
        "played_this_run": progress.played,
        "errors_this_run": progress.errors,
        "aborted_this_run": progress.aborted,
    }


def _tally(standings: dict[str, list[int]], seats: list[str], result: MatchResult) -> None:
    from arena.store.ratings import seat_outcomes

    _, outcomes, _ = seat_outcomes(result.returns or [], result.teams)
    for name, outcome in zip(seats, outcomes):
        row = standings.setdefault(name, [0, 0, 0])
        row[("win", "draw", "loss").index(outcome)] += 1


def standings(db: Database, tournament_id: int) -> list[dict[str, Any]]:
    """Each player's finished matches in this tournament: wins, draws, losses, points and mean
    return, best first."""
    rows = db.conn.execute(
        "SELECT p.name, COUNT(*), SUM(r.outcome = 'win'), SUM(r.outcome = 'draw'), "
        "SUM(r.outcome = 'loss'), AVG(r.return) FROM results r JOIN matches m ON m.id = r.match_id "
        "JOIN players p ON p.id = r.player_id WHERE m.tournament_id = ? AND m.status = 'finished' "
        "GROUP BY p.name",
        (tournament_id,),
    ).fetchall()
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


def summary(db: Database, tournament_id: int) -> dict[str, Any]:
    """The tournament's row and its counts, as plain data (for `show --json`)."""
    row, config = load_tournament(db, tournament_id)
    slots = dict(
        db.conn.execute(
            "SELECT state, COUNT(*) FROM schedule WHERE tournament_id = ? GROUP BY state",
            (tournament_id,),
        ).fetchall()
    )
    matches = dict(
        db.conn.execute(
            "SELECT status, COUNT(*) FROM matches WHERE tournament_id = ? GROUP BY status",
            (tournament_id,),
        ).fetchall()
    )
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
