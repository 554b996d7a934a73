"""`arena tournament run`: its settings' options are built from the same descriptions as the
app's tournament form (`arena.tournament.fields`), and judged by the same config model."""

from __future__ import annotations

from typing import Any

import click

from arena.commands.context import open_store, say
from arena.commands.params import parse_params
from arena.commands.tournament import run_stored
from arena.fields import click_options, from_text, option_usage_error, take_options
from arena.tournament.fields import FIELDS


def _game_refs(items: tuple[str, ...]) -> list[dict[str, Any]]:
    """`tictactoe` or `liars_dice:num_players=3,dice=2` -> game refs."""
    refs = []
    for item in items:
        gid, _, rest = item.partition(":")
        params = parse_params([p for p in rest.split(",") if p]) if rest else {}
        refs.append({"id": gid, "params": params})
    return refs


@click.command("run")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="A TOML file.")
@click.option(
    "--game", "game_items", multiple=True, metavar="GAME[:K=V,...]", help="A game (repeatable)."
)
@click.option("--player", "players", multiple=True, metavar="NAME", help="A player (repeatable).")
@click_options(FIELDS)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end.")
@click.option("--quiet", is_flag=True, help="No progress line.")
@click.pass_context
def run_command(
    ctx: click.Context,
    config_path: str | None,
    game_items: tuple[str, ...],
    players: tuple[str, ...],
    as_json: bool,
    quiet: bool,
    **opts: Any,
) -> None:
    """Create a tournament from flags or --config (flags override the file), store its
    schedule, and play it."""
    from arena.tournament.config import ConfigError, load_config, parse_config
    from arena.tournament.setup import create_tournament

    try:
        games = _game_refs(game_items) if game_items else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    overrides: dict[str, Any] = {"games": games, "players": list(players) or None}
    options = take_options(FIELDS, opts)
    for field, text in options:
        given, value = from_text(field, text)
        if given:
            overrides[field.key] = value
    if not config_path and not games:
        raise click.UsageError("give --game (repeatable) or --config FILE")
    # ConfigError (an ArenaError) for anything wrong, before anything is written; a usage
    # error naming the option where an option's value is at fault
    try:
        if config_path:
            config = load_config(config_path, **overrides)
        else:
            config = parse_config({k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        usage = option_usage_error(exc.problems, [f for f, _ in options])
        if usage is not None:
            raise usage from None
        raise
    db = open_store(ctx)
    tournament_id = create_tournament(db, config)
    if not as_json:
        say(f"tournament {tournament_id} created", err=True)
    run_stored(ctx, tournament_id, as_json, None, quiet)
