"""`arena eval`: measure a player outside matches (its exploitability at Kuhn or Leduc poker,
the quality of its stored moves where a solver or engine knows the best one)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from arena.commands.context import say
from arena.commands.params import SEED


@click.group("eval")
def eval_group() -> None:
    """Measure players' strength exactly (or by sampling where it cannot be exact)."""


@eval_group.command(
    "exploitability", short_help="A player's exploitability at Kuhn or Leduc poker."
)
@click.argument("player")
@click.option(
    "--game",
    "game_id",
    required=True,
    metavar="GAME",
    help="kuhn_poker or leduc_poker (two-player games small enough for the whole tree).",
)
@click.option(
    "--samples",
    type=click.IntRange(min=1, max=1_000_000),
    default=20,
    show_default=True,
    help="Replies per information set for a player whose moves are sampled.",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed for the samples.")
@click.option(
    "--method",
    type=click.Choice(["auto", "exact", "sampled"]),
    default="auto",
    show_default=True,
    help="auto: exact where the player's move distribution is known, else sampled.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--no-store", is_flag=True, help="Do not store the result.")
@click.pass_context
def exploitability_command(
    ctx: click.Context,
    player: str,
    game_id: str,
    samples: int,
    seed: int,
    method: str,
    as_json: bool,
    no_store: bool,
) -> None:
    """How much a best responder wins against PLAYER at --game, averaged over the two seats
    (0 is a Nash equilibrium; the uniformly random player gives 0.458 at Kuhn poker).

    Exact for built-in bots, for models that score the legal moves and answer directly, and
    for greedy constrained or scored models (answering directly, or after greedy reasoning: the
    local models' default at temperature 0): one query per information set. Any other
    model is asked --samples times per information set; the estimate is then marked "sampled"
    and comes with a 95% bootstrap interval; a reply that is not a legal move counts as a
    uniformly random legal move (its rate is reported).

    PLAYER is a registered player's name, a built-in bot name, or a player spec file. A
    registered player's result is stored (the TUI shows it on the player's page).
    """
    import asyncio

    import games
    from arena.backends.base import BackendError
    from arena.commands.context import echo_json, open_store, say
    from arena.exploitability import EvaluationError, check_game
    from arena.specs import SpecError
    from arena.store.db import default_db_path

    try:
        game = games.make(game_id)
        check_game(game)
    except KeyError as exc:
        raise _user_error(str(exc.args[0] if exc.args else exc)) from None
    except EvaluationError as exc:
        raise _user_error(str(exc)) from None
    root = (ctx.find_root().obj or {}).get("db")
    db = None
    if not no_store or Path(root or default_db_path()).exists():
        db = open_store(ctx)  # registered names resolve even when nothing is stored
    progress = _Progress() if sys.stderr.isatty() and not as_json else None
    try:
        result, player_id = asyncio.run(
            _run(player, game, db, samples=samples, seed=seed, method=method, progress=progress)
        )
    except (SpecError, EvaluationError) as exc:
        raise _user_error(str(exc)) from None
    except BackendError as exc:
        raise click.ClickException(f"the model could not be asked: {exc}") from None
    except KeyboardInterrupt:
        say("\naborted", err=True)
        sys.exit(130)
    finally:
        if progress is not None:
            progress.close()
    stored = None
    if not no_store and db is not None and player_id is not None:
        from arena.store.evaluations import record_evaluation

        stored = record_evaluation(
            db,
            player_id,
            game.id,
            "exploitability",
            result.exploitability,
            method=result.method,
            ci_low=result.ci_low,
            ci_high=result.ci_high,
            details=result.details(),
        )
    if as_json:
        data = result.to_dict()
        data["evaluation_id"] = stored
        echo_json(data)
        return
    _print(result)
    if stored is not None:
        say(f"stored as evaluation {stored}")
    elif not no_store:
        say(f"not stored: {result.player!r} is not a registered player (arena players import FILE)")


@eval_group.command(
    "move-quality", short_help="Each stored move's loss against the best move, per player."
)
@click.option(
    "--game",
    "game_id",
    default=None,
    metavar="GAME",
    help="Only this game: tictactoe, connect_four, kuhn_poker, leduc_poker or chess.",
)
@click.option("--player", default=None, metavar="PLAYER", help="Only matches of this player.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def move_quality_command(
    ctx: click.Context, game_id: str | None, player: str | None, as_json: bool
) -> None:
    """Score every stored move that has no score yet against the best move there, then print
    per player and game: decisions scored, mean loss, share of best moves.

    tictactoe: exact minimax game value lost (0..2). connect_four: the same, as far as a 5-ply
    search proves it. kuhn_poker, leduc_poker: chips lost against the best action, all play
    after it following the shipped CFR policy. chess: Stockfish's centipawn loss at depth 8
    (when Stockfish is installed). Other games have no ground truth and are not scored.

    Scores are stored (a batch per short transaction): a second run only scores new matches,
    and an interrupted one resumes where it stopped.
    """
    import games
    from arena.commands.context import echo_json, open_store
    from arena.move_quality import UNITS, move_quality_summary, score_stored_matches
    from arena.store.players import get_player

    if game_id is not None and game_id not in UNITS:
        try:
            games.make(game_id)
        except KeyError as exc:
            raise _user_error(str(exc.args[0] if exc.args else exc)) from None
        raise _user_error(
            f"{game_id} has no solver or engine to score moves against; "
            f"games with one: {', '.join(UNITS)}"
        )
    db = open_store(ctx)
    player_id = get_player(db, player).id if player is not None else None
    progress = _Progress("scored matches") if sys.stderr.isatty() and not as_json else None
    try:
        report = score_stored_matches(db, game=game_id, player_id=player_id, on_progress=progress)
    except KeyboardInterrupt:
        say("\ninterrupted: the batches written so far are kept", err=True)
        sys.exit(130)
    finally:
        if progress is not None:
            progress.close()
    summary = move_quality_summary(db, game_id, player=player)
    rows = [
        {"player": name, "game": game, **stats}
        for name, entry in summary.items()
        for game, stats in entry["by_game"].items()
    ]
    if as_json:
        echo_json({"scored": report.to_dict(), "players": rows})
        return
    say(
        f"scored {report.decisions} new decisions in {report.matches} matches "
        f"({report.seconds:.2f} s)"
    )
    for game, why in sorted(report.skipped.items()):
        say(f"  {game} not scored: {why}")
    if not rows:
        say("no scored moves yet")
        return
    width = max(6, *(len(r["player"]) for r in rows))
    say(f"{'player':<{width}}  {'game':<12} {'decisions':>9} {'mean loss':>10} {'best':>7}  unit")
    for r in rows:
        mean = "-" if r["mean_loss"] is None else f"{r['mean_loss']:.4f}"
        best = "-" if r["best_share"] is None else f"{r['best_share']:.1%}"
        extra = f", {r['forfeits']} forfeits" if r["forfeits"] else ""
        say(
            f"{r['player']:<{width}}  {r['game']:<12} {r['decisions']:>9} {mean:>10} "
            f"{best:>7}  {r['unit']} ({r['method']}{extra})"
        )


def _user_error(message: str) -> click.ClickException:
    """One line (`Error: ...`) and exit status 2, as for a usage error."""
    error = click.ClickException(message)
    error.exit_code = 2
    return error


async def _run(ref: str, game: Any, db: Any, *, samples, seed, method, progress):
    from arena.commands.players_ref import resolve_ref
    from arena.exploitability import evaluate_exploitability
    from arena.players.factory import BackendPool

    pool = BackendPool()
    player = None
    try:
        player, player_id = resolve_ref(ref, pool, db, register=False)
        if player_id is None and db is not None:
            player_id = _registered_as(ref, player.name, db)
        result = await evaluate_exploitability(
            player, game, samples=samples, seed=seed, method=method, on_progress=progress
        )
        return result, player_id
    finally:
        if player is not None:
            await player.aclose()
        await pool.aclose()


def _registered_as(ref: str, name: str, db: Any) -> int | None:
    """The row of a spec file's player when the same spec is registered under its name."""
    from arena.specs import load_specs, spec_to_dict
    from arena.store.players import find_player

    row = find_player(db, name)
    if row is None or Path(ref).suffix not in (".toml", ".json"):
        return None
    return row.id if spec_to_dict(load_specs(ref)[0]) == row.spec else None


def _print(r: Any) -> None:
    if r.method == "exact":
        say(f"{r.player} at {r.game}: exploitability {r.exploitability:.4f} (exact)")
    else:
        say(
            f"{r.player} at {r.game}: exploitability {r.exploitability:.4f} (sampled, "
            f"{r.confidence:.0%} CI {r.ci_low:.4f} to {r.ci_high:.4f})"
        )
    say(f"  from: {r.basis}")
    seat0, seat1 = r.best_response_values
    own0, own1 = r.policy_values
    say(
        f"  a best responder wins {seat0:+.4f} in seat 0 and {seat1:+.4f} in seat 1 "
        f"(the player against itself: {own0:+.4f}, {own1:+.4f})"
    )
    if r.method == "sampled":
        say(
            f"  {r.samples} replies per information set; the empirical policy's own "
            f"exploitability is {r.empirical_exploitability:.4f} (biased upwards by the noise; "
            "the estimate corrects for it)"
        )
    if r.illegal:
        say(
            f"  {r.illegal} of {r.queries} replies were not a legal move ({r.illegal_rate:.1%}); "
            "each counts as a uniformly random legal move"
        )
    say(f"  {r.infosets} information sets, {r.queries} queries, {r.seconds:.2f} s")


class _Progress:
    """`asked N/M` on the terminal's error stream, redrawn at most a few times a second."""

    def __init__(self, label: str = "asked") -> None:
        import time

        self._label = label
        self._clock = time.monotonic
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        if done < total and now - self._last < 0.25:
            return
        self._last = now
        self._shown = True
        click.echo(f"\r  {self._label} {done}/{total}", err=True, nl=False)  # numbers only

    def close(self) -> None:
        if self._shown:
            say("", err=True)
