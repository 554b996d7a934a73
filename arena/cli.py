"""The `arena` command. Subcommands live in `arena.commands`; heavy libraries are imported only
inside the commands that need them, so `arena --help` stays fast."""

from __future__ import annotations

from typing import Any

import click

from arena import __version__
from arena.cli_errors import run_cli, set_debug
from arena.commands.demo import demo_command
from arena.commands.eval import eval_group
from arena.commands.examples import examples_group
from arena.commands.games import games_group
from arena.commands.leaderboard import leaderboard_command, ratings_group
from arena.commands.match import match_command
from arena.commands.matches import export_group, matches_group
from arena.commands.models import models_group
from arena.commands.players import players_group
from arena.commands.tournament import tournament_group
from arena.commands.train import train_group


class ArenaGroup(click.Group):
    """The `arena` group: every command runs under the one error handler (`arena.cli_errors`),
    whether started from the shell or from click's test runner."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        run_cli(lambda: super(ArenaGroup, self).main(*args, standalone_mode=False, **kwargs))


@click.group(
    cls=ArenaGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
)
@click.version_option(__version__, prog_name="arena")
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    envvar="ARENA_DB",
    default=None,
    help="The arena database (default: $ARENA_DB, else arena.db in your data directory).",
)
@click.option(
    "--debug",
    is_flag=True,
    envvar="ARENA_DEBUG",
    help="Show the full traceback of an error (also ARENA_DEBUG=1).",
)
@click.pass_context
def cli(ctx: click.Context, db: str | None, debug: bool) -> None:
    """Arena: language models play games, get rated, and get stronger by self-play.

    With no command, opens the terminal app.

    Exit codes: 0 done, 1 an error you can fix (the message says what), 2 a bad command line,
    130 interrupted (Ctrl-C or SIGTERM; the work done so far is kept), 70 a bug in arena."""
    set_debug(debug)
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
cli.add_command(examples_group)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
