"""A player named on the command line (`arena match`, `arena eval`): a registered player's
name, a built-in bot, `human`, `bot:NAME` or a spec file, with its row in the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def resolve_ref(ref: str, pool: Any, db: Any, *, register: bool) -> tuple[Any, int | None]:
    """(the player, its row id or None): a registered name first, then a built-in bot,
    `human`, `bot:NAME` or a spec file (registered under its name when storing; a different
    player already registered under that name is refused)."""
    from arena.players.factory import make_player, resolve_player
    from arena.players.human import terminal_provider
    from arena.sessions import ensure_human
    from arena.specs import SpecError, spec_to_dict
    from arena.store.players import PlayerError, add_player, find_player

    if db is None:
        return resolve_player(ref, pool, human_provider=terminal_provider), None
    if ref == "human":
        if register:
            ensure_human(db, "human")
        row = find_player(db, "human")
        return resolve_player(ref, pool, human_provider=terminal_provider), (
            row.id if row else None
        )
    row = None if ref.startswith("bot:") else find_player(db, ref)
    if row is not None and row.retired_at is None:
        player = make_player(row.parsed_spec(), pool, human_provider=terminal_provider)
        return player, row.id
    player = resolve_player(ref, pool, human_provider=terminal_provider)
    if not register:
        return player, None
    row = find_player(db, player.name)
    if row is None:
        from arena.specs import load_specs

        try:
            spec = load_specs(ref)[0]
            row = add_player(db, spec)
        except PlayerError as exc:
            raise SpecError(str(exc)) from None
    elif Path(ref).suffix in (".toml", ".json"):
        from arena.specs import load_specs

        if spec_to_dict(load_specs(ref)[0]) != row.spec:
            raise SpecError(
                f"a different player named {player.name!r} is registered; rename the one in "
                f"{ref} or use the registered one by its name"
            )
    return player, row.id
