"""A supervised warm start from recorded matches (SPIRAL's SFT baseline).

The arena's record holds every move a player made; `examples_from_db` and `examples_from_jsonl`
(the file `arena export matches --format jsonl` writes) turn the legal moves of chosen players
into `Example`s: the position before the move, rebuilt by replaying the match, and the action
played there. `sft` then trains an `ActionPolicy` to put probability on those actions, with a
cross-entropy over the position's legal actions only (the same scores the self-play loss uses).

Positions are always rebuilt by replay, never taken from a stored prompt: bots store none, and a
model's stored prompt may be in another format (think mode, chat style). The policy prompts the
rebuilt position in its own format, the one its checkpoints are played with. A JSONL export
holds no chance moves; they are drawn again from the match's seed exactly as `play_match` draws
them, so every move of the match must be in the file (export without `--player`).
"""

from __future__ import annotations

import heapq
import json
import random
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.errors import ArenaError
from arena.match import chance_rng_for
from arena.players.base import Turn
from games import CHANCE, Game, IllegalActionError, State, sample_chance
from trainer.policy import ActionPolicy, Position

MAX_GRAD_NORM = 1.0


class DatasetError(ArenaError, ValueError):
    """The recorded matches cannot be read or replayed (a missing or corrupt file, an unknown
    player or game, a record that does not replay)."""


@dataclass(frozen=True, eq=False)
class Example:
    """One recorded decision: the position before the move and the action played there."""

    game: Game
    state: State  # a private copy of the position, the mover to play
    seat: int
    legal_actions: tuple[str, ...]
    action: str  # the legal action the player chose
    player: str
    move_index: int  # the decision's index in the match (chance moves excluded)
    match_id: int | None = None
    messages: list[dict[str, str]] | None = field(default=None, repr=False)
    """The prompt stored with the move (language-model players), for reference only."""

    def turn(self) -> Turn:
        """The position as the match loop handed it to the player."""
        return Turn(
            game=self.game,
            state=self.state.clone(),
            seat=self.seat,
            legal_actions=list(self.legal_actions),
            rng=random.Random(0),  # unused: building a prompt draws nothing
            move_index=self.move_index,
        )


# --- reading the record ------------------------------------------------------------------------
def examples_from_db(
    db_path: str | Path,
    *,
    players: list[str],
    games: list[str] | None = None,
    limit: int | None = None,
) -> list[Example]:
    """The legal moves of `players` in the finished matches of the arena database at
    `db_path` (of `games` only, when given), in match order, at most `limit` of them."""
    from arena.store import StoreError, open_db
    from arena.store.jobs import recorded_actions
    from arena.store.players import find_player
    from arena.store.queries import export_moves

    path = Path(db_path).expanduser()
    if not path.is_file():
        raise DatasetError(f"no arena database at {path}")
    if not players:
        raise DatasetError("name at least one player whose moves to learn from")
    _check_games(games)
    try:
        db = open_db(path, migrate=False)  # a reader never writes the schema
    except StoreError as exc:
        raise DatasetError(str(exc)) from None
    try:
        players = list(dict.fromkeys(players))
        for name in players:
            if find_player(db, name) is None:
                raise DatasetError(f"no player named {name!r} in {path}")
        streams = [export_moves(db, game=g, player=p) for p in players for g in (games or [None])]
        rows = heapq.merge(*streams, key=lambda r: (r["match_id"], r["move"], r["attempt"]))

        def history(match_id: int) -> dict[int, str]:
            return recorded_actions(db, match_id)

        return _examples(rows, history, limit=limit, source=str(path))
    except sqlite3.DatabaseError as exc:
        raise DatasetError(f"{path} cannot be read as an arena database: {exc}") from None
    finally:
        db.conn.close()


