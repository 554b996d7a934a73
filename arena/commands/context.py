"""The database a command works on: `arena --db PATH`, else `ARENA_DB`, else the default."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sqlite_utils import Database


def open_store(ctx: click.Context) -> Database:
    """Open (creating and migrating) the command's database. A file that cannot be used raises
    `StoreError` (an `ArenaError`): the CLI's handler says why and exits 1."""
    from arena.store import open_db

    root = ctx.find_root()
    return open_db((root.obj or {}).get("db"))


def echo_json(data: Any) -> None:
    """`data` as indented JSON; control, C1 and bidi characters in strings as \\u escapes."""
    from arena.safe_text import json_dumps

    click.echo(json_dumps(data, indent=2, default=str))


def say(text: object = "", *, err: bool = False, nl: bool = True) -> None:
    """Print a line that may hold outside text (names, replies, server messages, config values)
    through the one sanitiser: nothing in it reaches the terminal as a control sequence."""
    from arena.safe_text import visible

    click.echo(visible(text), err=err, nl=nl)
