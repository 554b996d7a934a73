"""The players registry: names, kinds and specs of everyone who plays.

Built-in bots (`random`, `minimax`, `cfr`, ...) are always available by name and get a row the
first time they are listed or play. A player with matches is retired, never deleted, so that
history stays whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arena.errors import ArenaError
from arena.specs import BotSpec, SpecError, parse_spec, spec_to_dict
from arena.store.db import write
from arena.store.schema import now

if TYPE_CHECKING:
    from sqlite_utils import Database


class PlayerError(ArenaError, ValueError):
    """A registry operation cannot be done (unknown name, duplicate, ...)."""


class PlayerHasMatchesError(PlayerError):
    """The player has played: its spec is part of those matches' record and cannot change."""


@dataclass(frozen=True)
class PlayerRow:
    id: int
    name: str
    kind: str
    spec: dict[str, Any]
    builtin: bool
    created_at: str
    retired_at: str | None
    parent: str | None = None

    def parsed_spec(self) -> Any:
        """The validated spec (checks files again: a GGUF moved away is reported here)."""
        return parse_spec(self.spec, source=f" of player {self.name!r}")


def _row(r: dict[str, Any]) -> PlayerRow:
    return PlayerRow(
        id=r["id"],
        name=r["name"],
        kind=r["kind"],
        spec=json.loads(r["spec"]),
        builtin=bool(r["builtin"]),
        created_at=r["created_at"],
        retired_at=r["retired_at"],
        parent=r["parent"],
    )


def builtin_specs() -> dict[str, BotSpec]:
    from arena.players.factory import builtin_bot_names

    return {name: BotSpec(name=name, bot=name) for name in sorted(builtin_bot_names())}


def ensure_builtin_players(db: Database) -> None:
    """Give every built-in bot a row (idempotent; cheap when they exist)."""
    specs = builtin_specs()
    have = {r[0] for r in db.conn.execute("SELECT name FROM players WHERE builtin = 1")}
    missing = [s for name, s in specs.items() if name not in have]
    if not missing:
        return
    with write(db):
        for spec in missing:
            db.conn.execute(
                "INSERT OR IGNORE INTO players (name, kind, spec, builtin, created_at) "
                "VALUES (?, 'bot', ?, 1, ?)",
                (spec.name, json.dumps(spec_to_dict(spec)), now()),
            )


def add_player(db: Database, spec: Any, *, parent: str | None = None) -> PlayerRow:
    """Register a validated spec under its name. A retired name cannot be reused."""
    if spec.name in builtin_specs():
        raise PlayerError(f"{spec.name!r} is a built-in bot; choose another name")
    with write(db):
        _insert_player(db, spec, parent=parent)
    return get_player(db, spec.name)


def _insert_player(db: Database, spec: Any, *, parent: str | None = None) -> None:
    """Insert `spec` under its name, refusing a name taken (retired or not). Call inside a
    write transaction; built-in names are the caller's to refuse."""
    existing = db.conn.execute(
        "SELECT retired_at FROM players WHERE name = ?", (spec.name,)
    ).fetchone()
    if existing is not None:
        state = " (retired)" if existing[0] else ""
        raise PlayerError(f"a player named {spec.name!r} already exists{state}")
    db.conn.execute(
        "INSERT INTO players (name, kind, spec, builtin, parent, created_at) "
        "VALUES (?, ?, ?, 0, ?, ?)",
        (spec.name, spec.kind, json.dumps(spec_to_dict(spec)), parent, now()),
    )


def find_player(db: Database, name: str) -> PlayerRow | None:
    """The row for `name`, creating a built-in bot's row on first use; None if unknown."""
    rows = list(db.query("SELECT * FROM players WHERE name = ?", [name]))
    if rows:
        return _row(rows[0])
    if name in builtin_specs():
        ensure_builtin_players(db)
        return find_player(db, name)
    return None


def get_player(db: Database, name: str) -> PlayerRow:
    row = find_player(db, name)
    if row is None:
        raise _unknown_player(db, name)
    return row


def _unknown_player(db: Database, name: str) -> PlayerError:
    """The error for an unknown `name`, listing the players `list_players` would (built-in
    bots first, then the registered ones not retired), without writing: safe in a transaction."""
    rows = db.conn.execute("SELECT name, builtin FROM players WHERE retired_at IS NULL").fetchall()
    bots = sorted(set(builtin_specs()) | {n for n, builtin in rows if builtin})
    others = sorted(n for n, builtin in rows if not builtin)
    known = ", ".join(bots + others) or "none"
    return PlayerError(f"unknown player {name!r} (known: {known})")


