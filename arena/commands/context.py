"""The database a command works on: `arena --db PATH`, else `ARENA_DB`, else the default."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sqlite_utils import Database


def open_store(ctx: click.Context) -> Database:
    """Open (creating and migrating) the command's database, or exit with a clear error."""
    from arena.store import StoreError, open_db

    root = ctx.find_root()
    path = (root.obj or {}).get("db")
    try:
        return open_db(path)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
