"""`arena players add`: one option per spec field, from the descriptions the app's player form
is built from (`arena.player_fields`)."""

from __future__ import annotations

from typing import Any

import click

from arena.commands.context import open_store, say
from arena.commands.params import parse_params
from arena.commands.players import check_loadable
from arena.fields import click_options, option_usage_error, put, take_options
from arena.player_fields import EXTRA, FIELDS, build_spec_dict

# One option per spec field, from the same descriptions as the app's player form: the help is
# the field's docstring, and every value is judged by the spec class (same words as the form).
_CLI_FIELDS = [f for f in FIELDS if f.key not in ("name", EXTRA)]


@click.command("add")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["bot", "llamacpp", "transformers", "openai"]),
    required=True,
    help="What plays.",
)
@click_options(_CLI_FIELDS, group="kind")
@click.option(
    "--set",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any spec field, dotted for tables (sampling.top_p=0.9, bot params: params.depth=4).",
)
@click.pass_context
def add_command(
    ctx: click.Context, name: str, kind: str, extra: tuple[str, ...], **opts: Any
) -> None:
    """Register a player NAME of a given --kind (options marked with other kinds do not apply).
    Local models default to reasoning, then a move decoded among the legal moves."""
    from arena.specs import SpecError, parse_spec
    from arena.store.players import add_player

    given = take_options(_CLI_FIELDS, opts)
    unused = [f.option for f, _ in given if kind not in f.kinds]
    if unused:
        raise click.UsageError(f"{', '.join(unused)} does not apply to --kind {kind}")
    values = {"name": name, **{f.key: v for f, v in given}}
    data, errors = build_spec_dict(kind, values, name=lambda f: f.option)
    if errors:
        raise click.UsageError("; ".join(errors.values()))
    try:
        for key, value in parse_params(extra).items():
            put(data, key, value)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        spec = parse_spec(data)
    except SpecError as exc:
        usage = option_usage_error(exc.problems, [f for f, _ in given])
        if usage is not None:
            raise usage from None
        raise
    check_loadable(spec)
    db = open_store(ctx)
    row = add_player(db, spec)
    say(f"added {row.name} ({row.kind})")