def list_players(db: Database, *, include_retired: bool = False) -> list[PlayerRow]:
    ensure_builtin_players(db)
    sql = "SELECT * FROM players"
    if not include_retired:
        sql += " WHERE retired_at IS NULL"
    return [_row(r) for r in db.query(sql + " ORDER BY builtin DESC, name")]


def remove_player(db: Database, name: str) -> str:
    """Delete a player without matches, retire one with matches. Returns 'removed' or
    'retired'."""
    row = get_player(db, name)
    if row.builtin:
        raise PlayerError(f"{name!r} is a built-in bot and cannot be removed")
    with write(db):
        return _remove_or_retire(db, row.id)


def _has_matches(db: Database, player_id: int) -> bool:
    return (
        db.conn.execute(
            "SELECT 1 FROM results WHERE player_id = ? LIMIT 1", (player_id,)
        ).fetchone()
        is not None
    )


def _remove_or_retire(db: Database, player_id: int) -> str:
    """Retire a player with matches, delete one without (and its ratings); returns 'retired' or
    'removed'. Call inside a write transaction, so that the check and the change are one."""
    if _has_matches(db, player_id):
        db.conn.execute(
            "UPDATE players SET retired_at = ? WHERE id = ? AND retired_at IS NULL",
            (now(), player_id),
        )
        return "retired"
    db.conn.execute("DELETE FROM ratings WHERE player_id = ?", (player_id,))
    db.conn.execute("DELETE FROM players WHERE id = ?", (player_id,))
    return "removed"


def save_edited_player(db: Database, old_name: str, spec: Any) -> str:
    """Save `spec`, an edit of the player `old_name`, in one write transaction that also reads
    whether the old player has matches (another process may have played since it was shown).

    A player with matches keeps its record: the edit is added under its new name ('added'; the
    same name raises `PlayerHasMatchesError`). One without matches is replaced: the new name is
    added and the old one deleted ('replaced'), or the same name is deleted and added again
    ('updated'). Any refusal (a taken or built-in name, an unknown `old_name`) changes nothing.
    Returns the verb."""
    if spec.name in builtin_specs():
        raise PlayerError(f"{spec.name!r} is a built-in bot; choose another name")
    with write(db):
        old = db.conn.execute(
            "SELECT id, builtin FROM players WHERE name = ?", (old_name,)
        ).fetchone()
        played = old is not None and _has_matches(db, old[0])
        if played and spec.name == old_name:
            raise PlayerHasMatchesError(
                f"{old_name!r} has played matches: its spec is part of their record"
            )
        if old is None and spec.name == old_name:
            raise _unknown_player(db, old_name)
        if old is not None and old[1] and not played:
            raise PlayerError(f"{old_name!r} is a built-in bot and cannot be removed")
        if played or spec.name != old_name:
            _insert_player(db, spec)  # the new name first: a refusal leaves the old intact
            if old is not None and not played:
                _remove_or_retire(db, old[0])
            return "added" if played else "replaced"
        _remove_or_retire(db, old[0])
        _insert_player(db, spec)
        return "updated"


def match_counts(db: Database) -> dict[int, int]:
    """player id -> matches it has played (seats taken), for every player with any."""
    return dict(
        db.conn.execute("SELECT player_id, COUNT(*) FROM results GROUP BY player_id").fetchall()
    )


def import_players(db: Database, specs: list[Any]) -> list[PlayerRow]:
    """Register several specs at once: all or none (a duplicate refuses the whole file)."""
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PlayerError(f"the file names {', '.join(dupes)} more than once")
    builtin = builtin_specs()
    with write(db):
        for spec in specs:
            if spec.name in builtin:
                raise PlayerError(f"{spec.name!r} is a built-in bot; choose another name")
            if db.conn.execute("SELECT 1 FROM players WHERE name = ?", (spec.name,)).fetchone():
                raise PlayerError(f"a player named {spec.name!r} already exists")
            db.conn.execute(
                "INSERT INTO players (name, kind, spec, builtin, created_at) VALUES (?, ?, ?, 0, ?)",
                (spec.name, spec.kind, json.dumps(spec_to_dict(spec)), now()),
            )
    return [get_player(db, n) for n in names]


def player_ids(db: Database, names: list[str]) -> list[int]:
    """Row ids for names (built-in bots created on demand); PlayerError for an unknown one."""
    return [get_player(db, n).id for n in names]


__all__ = [
    "PlayerError",
    "PlayerHasMatchesError",
    "PlayerRow",
    "SpecError",
    "add_player",
    "builtin_specs",
    "ensure_builtin_players",
    "find_player",
    "get_player",
    "import_players",
    "list_players",
    "match_counts",
    "player_ids",
    "remove_player",
    "save_edited_player",
]
