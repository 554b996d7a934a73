"""`arena match`: play one match in the terminal and print it as it happens."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from arena.commands.context import say
from arena.commands.params import SEED, FiniteFloatRange, parse_params, storable_param_problem
from arena.safe_text import one_line


def _short(text: str, limit: int = 80) -> str:
    """One line of untrusted model text, short, through the sanitiser."""
    return one_line(" ".join(text.split()), limit)


@click.command("match")
@click.argument("game_id")
@click.argument("players", nargs=-1, required=True)
@click.option(
    "--seed", type=SEED, default=0, show_default=True, help="Seed for chance and sampling."
)
@click.option(
    "--param", "params", multiple=True, metavar="KEY=VALUE", help="A game parameter (repeatable)."
)
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    default=1,
    show_default=True,
    help="Re-asks after an illegal reply.",
)
@click.option(
    "--on-illegal",
    type=click.Choice(["forfeit", "random"]),
    default="forfeit",
    show_default=True,
    help="After the last illegal attempt: forfeit, or play a random legal move.",
)
@click.option(
    "--move-time-limit",
    type=FiniteFloatRange(min=0, min_open=True, max=86_400),
    default=None,
    help="Seconds per model attempt.",
)
@click.option(
    "--max-reply-bytes",
    type=click.IntRange(64, 64 * 1024 * 1024),
    default=64 * 1024,
    show_default=True,
    help="A longer reply is cut there (and marked) before it is parsed and stored.",
)
@click.option("--show-replies/--no-show-replies", default=True, help="Print the models' replies.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the full match record as JSON at the end."
)
@click.option(
    "--no-store", is_flag=True, help="A throwaway run: store nothing (the match is not rated)."
)
@click.pass_context
def match_command(
    ctx: click.Context,
    game_id: str,
    players: tuple[str, ...],
    seed: int,
    params: tuple[str, ...],
    retries: int,
    on_illegal: str,
    move_time_limit: float | None,
    max_reply_bytes: int,
    show_replies: bool,
    as_json: bool,
    no_store: bool,
) -> None:
    """Play one match of GAME_ID between PLAYERS (one per seat, in seat order), store it in the
    database (every prompt and reply; rated when finished between distinct players) and print
    it as it happens.

    A player is a registered player's name, a built-in bot name (random, minimax, cfr, ...),
    `human` (you, at the terminal: asked again until the move is legal; Ctrl-D or Ctrl-C stops
    the match, exit 130, storing nothing), or a player spec file (.toml or .json; registered
    under its name when stored).
    """
    import asyncio

    import games
    from arena.errors import EXIT_INTERRUPTED, Interrupted
    from arena.match import MatchRules
    from arena.specs import SpecError

    try:
        game_params = parse_params(params)
        problem = storable_param_problem(game_params)
        if problem:
            raise click.BadParameter(problem, param_hint="'--param'")
        game = games.make(game_id, **game_params)
    except (KeyError, games.GameParamError, ValueError) as exc:
        raise click.UsageError(str(exc.args[0] if exc.args else exc)) from None
    if len(players) != game.num_players:
        raise click.UsageError(
            f"{game_id} is played by {game.num_players} players; {len(players)} given"
        )
    try:
        rules = MatchRules(
            retries=retries,
            on_exhausted=on_illegal,
            move_time_limit_s=move_time_limit,
            max_reply_bytes=max_reply_bytes,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    from arena.commands.context import echo_json, open_store, say
    from arena.store.db import default_db_path

    root = (ctx.find_root().obj or {}).get("db")
    db = None
    if not no_store or Path(root or default_db_path()).exists():
        db = open_store(ctx)  # registered names resolve even in a throwaway run
    try:
        result, match_id = asyncio.run(
            _run(
                game,
                list(players),
                seed,
                rules,
                show_replies and not as_json,
                as_json,
                db,
                store=not no_store,
            )
        )
    except SpecError as exc:
        raise click.UsageError(str(exc)) from None
    except (KeyboardInterrupt, Interrupted) as exc:
        # Ctrl-C, or Ctrl-D at the move prompt: an interruption, never a forfeit; the
        # unfinished match is not stored.
        reason = (
            str(exc) if isinstance(exc, Interrupted) else "interrupted (Ctrl-C); nothing was stored"
        )
        say(f"\nmatch {reason}", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None  # through the one exit
    if as_json:
        record = result.to_dict()
        record["match_id"] = match_id
        echo_json(record)
    elif match_id is not None:
        say(f"stored as match {match_id} (arena matches show {match_id} --prompts)")
    if result.status != "finished":
        say(f"match {result.status}: {result.error}", err=True)
        sys.exit(1)


async def _run(
    game, refs: list[str], seed: int, rules, show_replies: bool, quiet: bool, db, *, store: bool
):
    from arena.commands.players_ref import resolve_ref
    from arena.match import AttemptMade, MatchEnded, MovePlayed, play_match
    from arena.players.factory import BackendPool
    from arena.store.records import record_match
    from games import CHANCE

    pool = BackendPool()
    players = []
    try:
        ids = []
        for ref in refs:
            player, player_id = resolve_ref(ref, pool, db, register=store)
            players.append(player)
            ids.append(player_id)
        names = _unique([p.name for p in players])
        for p, n in zip(players, names):
            p.name = n
        # With a person at the terminal, printing every move would show them secrets (cards,
        # hidden choices): they see their own observation instead.
        spectator = not quiet and not any(p.kind == "human" for p in players)
        seat_names = game.seat_names()

        def on_event(event: Any) -> None:
            if not spectator:
                return
            if isinstance(event, AttemptMade) and show_replies and not event.attempt.legal:
                say(
                    f"     illegal: '{_short(event.attempt.raw) or '(empty)'}': "
                    f"{_short(event.attempt.error or '', 120)}"
                )
            elif isinstance(event, MovePlayed):
                rec = event.record
                if rec.seat == CHANCE:
                    say(f"  {rec.index:3d}. chance: {rec.action}")
                    return
                extra = " (random, after illegal replies)" if rec.forced else ""
                seat = seat_names[rec.seat]
                say(f"  {rec.index:3d}. {rec.player} ({seat}): {rec.action}{extra}")
            elif isinstance(event, MatchEnded):
                pass

        if spectator:
            say(f"{game.name}: " + " vs ".join(p.describe() for p in players))
        result = await play_match(game, players, seed, rules=rules, on_event=on_event)
        if not quiet:
            _print_result(game, result)
        match_id = record_match(db, result, ids) if store and db is not None else None
        return result, match_id
    finally:
        for p in players:
            await p.aclose()
        await pool.aclose()


def _unique(names: list[str]) -> list[str]:
    """Seat-suffix repeated names (random vs random) so the record can tell them apart."""
    out = []
    for i, n in enumerate(names):
        out.append(f"{n}#{i}" if names.count(n) > 1 else n)
    return out


def _print_result(game, result) -> None:
    from arena.outcomes import outcome

    if result.status != "finished":
        return
    said = outcome(game, result.returns, result.forfeit_seat, result.teams)
    say("")
    for seat, (name, ret) in enumerate(zip(result.players, result.returns)):
        bad = result.invalid_moves[seat]
        note = f", {bad} illegal attempt{'s' if bad != 1 else ''}" if bad else ""
        say(f"  {said.seat_label(seat)}: {name} {ret:+g}{note}")
    say(f"result: {said.sentence(players=result.players)}")
