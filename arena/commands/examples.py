"""`arena examples`: the example files installed with arena, wherever it is started from."""

from __future__ import annotations

import click

from arena.commands.context import say


@click.group("examples", invoke_without_command=True)
@click.pass_context
def examples_group(ctx: click.Context) -> None:
    """The example players file and tournament config installed with arena, with their paths:
    `arena players import "$(arena examples path players.toml)"`."""
    if ctx.invoked_subcommand is None:
        from arena.examples import example_names, example_path

        for name in example_names():
            say(f"{name:<16}  {example_path(name)}")


@examples_group.command("path")
@click.argument("name")
def path_command(name: str) -> None:
    """Print the absolute path of the example NAME (players.toml, tournament.toml)."""
    from arena.examples import example_path

    say(str(example_path(name)))