def examples_from_jsonl(
    path: str | Path, *, players: list[str] | None = None, limit: int | None = None
) -> list[Example]:
    """The legal moves recorded in an `arena export matches --format jsonl` file (of
    `players` only, when given), in file order, at most `limit` of them."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError(f"no such file: {path}")
    records = list(_read_jsonl(path))
    moves: dict[int, dict[int, str]] = {}  # match -> every player move in the file
    for r in records:
        moves.setdefault(r["match_id"], {})[r["move"]] = r["played"]
    wanted = (r for r in records if players is None or r["player"] in players)
    return _examples(wanted, lambda m: moves[m], limit=limit, source=str(path))


_JSONL_KEYS = ("match_id", "game", "params", "seed", "move", "attempt", "seat", "player")


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}, line {number}: not valid JSON ({exc})") from None
            if not isinstance(record, dict):
                raise DatasetError(f"{path}, line {number}: not a JSON object")
            missing = [k for k in (*_JSONL_KEYS, "action", "legal", "played") if k not in record]
            if missing:
                raise DatasetError(
                    f"{path}, line {number}: not an exported move (missing {', '.join(missing)})"
                )
            yield record


def _check_games(game_ids: Sequence[str] | None) -> None:
    from games import game_ids as known

    unknown = [g for g in game_ids or [] if g not in known()]
    if unknown:
        raise DatasetError(f"unknown game(s) {', '.join(unknown)}; known: {', '.join(known())}")


def _examples(
    rows: Iterable[dict[str, Any]],
    history: Any,
    *,
    limit: int | None,
    source: str,
) -> list[Example]:
    """Examples from exported move records (ordered by match): the legal attempts, each at
    the position that replaying its match reaches. `history(match_id)` gives the match's known
    actions by move index (chance outcomes may be missing: they are drawn from the seed)."""
    out: list[Example] = []
    match_rows: list[dict[str, Any]] = []

    def flush() -> None:
        if match_rows:
            out.extend(_match_examples(match_rows, history(match_rows[0]["match_id"]), source))
            match_rows.clear()

    for row in rows:
        if limit is not None and len(out) + len(match_rows) >= limit:
            break
        if not row.get("legal") or row.get("action") is None:
            continue  # illegal attempts teach nothing
        if match_rows and row["match_id"] != match_rows[0]["match_id"]:
            flush()
        match_rows.append(row)
    flush()
    return out if limit is None else out[:limit]


_games: dict[tuple[str, str], Game] = {}


def _game(game_id: str, params: dict[str, Any]) -> Game:
    import games

    key = (game_id, json.dumps(params, sort_keys=True))
    if key not in _games:
        _games[key] = games.make(game_id, **params)
    return _games[key]


def _match_examples(
    rows: list[dict[str, Any]], known: dict[int, str], source: str
) -> list[Example]:
    """Replay one match up to its last wanted move; an example at each wanted move."""
    first = rows[0]
    match_id = first["match_id"]
    where = f"{source}: match {match_id}"
    try:
        game = _game(first["game"], first["params"] or {})
    except (KeyError, ValueError) as exc:
        raise DatasetError(f"{where}: {exc}") from None
    wanted: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        wanted.setdefault(int(r["move"]), []).append(r)
    last = max(wanted)
    state = game.new_initial_state()
    chance_rng = chance_rng_for(first["seed"])  # the generator play_match drew them from
    decisions = 0
    out: list[Example] = []
    for idx in range(last + 1):
        if state.is_terminal():
            raise DatasetError(f"{where}: the game is over before move {idx}")
        seat = state.current_player()
        if seat == CHANCE:
            drawn = sample_chance(state, chance_rng)  # always drawn: keeps the generator in step
            action = known.get(idx, drawn)
        else:
            for r in wanted.get(idx, []):
                out.append(_example(game, state, seat, decisions, r, where))
            decisions += 1
            action = known.get(idx)
            if action is None:
                raise DatasetError(
                    f"{where}: move {idx} is not in the record (export every player's moves)"
                )
        if idx == last:
            break
        try:
            state.apply(action)
        except IllegalActionError as exc:
            raise DatasetError(f"{where}: move {idx} ({action!r}) does not replay: {exc}") from None
    return out


def _example(
    game: Game, state: State, seat: int, decisions: int, row: dict[str, Any], where: str
) -> Example:
    legal = state.legal_actions()
    if row["seat"] != seat:
        raise DatasetError(
            f"{where}: move {row['move']} was recorded for seat {row['seat']} but seat {seat} "
            "is to move on replay"
        )
    if row["action"] not in legal:
        raise DatasetError(
            f"{where}: move {row['move']} ({row['action']!r}) is not legal on replay"
        )
    return Example(
        game=game,
        state=state.clone(),
        seat=seat,
        legal_actions=tuple(legal),
        action=row["action"],
        player=row["player"],
        move_index=decisions,
        match_id=row["match_id"],
        messages=row.get("prompt"),
    )


# --- training --------------------------------------------------------------------------------
Item = Example | tuple[Turn | Position, str | int]


def targets(policy: ActionPolicy, items: Iterable[Item]) -> list[tuple[Position, int]]:
    """Each item as (position, index of the target among its legal actions). Items are
    `Example`s, or (Turn or Position, action string or index) pairs."""
    out = []
    for item in items:
        if isinstance(item, Example):
            where, action = item.turn(), item.action
        else:
            where, action = item
        pos = policy.position(where) if isinstance(where, Turn) else where
        if isinstance(action, int):
            if not 0 <= action < len(pos.actions):
                raise ValueError(f"target index {action} out of range for {pos.actions}")
            out.append((pos, action))
        elif action in pos.actions:
            out.append((pos, pos.actions.index(action)))
        else:
            raise ValueError(f"target {action!r} is not among the legal actions {pos.actions}")
    return out


def _batch_loss(policy: ActionPolicy, batch: Sequence[tuple[Position, int]]) -> Any:
    """Mean -log p(target) over the batch, p = softmax(scores / temperature) over the legal
    actions. Repeated positions are scored once, their targets weighted by count."""
    import torch

    counts: dict[Position, Counter[int]] = {}
    for pos, target in batch:
        counts.setdefault(pos, Counter())[target] += 1
    positions = list(counts)
    total = None
    for pos, scores in zip(positions, policy.scores(positions), strict=True):
        logp = torch.log_softmax(scores / policy.temperature, dim=-1)
        idx = torch.tensor(list(counts[pos].keys()), device=logp.device)
        weight = torch.tensor(list(counts[pos].values()), dtype=logp.dtype, device=logp.device)
        part = -(logp[idx] * weight).sum()
        total = part if total is None else total + part
    assert total is not None
    return total / len(batch)


def sft(
    policy: ActionPolicy,
    positions_and_targets: Sequence[Item],
    *,
    epochs: int = 1,
    lr: float = 1e-4,
    batch_size: int = 16,
    seed: int = 0,
    optimizer: Any | None = None,
) -> list[float]:
    """Train the policy's model to choose the recorded actions: cross-entropy over each
    position's legal actions, AdamW (or `optimizer`) on the parameters that require grad (the
    adapters only, on a LoRA model), gradients clipped at norm 1. Shuffles with `seed` each
    epoch; returns each epoch's mean loss (over examples, during that epoch's steps). The
    model's train/eval mode is left as it is."""
    import torch

    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError("epochs and batch_size must be at least 1 and lr positive")
    data = targets(policy, positions_and_targets)
    if not data:
        raise ValueError("no examples to train on")
    params = [p for p in policy.model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the policy's model has no trainable parameters")
    if optimizer is None:
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    order = list(range(len(data)))
    losses = []
    for _ in range(epochs):
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = [data[i] for i in order[start : start + batch_size]]
            optimizer.zero_grad(set_to_none=True)
            loss = _batch_loss(policy, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
            optimizer.step()
            policy.invalidate()
            total += float(loss.detach()) * len(batch)
        losses.append(total / len(data))
    return losses


def mean_nll(
    policy: ActionPolicy, positions_and_targets: Sequence[Item], *, batch_size: int = 32
) -> float:
    """Mean -log p(target) over the examples without training (a validation loss)."""
    import torch

    data = targets(policy, positions_and_targets)
    if not data:
        raise ValueError("no examples to score")
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = data[start : start + batch_size]
            total += float(_batch_loss(policy, batch)) * len(batch)
    return total / len(data)
