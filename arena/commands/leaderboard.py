"""`arena leaderboard` and `arena ratings`: standings and their upkeep."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from arena.commands.context import echo_json, open_store, say

if TYPE_CHECKING:
    from sqlite_utils import Database


def print_leaderboard(
    db: Database,
    game: str | None,
    *,
    min_games: int = 10,
    limit: int | None = None,
    include_retired: bool = False,
) -> None:
    """The standings as a table, with what each player's strength costs (prompt and
    completion tokens, mean latency per decision, cost in all and per game); retired (removed)
    players only with `include_retired`, and then marked "(retired)"."""
    from arena.leaderboard import leaderboard

    board = leaderboard(db, game, min_games=min_games, include_retired=include_retired)
    title = game or "overall"
    rows = board["players"][:limit] if limit else board["players"]
    if not rows:
        say(f"{title}: no rated matches yet")
        return
    say(f"{title} (TrueSkill, sorted by mu - 3 sigma; ? = fewer than {min_games} games)")
    labels = {
        p["name"]: p["name"]
        + ("?" if p["provisional"] else " ")
        + (" (retired)" if p["retired"] else "")
        for p in rows
    }
    width = max(len(label) for label in labels.values())
    say(
        f"{'#':>3} {'player':<{width}} {'rating':>7} {'best mv':>7} {'mu':>6} {'sigma':>6} {'games':>6} "
        f"{'W':>5} {'D':>5} {'L':>5} {'invalid':>8} {'latency':>8} {'cost $':>9} {'$/game':>9} "
        f"{'prompt tok':>10} {'compl tok':>10}"
    )
    for p in rows:
        say(
            f"{p['rank']:>3} {labels[p['name']]:<{width}} {p['conservative']:>7.2f} "
            f"{_share(p['best_move_share']):>7} {p['mu']:>6.2f} "
            f"{p['sigma']:>6.2f} {p['games']:>6} {p['wins']:>5} {p['draws']:>5} {p['losses']:>5} "
            f"{p['invalid_rate']:>8.1%} {p['mean_latency_s']:>7.3f}s {p['cost_usd']:>9.4f} "
            f"{p['cost_per_game_usd']:>9.4f} {p['prompt_tokens']:>10} {p['completion_tokens']:>10}"
        )


def _share(value: float | None) -> str:
    """A share of best moves, or "-" where the player's moves were not scored."""
    return "-" if value is None else f"{value:.0%}"


@click.command("leaderboard")
@click.option("--game", default=None, help="One game's ratings (default: overall).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--min-games", type=int, default=10, show_default=True, help="Provisional below this."
)
@click.option(
    "--all",
    "include_retired",
    is_flag=True,
    help="Also the removed (retired) players, marked; hidden by default. Their ratings and "
    "history are kept either way.",
)
@click.option("--matrix", is_flag=True, help="Also the pairwise win-rate matrix.")
@click.option("--bt", is_flag=True, help="Also the Bradley-Terry fit with 95% bootstrap intervals.")
@click.option(
    "--samples", type=int, default=200, show_default=True, help="Bootstrap samples for --bt."
)
@click.pass_context
def leaderboard_command(
    ctx: click.Context,
    game: str | None,
    as_json: bool,
    min_games: int,
    matrix: bool,
    bt: bool,
    samples: int,
    include_retired: bool,
) -> None:
    """Ratings per game or overall, best first, next to what each player costs: prompt and
    completion tokens, mean latency per decision, cost in US dollars (from the price table in
    the player's spec) in all and per game, over its rated matches in the scope. Removed
    (retired) players are left out unless --all is given."""
    from arena.leaderboard import bradley_terry_view, leaderboard, win_rates

    db = open_store(ctx)
    if as_json:
        data = leaderboard(db, game, min_games=min_games, include_retired=include_retired)
        if matrix:
            data["win_rates"] = {
                a: {b: {"rate": rate, "games": n} for b, (rate, n) in row.items()}
                for a, row in win_rates(db, game).items()
            }
        if bt:
            data["bradley_terry"] = bradley_terry_view(db, game, samples=samples)
        echo_json(data)
        return
    print_leaderboard(db, game, min_games=min_games, include_retired=include_retired)
    if matrix:
        table = win_rates(db, game)
        names = sorted(table)
        say("\nwin rate of the row against the column (games)")
        say(" " * 14 + "".join(f"{n[:12]:>13}" for n in names))
        for a in names:
            cells = []
            for b in names:
                rate, n = table[a].get(b, (None, 0))
                cells.append(f"{'-':>13}" if rate is None else f"{rate:>7.0%} ({n:>3})")
            say(f"{a[:13]:<14}" + "".join(cells))
    if bt:
        say("\nBradley-Terry (Elo scale, 95% bootstrap interval; order-independent)")
        for r in bradley_terry_view(db, game, samples=samples):
            say(f"  {r['name']:<24} {r['strength']:>7.0f}  [{r['low']:>6.0f}, {r['high']:>6.0f}]")


@click.group("ratings")
def ratings_group() -> None:
    """Rebuild ratings and set their parameters."""


@ratings_group.command("recompute")
@click.option("--game", default=None, help="Only this game's ratings (and the overall ones).")
@click.pass_context
def recompute_command(ctx: click.Context, game: str | None) -> None:
    """Rebuild ratings from the match history in finish order (the same result as the
    incremental updates)."""
    import time

    from arena.store.recompute import recompute_ratings

    t0 = time.perf_counter()
    n = recompute_ratings(open_store(ctx), game)
    say(f"replayed {n} rated matches in {time.perf_counter() - t0:.2f} s")


@ratings_group.command("draw-probability")
@click.argument("game")
@click.argument("value")
@click.pass_context
def draw_probability_command(ctx: click.Context, game: str, value: str) -> None:
    """Set GAME's draw probability (0 < VALUE < 1), or `auto` to estimate it from results.
    Takes effect for the next match; `ratings recompute` applies it to the past."""
    from arena.store.ratings import set_draw_probability
    from games.registry import game_ids

    if game not in game_ids():
        raise click.UsageError(f"unknown game {game!r}")
    try:
        number = None if value == "auto" else float(value)
        set_draw_probability(open_store(ctx), game, number)
    except ValueError as exc:
        raise click.UsageError(str(exc) if value != "auto" else "bad value") from None
    say(f"{game}: draw probability {value}")
