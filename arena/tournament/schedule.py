"""Who plays whom: round-robin, gauntlet, Swiss and continuous-ladder pairings.

Pure functions: no storage, no matches, standard library only, deterministic given a seed.

Seating and seeds (round-robin, gauntlet, Swiss):
- 2-seat games: a pair (a, b) plays `games_per_pair` matches, seats alternating (a first, then
  b first, ...). Matches 2k and 2k+1 form a mirrored couple that shares one seed, so the luck of
  the deal or the dice is the same for both sides and cancels out.
- n-seat games: each combination of n players plays `games_per_pair` matches; match j seats the
  combination rotated left by j, and the n rotations of one cycle share one seed.
- Duplicate deals (`duplicate=True`): the same, with `games_per_pair` rounded up per game to a
  multiple of its seats, so every seed is played in every seating (a whole deal). With
  `duplicate=False` every match has a seed of its own (seats still alternate or rotate). The
  default (None) is the mirrored seating above with exactly `games_per_pair` matches.
- The link between a deal's matches is not stored: they are the matches of one group with the
  same game, params and seed (`deal_key`).
- A group's seed depends on the tournament seed, the game (id, seats, params), the group's
  members as a set, the Swiss round and the couple/cycle index; never on list order, so the
  same pair gets the same deals in a round-robin and in a gauntlet with the same seed.

Order of the returned list, chosen so that running it with a pool of workers spreads the load:
round by round (every group's match 0, then every group's match 1, ...), within a round game by
game, and within a game the groups are arranged in batches of disjoint groups (first fit), so
consecutive matches involve different players as far as possible.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import math
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# Swiss backtracking gives up (and pairs greedily) after this many search nodes.
_SWISS_SEARCH_BUDGET = 200_000


@dataclass(frozen=True)
class GameEntry:
    """A game in a tournament: registry id, seats per match and game params.

    `params` is a dict excluded from the hash (`hash=False`) but included in equality, so
    entries are hashable and equal entries hash equally. It is copied on creation so the entry
    does not share the caller's dict; treat it as read-only.
    """

    id: str
    num_players: int
    params: dict = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.num_players < 2:
            raise ValueError(f"{self.id}: num_players must be at least 2, got {self.num_players}")
        object.__setattr__(self, "params", dict(self.params))

    def params_key(self) -> str:
        """The params as canonical JSON (sorted keys), used in match seeds."""
        return json.dumps(self.params, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Pairing:
    """One match to play: the game, player names in seat order, the match seed, the round."""

    game: GameEntry
    seats: tuple[str, ...]
    seed: int
    round: int = 0


def match_seed(tournament_seed: int, *parts: object) -> int:
    """A match seed in [0, 2**31) derived from the tournament seed and `parts`.

    Stable across processes and Python versions: the key is
    `json.dumps([tournament_seed, *parts], separators=(",", ":"))` in UTF-8, hashed with SHA-256;
    the seed is the first 8 bytes of the digest, big-endian, modulo 2**31. Parts must be JSON
    values (str, int, float, bool, None, lists/tuples of them); `TypeError` otherwise.
    """
    key = json.dumps([tournament_seed, *parts], separators=(",", ":"))
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 2**31


def _group_seed(seed: int, game: GameEntry, group: Sequence[str], round_no: int, k: int) -> int:
    # Sorted members: the seed belongs to the group, not to the order it was listed in.
    return match_seed(
        seed, game.id, game.num_players, game.params_key(), sorted(group), round_no, k
    )


def _check_common(players: Sequence[str], games: Sequence[GameEntry], games_per_pair: int) -> None:
    if len(players) < 2:
        raise ValueError(f"a tournament needs at least 2 players, got {len(players)}")
    dupes = sorted({p for p in players if players.count(p) > 1})
    if dupes:
        raise ValueError(f"duplicate player names: {', '.join(dupes)}")
    if not games:
        raise ValueError("a tournament needs at least one game")
    if len(set(games)) != len(games):
        # Identical entries would replay identical seeds: pass games_per_pair instead.
        raise ValueError("duplicate game entries (raise games_per_pair instead)")
    if games_per_pair < 1:
        raise ValueError(f"games_per_pair must be at least 1, got {games_per_pair}")


def _disjoint_batches(groups: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Reorder groups into consecutive batches of disjoint groups, greedily (first fit)."""
    ordered: list[tuple[str, ...]] = []
    left = list(groups)
    while left:
        busy: set[str] = set()
        rest = []
        for group in left:
            if busy.isdisjoint(group):
                ordered.append(group)
                busy.update(group)
            else:
                rest.append(group)
        left = rest
    return ordered


