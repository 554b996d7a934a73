"""The `arena` command. Subcommands live in `arena.commands`; heavy libraries are imported only
inside the commands that need them, so `arena --help` stays fast."""

from __future__ import annotations

import click

from arena import __version__
from arena.commands.demo import demo_command
from arena.commands.eval import eval_group
from arena.commands.games import games_group
from arena.commands.leaderboard import leaderboard_command, ratings_group
from arena.commands.match import match_command
from arena.commands.matches import export_group, matches_group
from arena.commands.models import models_group
from arena.commands.players import players_group
from arena.commands.tournament import tournament_group
from arena.commands.train import train_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(__version__, prog_name="arena")
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    envvar="ARENA_DB",
    default=None,
    help="The arena database (default: $ARENA_DB, else arena.db in your data directory).",
)
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """Arena: language models play games, get rated, and get stronger by self-play.

    With no command, opens the terminal app."""
    ctx.obj = {"db": db}
    if ctx.invoked_subcommand is None:
        from arena.tui.app import make_app

        make_app(db).run()


cli.add_command(games_group)
cli.add_command(match_command)
cli.add_command(models_group)
cli.add_command(players_group)
cli.add_command(tournament_group)
cli.add_command(leaderboard_command)
cli.add_command(ratings_group)
cli.add_command(matches_group)
cli.add_command(export_group)
cli.add_command(demo_command)
cli.add_command(train_group)
cli.add_command(eval_group)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
