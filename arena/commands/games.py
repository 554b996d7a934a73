"""`arena games`: list the games, show a game's rules."""

from __future__ import annotations

import click

import games
from arena.commands.context import echo_json
from games.core import GameInfo


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _players(info: GameInfo) -> str:
    if info.min_players == info.max_players:
        return str(info.min_players)
    return f"{info.min_players}-{info.max_players}"


def _language_model(info: GameInfo) -> bool:
    """Whether the game's rules are written for a language model (OpenSpiel's games with
    generic rules are for bots only)."""
    return bool(getattr(games.game_class(info.id), "language_model", True))


def _flags(info: GameInfo) -> str:
    flags = []
    if info.chance:
        flags.append("chance")
    if info.hidden_info:
        flags.append("hidden")
    if info.simultaneous:
        flags.append("simultaneous")
    if info.free_text:
        flags.append("free-text")
    flags.append("zero-sum" if info.zero_sum else "general-sum")
    if not _language_model(info):
        flags.append("bots only")
    return ", ".join(flags)


@click.group("games", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option(
    "--openspiel",
    is_flag=True,
    help="Also list OpenSpiel's games as openspiel/<name> (extra arena-games[openspiel]).",
)
@click.pass_context
def games_group(ctx: click.Context, as_json: bool, openspiel: bool) -> None:
    """List the games (or `arena games show ID` for one game's rules)."""
    if ctx.invoked_subcommand is not None:
        return
    if openspiel and not games.registry.openspiel_available():
        raise click.UsageError("OpenSpiel is not installed: pip install 'arena-games[openspiel]'")
    infos = games.list_games(openspiel=openspiel)
    if as_json:
        echo_json([{**i.as_dict(), "language_model": _language_model(i)} for i in infos])
        return
    rows = [[i.id, i.name, _players(i), _flags(i), ", ".join(i.bots)] for i in infos]
    click.echo(_table(rows, ["id", "name", "players", "kind", "bots"]))
    if not openspiel:
        hint = (
            "arena games --openspiel"
            if games.registry.openspiel_available()
            else "pip install 'arena-games[openspiel]'"
        )
        click.echo(f"\nOpenSpiel's games (openspiel/<name>): {hint}")


@games_group.command("show")
@click.argument("game_id")
@click.option("--json", "as_json", is_flag=True, help="Print the metadata and rules as JSON.")
def show(game_id: str, as_json: bool) -> None:
    """Show a game's rules, parameters and bots."""
    try:
        cls = games.game_class(game_id)
    except KeyError as exc:
        raise click.UsageError(exc.args[0]) from None
    info = cls.info()
    try:
        rules = games.make(game_id).rules()
    except games.GameParamError as exc:  # e.g. chess without python-chess
        rules = f"(rules unavailable: {exc})"
    if as_json:
        echo_json({**info.as_dict(), "rules": rules})
        return
    click.echo(f"{info.name} ({info.id})")
    click.echo(f"players: {_players(info)}; {_flags(info)}")
    if info.params:
        params = ", ".join(f"{k}={v!r}" for k, v in info.params.items())
        click.echo(f"parameters: {params}")
    click.echo(f"bots: {', '.join(info.bots)}")
    click.echo("")
    click.echo(rules)
