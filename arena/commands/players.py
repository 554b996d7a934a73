"""`arena players`: the registry of who plays (built-in bots are always there)."""

from __future__ import annotations

from typing import Any

import click

from arena.commands.context import echo_json, open_store, say
from arena.commands.lazy import LazyGroup


@click.group("players", cls=LazyGroup, lazy={"add": "arena.commands.players_add:add_command"})
def players_group() -> None:
    """Register, list, show and remove players."""


def check_loadable(spec: Any) -> None:
    from arena.backends.base import BackendError
    from arena.players.factory import check_loadable
    from arena.specs import SpecError

    try:
        check_loadable(spec)
    except BackendError as exc:
        raise SpecError(f"{spec.name}: {exc}") from None


@players_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def import_command(ctx: click.Context, file: str) -> None:
    """Register every player in a TOML or JSON file ([[players]] tables); all or none."""
    from arena.specs import load_specs
    from arena.store.players import import_players

    specs = load_specs(file)
    for spec in specs:
        check_loadable(spec)
    db = open_store(ctx)
    rows = import_players(db, specs)
    say(f"imported {len(rows)} players: {', '.join(r.name for r in rows)}")


@players_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--all", "include_retired", is_flag=True, help="Include retired players.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool, include_retired: bool) -> None:
    """Every player: built-in bots first, then the registered ones."""
    from arena.specs import describe_spec, display_spec
    from arena.store.players import list_players

    rows = list_players(open_store(ctx), include_retired=include_retired)
    if as_json:
        echo_json(
            [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "builtin": r.builtin,
                    "retired": r.retired_at is not None,
                    "spec": display_spec(r.spec),
                    "created_at": r.created_at,
                }
                for r in rows
            ]
        )
        return
    width = max((len(r.name) for r in rows), default=4)
    for r in rows:
        flag = " (retired)" if r.retired_at else ""
        say(f"{r.name:<{width}}  {r.kind:<12}  {describe_spec(r.spec)}{flag}")


@players_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show_command(ctx: click.Context, name: str, as_json: bool) -> None:
    """A player's spec, ratings and, where scored, the quality of its moves per game."""
    from arena.move_quality import move_quality_summary
    from arena.specs import display_spec
    from arena.store.players import get_player
    from arena.store.standings import player_ratings

    db = open_store(ctx)
    row = get_player(db, name)
    ratings = player_ratings(db, row.id)
    quality = move_quality_summary(db, player=row.name).get(row.name, {}).get("by_game", {})
    data = {
        "name": row.name,
        "kind": row.kind,
        "builtin": row.builtin,
        "retired_at": row.retired_at,
        "created_at": row.created_at,
        "spec": display_spec(row.spec),
        "ratings": ratings,
        "move_quality": quality,
    }
    if as_json:
        echo_json(data)
        return
    say(f"{row.name}  ({row.kind}{', built-in' if row.builtin else ''})")
    if row.retired_at:
        say(f"retired {row.retired_at}")
    for key, value in display_spec(row.spec).items():
        if key not in ("name", "kind"):
            say(f"  {key}: {value}")
    for r in ratings:
        scope = "overall" if r["scope"] == "*" else r["scope"]
        say(
            f"  {scope:<18} mu {r['mu']:6.2f}  sigma {r['sigma']:5.2f}  "
            f"games {r['games']} ({r['wins']}W {r['draws']}D {r['losses']}L)"
        )
    for game, q in sorted(quality.items()):  # where `arena eval move-quality` scored its moves
        loss = "" if q["mean_loss"] is None else f", mean loss {q['mean_loss']:.3g} {q['unit']}"
        say(
            f"  moves in {game}: {q['best_share']:.0%} best of {q['decisions']} scored{loss}"
            if q["best_share"] is not None
            else f"  moves in {game}: none scored"
        )


@players_group.command("remove")
@click.argument("name")
@click.pass_context
def remove_command(ctx: click.Context, name: str) -> None:
    """Delete a player, or retire it if it has played (its history stays)."""
    from arena.store.players import remove_player

    outcome = remove_player(open_store(ctx), name)
    say(f"{outcome} {name}")
