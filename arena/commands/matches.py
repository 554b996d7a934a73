"""`arena matches list|show` and `arena export matches`: the record, read back."""

from __future__ import annotations

import sys

import click

from arena.commands.context import echo_json, open_store, say
from arena.safe_text import json_dumps, visible


def _safe(text: str | None, limit: int | None = None) -> str:
    """Untrusted model text on a terminal: controls, escapes and bidi overrides made visible."""
    if text is None:
        return ""
    out = visible(text)
    return out if limit is None or len(out) <= limit else out[: limit - 3] + "..."


@click.group("matches")
def matches_group() -> None:
    """List and show stored matches."""


@matches_group.command("list")
@click.option("--game", default=None)
@click.option("--tournament", type=int, default=None)
@click.option("--player", default=None)
@click.option("--status", type=click.Choice(["finished", "error", "aborted"]), default=None)
@click.option("--limit", type=int, default=None, help="The first N.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_command(ctx, game, tournament, player, status, limit, as_json) -> None:
    """Matches in finish order."""
    from arena.store.queries import list_matches

    rows = list_matches(
        open_store(ctx), game=game, tournament=tournament, player=player, status=status, limit=limit
    )
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        returns = "" if r["returns"] is None else " ".join(f"{x:+g}" for x in r["returns"])
        say(
            f"{r['id']:>6}  {r['finished_at'][:19]}  {r['game']:<14} {' v '.join(r['players']):<40} "
            f"{r['status']:<8} {returns}"
        )


@matches_group.command("show")
@click.argument("match_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--prompts", is_flag=True, help="Also print the prompts sent.")
@click.pass_context
def show_command(ctx, match_id: int, as_json: bool, prompts: bool) -> None:
    """A match's transcript, move by move, with the models' replies."""
    from arena.store.queries import match_transcript

    m = match_transcript(open_store(ctx), match_id)
    if m is None:
        raise click.ClickException(f"no match with id {match_id}")
    if as_json:
        echo_json(m)
        return
    from arena.outcomes import capitalize_first, outcome, seat_names

    names = seat_names(m["game"], m["params"])
    label = {
        s["seat"]: capitalize_first(names[s["seat"]]) for s in m["seats"] if s["seat"] < len(names)
    }
    seats = ", ".join(f"{label.get(s['seat'], s['seat'])}: {s['player']}" for s in m["seats"])
    say(f"match {m['id']}  {m['game']} {m['params'] or ''}  seed {m['seed']}  {seats}")
    for mv in m["moves"]:
        who = "chance" if mv["seat"] < 0 else label.get(mv["seat"], f"seat {mv['seat']}")
        if mv["reply"] is None or mv["reply"] == mv["action"] and mv["prompt"] is None:
            if mv["attempt"] == 0:
                say(f"{mv['idx']:>4}  {who:<7} {_safe(mv['action'])}")
            continue
        verdict = "legal" if mv["legal"] else f"ILLEGAL: {_safe(mv['error'])}"
        say(
            f"{mv['idx']:>4}  {who:<7} attempt {mv['attempt']}  -> {_safe(mv['parsed']) or '-'}  ({verdict})"
        )
        if prompts and mv["prompt"]:
            for msg in mv["prompt"]:
                say(f"        [{msg['role']}] {_safe(msg['content'], 400)}")
        # The reasoning (~) apart from the answer (|): the reply without the reasoning in it.
        if mv.get("reasoning"):
            for line in _safe(mv["reasoning"]).splitlines() or [""]:
                say(f"        ~ {line}")
        for line in _safe(mv.get("answer", mv["reply"])).splitlines() or [""]:
            say(f"        | {line}")
    status = m["status"] + (f" ({_safe(m['error'])})" if m["error"] else "")
    returns = ", ".join(
        f"{s['player']} {s['return']:+g}" for s in m["seats"] if s["return"] is not None
    )
    if m["status"] == "finished" and all(s["return"] is not None for s in m["seats"]):
        said = outcome(
            m["game"],
            [s["return"] for s in m["seats"]],
            m["forfeit_seat"],
            [s["team"] for s in m["seats"]],
            params=m["params"],
        )
        players = [_safe(s["player"]) for s in m["seats"]]
        status += f": {said.sentence(players=players)}"
    say(f"{status}  {returns}")


@click.group("export")
def export_group() -> None:
    """Export the record as datasets."""


@export_group.command("matches")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("--game", default=None)
@click.option("--tournament", type=int, default=None)
@click.option("--player", default=None)
@click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="A file (default: stdout)."
)
@click.pass_context
def export_matches_command(ctx, fmt, game, tournament, player, out) -> None:
    """One JSON line per move attempt of every finished match: prompt, raw reply, the model's
    reasoning and its answer as separate fields (`reasoning`, `answer`), action, legality,
    tokens, latency, cost, and the final return of the mover's seat."""
    from arena.store.queries import export_moves

    rows = export_moves(open_store(ctx), game=game, tournament=tournament, player=player)
    stream = open(out, "w", encoding="utf-8") if out else sys.stdout
    n = 0
    try:
        for row in rows:
            stream.write(json_dumps(row) + "\n")
            n += 1
    finally:
        if out:
            stream.close()
    if out:
        say(f"wrote {n} records to {out}", err=True)
