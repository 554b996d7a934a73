"""The players registry: names, kinds and specs of everyone who plays.

Built-in bots (`random`, `minimax`, `cfr`, ...) are always available by name and get a row the
first time they are listed or play. A player with matches is retired, never deleted, so that
history stays whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arena.specs import BotSpec, SpecError, parse_spec, spec_to_dict
from arena.store.db import write
from arena.store.schema import now

if TYPE_CHECKING:
    from sqlite_utils import Database


class PlayerError(ValueError):
    """A registry operation cannot be done (unknown name, duplicate, ...)."""


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
    return get_player(db, spec.name)


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
        known = ", ".join(p.name for p in list_players(db)) or "none"
        raise PlayerError(f"unknown player {name!r} (known: {known})")
    return row


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
        played = db.conn.execute(
            "SELECT 1 FROM results WHERE player_id = ? LIMIT 1", (row.id,)
        ).fetchone()
        if played:
            db.conn.execute(
                "UPDATE players SET retired_at = ? WHERE id = ? AND retired_at IS NULL",
                (now(), row.id),
            )
            return "retired"
        db.conn.execute("DELETE FROM ratings WHERE player_id = ?", (row.id,))
        db.conn.execute("DELETE FROM players WHERE id = ?", (row.id,))
        return "removed"


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
    "PlayerRow",
    "SpecError",
    "add_player",
    "builtin_specs",
    "ensure_builtin_players",
    "find_player",
    "get_player",
    "import_players",
    "list_players",
    "player_ids",
    "remove_player",
]