def matches_per_group(games_per_pair: int, num_players: int, duplicate: bool | None) -> int:
    """How many matches each group plays of a game: `games_per_pair`, rounded up to whole
    deals (a multiple of the seats) when `duplicate` is True."""
    if duplicate:
        return -(-games_per_pair // num_players) * num_players
    return games_per_pair


def rotations(seats: Sequence[str]) -> list[tuple[str, ...]]:
    """Every seating of a deal: `seats` rotated left by 0, 1, ... (for two seats: as given,
    then swapped)."""
    seats = tuple(seats)
    return [seats[k:] + seats[:k] for k in range(len(seats))]


def deal_key(game: str, params: object, seed: int, players: Collection[str]) -> tuple:
    """What the matches of one deal share: the game, its params, the seed and the players (as
    a set). Matches with equal keys are the seatings of one deal."""
    if not isinstance(params, str):
        params = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return (game, params, seed, tuple(sorted(players)))


def _expand(
    groups_by_game: list[tuple[GameEntry, list[tuple[str, ...]]]],
    games_per_pair: int,
    seed: int,
    round_no: int,
    duplicate: bool | None = None,
) -> list[Pairing]:
    """Seat every group's matches (alternating or rotating) and interleave them round by round."""
    batched = [
        (
            game,
            _disjoint_batches(groups),
            matches_per_group(games_per_pair, game.num_players, duplicate),
        )
        for game, groups in groups_by_game
    ]
    out = []
    for j in range(max(count for _, _, count in batched)):
        for game, groups, count in batched:
            if j >= count:
                continue
            n = game.num_players
            for group in groups:
                # 2 seats: j alternates; n seats: j rotates. One seed per couple/cycle of n,
                # or one per match when duplicate deals are off.
                shift = j % n
                seats = group[shift:] + group[:shift]
                s = _group_seed(seed, game, group, round_no, j if duplicate is False else j // n)
                out.append(Pairing(game, seats, s, round_no))
    return out


def _need_seats(game: GameEntry, available: int, where: str) -> None:
    if available < game.num_players:
        raise ValueError(f"{game.id} needs {game.num_players} players; {where} has {available}")


def round_robin(
    players: Sequence[str],
    games: Sequence[GameEntry],
    games_per_pair: int,
    seed: int,
    *,
    duplicate: bool | None = None,
) -> list[Pairing]:
    """Every combination of `game.num_players` players (pairs for 2-seat games) plays
    `games_per_pair` matches of every game; see the module docstring for seats, seeds, order
    and `duplicate`. `ValueError` on bad input or a game with more seats than players."""
    players = list(players)
    _check_common(players, games, games_per_pair)
    for game in games:
        _need_seats(game, len(players), "the field")
    groups = [(g, list(itertools.combinations(players, g.num_players))) for g in games]
    return _expand(groups, games_per_pair, seed, 0, duplicate)


def gauntlet(
    challenger: str,
    field: Sequence[str],
    games: Sequence[GameEntry],
    games_per_pair: int,
    seed: int,
    *,
    duplicate: bool | None = None,
) -> list[Pairing]:
    """Like `round_robin`, restricted to the groups that include `challenger`, who is listed
    first in each group (so sits in seat 0 in match 0). `ValueError` on bad input, including a
    challenger that is also in the field."""
    field = list(field)
    if challenger in field:
        raise ValueError(f"the challenger {challenger!r} is also in the field")
    _check_common([challenger, *field], games, games_per_pair)
    for game in games:
        _need_seats(game, len(field) + 1, f"the gauntlet ({challenger} plus the field)")
    groups = [
        (g, [(challenger, *rest) for rest in itertools.combinations(field, g.num_players - 1)])
        for g in games
    ]
    return _expand(groups, games_per_pair, seed, 0, duplicate)


# ---------------------------------------------------------------------------------------- Swiss


def swiss_rounds_default(num_players: int) -> int:
    """The usual number of Swiss rounds: ceil(log2(num_players)), at least 1."""
    if num_players < 1:
        raise ValueError(f"num_players must be at least 1, got {num_players}")
    return max(1, (num_players - 1).bit_length())


def swiss_pairings(
    standings: Mapping[str, float],
    played: Mapping[frozenset[str], int],
    round_no: int,
    seed: int,
    byes: Collection[str] = (),
) -> tuple[list[tuple[str, str]], str | None]:
    """The pairs of one Swiss round and the player with the bye (None when the count is even).

    Players are ranked by score (descending), ties broken by a seeded order (`match_seed` of the
    seed, round and name). With an odd count, the bye goes to the lowest-ranked player not in
    `byes` (the caller passes who already had one; if everyone has, the lowest-ranked player).
    The rest are paired top-down, each with the highest-ranked opponent they have not met
    (`played` counts earlier matches per pair), backtracking to avoid rematches; when that is
    impossible the fewest rematches are used, and past a search budget a greedy pass takes over.
    Each pair is (higher-ranked, lower-ranked).
    """
    if len(standings) < 2:
        raise ValueError(f"Swiss needs at least 2 players, got {len(standings)}")
    ranked = sorted(
        standings,
        key=lambda p: (-standings[p], match_seed(seed, "swiss-tiebreak", round_no, p), p),
    )
    bye = None
    if len(ranked) % 2:
        fresh = [p for p in ranked if p not in byes]
        bye = (fresh or ranked)[-1]
        ranked.remove(bye)
    return _pair_ranked(ranked, played), bye


def _pair_ranked(ranked: list[str], played: Mapping[frozenset[str], int]) -> list[tuple[str, str]]:
    """Pair an even-length ranked list top-down with the fewest rematches (see swiss_pairings)."""

    def met(a: str, b: str) -> bool:
        return played.get(frozenset((a, b)), 0) > 0

    nodes = 0

    def search(left: list[str], rematches: int) -> list[tuple[str, str]] | None:
        nonlocal nodes
        if not left:
            return []
        nodes += 1
        if nodes > _SWISS_SEARCH_BUDGET:
            return None
        top, rest = left[0], left[1:]
        for i, other in enumerate(rest):
            cost = 1 if met(top, other) else 0
            if cost > rematches:
                continue
            found = search(rest[:i] + rest[i + 1 :], rematches - cost)
            if found is not None:
                return [(top, other), *found]
        return None

    # Iterative deepening on the number of rematches allowed: the first hit uses the fewest.
    for allowed in range(len(ranked) // 2 + 1):
        found = search(ranked, allowed)
        if found is not None:
            return found
        if nodes > _SWISS_SEARCH_BUDGET:
            break
    # Greedy fallback: top-down, each with the least-met opponent, higher rank first.
    pairs, left = [], list(ranked)
    while left:
        top = left.pop(0)
        other = min(left, key=lambda o: played.get(frozenset((top, o)), 0))
        left.remove(other)
        pairs.append((top, other))
    return pairs


def swiss_round(
    pairs: Sequence[tuple[str, str]],
    games: Sequence[GameEntry],
    games_per_pair: int,
    seed: int,
    round_no: int,
    *,
    duplicate: bool | None = None,
) -> list[Pairing]:
    """Expand one round's pairs into Pairings, seated and seeded like `round_robin` (the round
    number is part of the seed, so a rematch in a later round gets fresh deals). Swiss is for
    2-seat games only: `ValueError` otherwise."""
    for game in games:
        if game.num_players != 2:
            raise ValueError(
                f"Swiss pairs players two by two; {game.id} has {game.num_players} seats"
            )
    if not pairs:
        raise ValueError("a Swiss round needs at least one pair")
    names = [p for pair in pairs for p in pair]
    _check_common(names, games, games_per_pair)
    groups = [(g, [tuple(pair) for pair in pairs]) for g in games]
    return _expand(groups, games_per_pair, seed, round_no, duplicate)


# --------------------------------------------------------------------------------------- Ladder


class RatingLike(Protocol):
    """Anything with a TrueSkill-style mean and standard deviation (e.g. `trueskill.Rating`)."""

    mu: float
    sigma: float


def pair_weight(a: RatingLike, b: RatingLike, beta: float) -> float:
    """How much playing a vs b would teach: (a.sigma**2 + b.sigma**2) * 4*p*(1-p), where p is
    a's expected score Phi((a.mu - b.mu) / sqrt(2*beta**2 + a.sigma**2 + b.sigma**2)).
    Large when the players are uncertain and close; small for a foregone conclusion."""
    variance = a.sigma**2 + b.sigma**2
    spread = math.sqrt(2 * beta**2 + variance)
    delta = a.mu - b.mu
    if spread == 0:
        p = 0.5 if delta == 0 else float(delta > 0)
    else:
        p = 0.5 * (1 + math.erf(delta / spread / math.sqrt(2)))
    return variance * 4 * p * (1 - p)


def ladder_next(
    ratings: Mapping[str, RatingLike],
    games_played: Mapping[str, int],
    game: GameEntry,
    *,
    beta: float,
    min_games: int,
    rng: random.Random,
    busy: Collection[str] = (),
) -> tuple[str, ...] | None:
    """The next pairing of a continuous ladder (2-seat games), as seats, or None when fewer
    than 2 players are free (not in `busy`).

    Floor first: if a free player has fewer than `min_games` games, the least-played one (ties
    drawn by `rng`) plays the free partner of highest `pair_weight` (ties: fewer games, then
    name). Otherwise a pair is drawn with probability proportional to `pair_weight` (uniformly
    if every weight is 0). Seat order is drawn by `rng`.

    Each call looks at every pair of players; `LadderPicker` gives the same picks with state
    kept between calls, for a long ladder.
    """
    if game.num_players != 2:
        raise ValueError(f"the ladder pairs players two by two; {game.id} has {game.num_players}")
    free = sorted(p for p in ratings if p not in busy)
    if len(free) < 2:
        return None

    def count(p: str) -> int:
        return games_played.get(p, 0)

    under = [p for p in free if count(p) < min_games]
    if under:
        fewest = min(count(p) for p in under)
        first = rng.choice([p for p in under if count(p) == fewest])
        others = [p for p in free if p != first]
        second = min(
            others, key=lambda o: (-pair_weight(ratings[first], ratings[o], beta), count(o), o)
        )
        pair = (first, second)
    else:
        candidates = list(itertools.combinations(free, 2))
        weights = [pair_weight(ratings[a], ratings[b], beta) for a, b in candidates]
        if sum(weights) > 0:
            pair = rng.choices(candidates, weights=weights)[0]
        else:
            pair = rng.choice(candidates)
    return pair if rng.random() < 0.5 else (pair[1], pair[0])


class LadderPicker:
    """`ladder_next` with incremental state, for a long ladder over a fixed set of players.

    Gives the same pairing, consuming `rng` the same way, as
    `ladder_next(ratings, games_played, game, beta=..., min_games=..., rng=rng, busy=busy)`
    where `games_played` counts the pairings passed to `record` (on top of the counts given at
    creation). What it keeps instead of rescanning:

    - the games per player, updated by `record` (one step per seat);
    - per game, every pair's `pair_weight` in `itertools.combinations` order, with the rating
      each player's weights were computed from; a pick recomputes only the pairs of a player
      whose mu or sigma changed since the last pick of that game (two after a match).

    So a pick costs O(players) Python steps per changed or busy player, plus one C-level copy
    and running sum over the pair weights, whatever the number of matches played before it.
    """

    def __init__(
        self,
        players: Collection[str],
        *,
        beta: float,
        min_games: int,
        games_played: Mapping[str, int] | None = None,
    ) -> None:
        self.players = sorted(set(players))
        self.beta, self.min_games = beta, min_games
        self.games: dict[str, int] = dict.fromkeys(self.players, 0)
        self.games.update(games_played or {})
        self._index = {p: i for i, p in enumerate(self.players)}
        n = len(self.players)
        # The pair (i, j), i < j, sits at _row[i] + j - i - 1, as itertools.combinations lists it.
        self._row = [i * (2 * n - i - 1) // 2 for i in range(n)]
        # Per game: the pair weights, and the (mu, sigma) each player's pairs were computed with.
        self._weights: dict[GameEntry, list[float]] = {}
        self._seen: dict[GameEntry, list[tuple[float, float] | None]] = {}

    def record(self, seats: Sequence[str]) -> None:
        """Count a scheduled pairing: one more game for each seated player."""
        for p in seats:
            self.games[p] = self.games.get(p, 0) + 1

    def _pair(self, i: int, j: int) -> int:
        return self._row[i] + j - i - 1

    def _refresh(self, ratings: Mapping[str, RatingLike], game: GameEntry) -> list[float]:
        """The game's pair weights, recomputed for the players whose rating changed."""
        players, n = self.players, len(self.players)
        if game not in self._weights:
            self._weights[game] = [0.0] * (n * (n - 1) // 2)
            self._seen[game] = [None] * n
        weights, seen = self._weights[game], self._seen[game]
        changed = []
        for i, p in enumerate(players):
            r = ratings[p]
            if seen[i] != (r.mu, r.sigma):
                seen[i] = (r.mu, r.sigma)
                changed.append(i)
        done: set[int] = set()
        for i in changed:
            ri = ratings[players[i]]
            for j in range(n):
                if j == i or j in done:
                    continue
                a, b = (i, j) if i < j else (j, i)  # (sorted first, sorted second) as ladder_next
                rj = ratings[players[j]]
                ra, rb = (ri, rj) if i < j else (rj, ri)
                weights[self._pair(a, b)] = pair_weight(ra, rb, self.beta)
            done.add(i)
        return weights

    def next(
        self,
        ratings: Mapping[str, RatingLike],
        game: GameEntry,
        *,
        rng: random.Random,
        busy: Collection[str] = (),
    ) -> tuple[str, ...] | None:
        """The next pairing, as `ladder_next` would give it (see the class docstring).
        `ratings` must hold every player of the ladder; other names in it are ignored."""
        if game.num_players != 2:
            raise ValueError(
                f"the ladder pairs players two by two; {game.id} has {game.num_players}"
            )
        free = [p for p in self.players if p not in busy]  # sorted, as self.players is
        if len(free) < 2:
            return None
        games = self.games

        under = [p for p in free if games.get(p, 0) < self.min_games]
        if under:  # the floor: O(players), same steps as ladder_next
            fewest = min(games.get(p, 0) for p in under)
            first = rng.choice([p for p in under if games.get(p, 0) == fewest])
            second = min(
                (p for p in free if p != first),
                key=lambda o: (
                    -pair_weight(ratings[first], ratings[o], self.beta),
                    games.get(o, 0),
                    o,
                ),
            )
            pair: tuple[str, str] = (first, second)
        else:
            weights = self._refresh(ratings, game)
            index = self._index
            busy_rows = sorted(index[p] for p in set(busy) if p in index)
            if busy_rows:
                # A busy player's pairs weigh 0: never drawn, and the running sums of the free
                # pairs stay bit for bit those of ladder_next's list of free pairs.
                weights = weights.copy()
                for i in busy_rows:
                    for j in range(i):
                        weights[self._pair(j, i)] = 0.0
                    weights[self._row[i] : self._row[i] + len(self.players) - i - 1] = [0.0] * (
                        len(self.players) - i - 1
                    )
            cum = list(itertools.accumulate(weights))
            total = cum[-1]
            first_i, last_i = index[free[-2]], index[free[-1]]
            last_free = self._pair(first_i, last_i)
            if total > 0:
                # random.choices(free_pairs, weights) step by step: one rng.random(), then the
                # first running sum above it, the last free pair when rounding finds none.
                if not math.isfinite(total):
                    raise ValueError("Total of weights must be finite")
                k = min(bisect.bisect(cum, rng.random() * total), last_free)
                i = bisect.bisect(self._row, k) - 1
                pair = (self.players[i], self.players[k - self._row[i] + i + 1])
            else:
                pair = rng.choice(list(itertools.combinations(free, 2)))
        return pair if rng.random() < 0.5 else (pair[1], pair[0])
