"""`arena players`: the registry of who plays (built-in bots are always there)."""

from __future__ import annotations

from typing import Any

import click

from arena.commands.context import echo_json, open_store, say
from arena.commands.params import parse_params


@click.group("players")
def players_group() -> None:
    """Register, list, show and remove players."""


_KIND_FIELDS = {
    "bot": ("bot",),
    "llamacpp": ("path", "chat_format", "n_ctx", "n_threads"),
    "transformers": ("model", "device", "dtype", "threads"),
    "openai": ("base_url", "model", "api_key_env", "concurrency"),
}


@players_group.command("add")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["bot", "llamacpp", "transformers", "openai"]),
    required=True,
    help="What plays.",
)
@click.option("--bot", help="bot: the games library's bot (random, minimax, cfr, ...).")
@click.option("--path", help="llamacpp: the GGUF file.")
@click.option("--model", help="transformers: a model folder; openai: the served model name.")
@click.option("--base-url", help="openai: the endpoint, e.g. http://127.0.0.1:8080/v1.")
@click.option("--api-key-env", help="openai: the NAME of the variable holding the key.")
@click.option("--device", help="transformers: auto, cpu, cuda, mps.")
@click.option("--dtype", help="transformers: auto, float32, float16, bfloat16.")
@click.option("--chat-format", help="llamacpp: a chat format name (default: the file's).")
@click.option("--n-ctx", type=int, help="llamacpp: context size.")
@click.option("--n-threads", type=int, help="llamacpp: threads.")
@click.option("--threads", type=int, help="transformers: torch CPU threads.")
@click.option("--concurrency", type=int, help="openai: requests at once to the endpoint.")
@click.option(
    "--decode",
    type=click.Choice(["free", "constrained", "score", "generate"]),
    help="free: the reply is parsed; constrained: forced to a legal move; score: the likeliest "
    "legal move by log-probability. Local models default to constrained.",
)
@click.option(
    "--reasoning",
    type=click.Choice(["think-then-constrained", "think", "direct"]),
    help="think-then-constrained (local models' default): reason up to --reasoning-tokens, "
    "then the move is decoded among the legal moves; think: reason, then a parsed "
    "'Final answer:'; direct: the move alone.",
)
@click.option("--reasoning-tokens", type=int, help="The reasoning budget in tokens.")
@click.option("--style", type=click.Choice(["stateless", "chat"]), help="Prompt style.")
@click.option("--temperature", type=float, help="0 = greedy.")
@click.option("--max-tokens", type=int, help="Longest reply.")
@click.option(
    "--set",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other spec field (dotted for tables: sampling.top_p=0.9, bot params: params.depth=4).",
)
@click.pass_context
def add_command(
    ctx: click.Context, name: str, kind: str, extra: tuple[str, ...], **opts: Any
) -> None:
    """Register a player NAME of a given --kind."""
    from arena.specs import parse_spec
    from arena.store.players import add_player

    data: dict[str, Any] = {"name": name, "kind": kind}
    for key in ("decode",):
        if opts.get(key) is not None:
            data[key] = opts[key]
    for key in _KIND_FIELDS[kind]:
        if opts.get(key) is not None:
            data[key] = opts[key]
    prompt = {
        k: opts[k] for k in ("reasoning", "style", "reasoning_tokens") if opts.get(k) is not None
    }
    sampling = {k: opts[k] for k in ("temperature", "max_tokens") if opts.get(k) is not None}
    if prompt:
        data["prompt"] = prompt
    if sampling:
        data["sampling"] = sampling
    unused = [
        f"--{k.replace('_', '-')}"
        for k, v in opts.items()
        if v is not None and k not in data and k not in prompt and k not in sampling
    ]
    if unused:
        raise click.UsageError(f"{', '.join(unused)} does not apply to --kind {kind}")
    try:
        for key, value in parse_params(extra).items():
            target = data
            *parents, leaf = key.split(".")
            for part in parents:
                target = target.setdefault(part, {})
            target[leaf] = value
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    spec = parse_spec(data)
    _check_loadable(spec)
    db = open_store(ctx)
    row = add_player(db, spec)
    say(f"added {row.name} ({row.kind})")


def _check_loadable(spec: Any) -> None:
    from arena.backends.base import BackendError
    from arena.players.factory import check_loadable
    from arena.specs import SpecError

    try:
        check_loadable(spec)
    except BackendError as exc:
        raise SpecError(f"{spec.name}: {exc}") from None


@players_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def import_command(ctx: click.Context, file: str) -> None:
    """Register every player in a TOML or JSON file ([[players]] tables); all or none."""
    from arena.specs import load_specs
    from arena.store.players import import_players

    specs = load_specs(file)
    for spec in specs:
        _check_loadable(spec)
    db = open_store(ctx)
    rows = import_players(db, specs)
    say(f"imported {len(rows)} players: {', '.join(r.name for r in rows)}")


@players_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--all", "include_retired", is_flag=True, help="Include retired players.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool, include_retired: bool) -> None:
    """Every player: built-in bots first, then the registered ones."""
    from arena.specs import describe_spec, display_spec
    from arena.store.players import list_players

    rows = list_players(open_store(ctx), include_retired=include_retired)
    if as_json:
        echo_json(
            [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "builtin": r.builtin,
                    "retired": r.retired_at is not None,
                    "spec": display_spec(r.spec),
                    "created_at": r.created_at,
                }
                for r in rows
            ]
        )
        return
    width = max((len(r.name) for r in rows), default=4)
    for r in rows:
        flag = " (retired)" if r.retired_at else ""
        say(f"{r.name:<{width}}  {r.kind:<12}  {describe_spec(r.spec)}{flag}")


@players_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show_command(ctx: click.Context, name: str, as_json: bool) -> None:
    """A player's spec and ratings."""
    from arena.specs import display_spec
    from arena.store.players import get_player
    from arena.store.standings import player_ratings

    db = open_store(ctx)
    row = get_player(db, name)
    ratings = player_ratings(db, row.id)
    data = {
        "name": row.name,
        "kind": row.kind,
        "builtin": row.builtin,
        "retired_at": row.retired_at,
        "created_at": row.created_at,
        "spec": display_spec(row.spec),
        "ratings": ratings,
    }
    if as_json:
        echo_json(data)
        return
    say(f"{row.name}  ({row.kind}{', built-in' if row.builtin else ''})")
    if row.retired_at:
        say(f"retired {row.retired_at}")
    for key, value in display_spec(row.spec).items():
        if key not in ("name", "kind"):
            say(f"  {key}: {value}")
    for r in ratings:
        scope = "overall" if r["scope"] == "*" else r["scope"]
        say(
            f"  {scope:<18} mu {r['mu']:6.2f}  sigma {r['sigma']:5.2f}  "
            f"games {r['games']} ({r['wins']}W {r['draws']}D {r['losses']}L)"
        )


@players_group.command("remove")
@click.argument("name")
@click.pass_context
def remove_command(ctx: click.Context, name: str) -> None:
    """Delete a player, or retire it if it has played (its history stays)."""
    from arena.store.players import remove_player

    outcome = remove_player(open_store(ctx), name)
    say(f"{outcome} {name}")
