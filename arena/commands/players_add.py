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
    type=click.Choice(["bot", "llamacpp", "transformers", "openai", "vllm"]),
    required=True,
    help="What plays.",
)
@click_options(_CLI_FIELDS, group="kind")
@click.option(
    "--thinking",
    type=click.Choice(["on", "off", "both"]),
    default=None,
    help="Models: on = reason before the move (think with --decode free, think-then-"
    "constrained with constrained or score), off = the move alone (direct); both = register "
    "two players from this one spec, NAME+think and NAME+direct.",
)
@click.option(
    "--set",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any spec field, dotted for tables (sampling.top_p=0.9, bot params: params.depth=4).",
)
@click.pass_context
def add_command(
    ctx: click.Context,
    name: str,
    kind: str,
    thinking: str | None,
    extra: tuple[str, ...],
    **opts: Any,
) -> None:
    """Register a player NAME of a given --kind (options marked with other kinds do not apply).
    Local models default to reasoning, then a move decoded among the legal moves. With
    --thinking both, one spec makes two players, thinking on and off (NAME+think and
    NAME+direct), to see what reasoning buys and what it costs."""
    from arena.specs import SpecError, parse_spec
    from arena.store.players import add_player, import_players

    given = take_options(_CLI_FIELDS, opts)
    if thinking is not None and kind == "bot":
        raise click.UsageError("--thinking applies to model players, not to --kind bot")
    if thinking is not None and any(f.key == "prompt.reasoning" for f, _ in given):
        raise click.UsageError("give --thinking or --reasoning, not both")
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
        specs = [spec] if thinking is None else thinking_variants(data, spec.decode, thinking)
    except SpecError as exc:
        usage = option_usage_error(exc.problems, [f for f, _ in given])
        if usage is not None:
            raise usage from None
        raise
    check_loadable(specs[0])
    db = open_store(ctx)
    if len(specs) == 1:
        row = add_player(db, specs[0])
        say(f"added {row.name} ({row.kind})")
        return
    rows = import_players(db, specs)  # both or neither
    say(f"added {', '.join(f'{r.name} ({_mode(s)})' for r, s in zip(rows, specs))}")


# How a model reasons, with thinking on, by its decoding.
_THINK = {
    "free": "think",
    "constrained": "think-then-constrained",
    "score": "think-then-constrained",
}


def thinking_variants(data: dict[str, Any], decode: str, thinking: str) -> list[Any]:
    """The specs of `data` with thinking on (`think` for free text, `think-then-constrained`
    for constrained or scored moves), off (`direct`), or both: two players, `NAME+think` and
    `NAME+direct`, identical but for the prompt's reasoning mode."""
    from arena.specs import parse_spec

    modes = {"on": [_THINK[decode]], "off": ["direct"], "both": [_THINK[decode], "direct"]}
    specs = []
    for reasoning in modes[thinking]:
        variant = {**data, "decode": decode, "prompt": {**data.get("prompt", {})}}
        variant["prompt"]["reasoning"] = reasoning
        if thinking == "both":
            variant["name"] = f"{data['name']}+{'direct' if reasoning == 'direct' else 'think'}"
        specs.append(parse_spec(variant))
    return specs


def _mode(spec: Any) -> str:
    return f"{spec.kind}, {spec.decode} · {spec.prompt.reasoning}"
