"""The `arena` command. Subcommands live in `arena.commands`; heavy libraries are imported only
inside the commands that need them, so `arena --help` stays fast."""

from __future__ import annotations

import click

from arena import __version__
from arena.commands.games import games_group
from arena.commands.match import match_command
from arena.commands.models import models_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="arena")
def cli() -> None:
    """Arena: language models play games, get rated, and get stronger by self-play."""


cli.add_command(games_group)
cli.add_command(match_command)
cli.add_command(models_group)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
