"""`arena tournament run|resume|list|show`: the headless tournament mode."""

from __future__ import annotations

from typing import Any

import click

from arena.commands.context import echo_json, open_store, say
from arena.commands.lazy import LazyGroup


@click.group("tournament", cls=LazyGroup, lazy={"run": "arena.commands.tournament_run:run_command"})
def tournament_group() -> None:
    """Run, resume and inspect tournaments."""


def run_stored(
    ctx: click.Context, tournament_id: int, as_json: bool, concurrency: int | None, quiet: bool
) -> None:
    """Play the tournament's pending matches. The exit status: 0 when it finished with every
    match played; 130 when SIGINT or SIGTERM stopped it (stored `interrupted`: matches in
    flight end at their next move, a second signal drops them; `resume` continues); 1 when
    matches ended in error (left for `resume` to retry, or failed for good)."""
    import asyncio
    import signal

    from arena.commands.progress import ProgressLine
    from arena.errors import EXIT_INTERRUPTED
    from arena.tournament.runner import TournamentError, run_tournament

    db = open_store(ctx)
    line = ProgressLine()
    stop = asyncio.Event()
    signals: list[int] = []

    async def main() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def on_signal(signum: int) -> None:
            signals.append(signum)
            if len(signals) == 1:
                say(
                    "\nstopping: matches in flight end at their next move "
                    "(Ctrl-C again to drop them)",
                    err=True,
                )
                stop.set()
            elif task is not None:
                task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, on_signal, signum)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not on Windows
                pass
        return await run_tournament(
            db,
            tournament_id,
            stop=stop,
            on_progress=None if quiet else line,
            concurrency=concurrency,
        )

    try:
        result = asyncio.run(main())
    except TournamentError:
        line.close()
        raise
    except (KeyboardInterrupt, asyncio.CancelledError):
        line.close()
        say(f"dropped the matches in flight; `arena tournament resume {tournament_id}`", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    line.close()
    if as_json:
        echo_json(result)
    else:
        say(
            f"tournament {result['id']} {result['status']}: {result['matches_played']} matches "
            f"played ({result['played_this_run']} now), {result['pending']} pending, "
            f"{result['failed']} failed"
        )
        if result["status"] != "finished":
            say(f"continue with: arena tournament resume {result['id']}")
        from arena.commands.leaderboard import print_leaderboard

        games = result["games"]
        print_leaderboard(db, games[0] if len(games) == 1 else None, limit=10)
    if signals:
        ctx.exit(EXIT_INTERRUPTED)
    if result["status"] != "finished" or result["failed"]:
        raise TournamentError(
            f"tournament {result['id']} is {result['status']}: "
            f"{result['errors_this_run']} matches ended in error in this run, "
            f"{result['failed']} failed for good; see "
            f"`arena matches list --tournament {result['id']} --status error`"
        )


@tournament_group.command("resume")
@click.argument("tournament_id", type=int)
@click.option(
    "--concurrency", default=None, metavar="INTEGER", help="Matches at once (default: as stored)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end.")
@click.option("--quiet", is_flag=True, help="No progress line.")
@click.pass_context
def resume_command(
    ctx: click.Context, tournament_id: int, concurrency: Any, as_json: bool, quiet: bool
) -> None:
    """Continue an interrupted tournament (after Ctrl-C, a crash or kill -9): pending matches
    and matches that ended in error (up to their retry limit) are played."""
    if concurrency is not None:  # judged as the config judges it (the stored one is not re-read)
        from arena.fields import check_option
        from arena.tournament.config import TournamentConfig
        from arena.tournament.fields import BY_KEY

        concurrency = check_option(TournamentConfig, BY_KEY["concurrency"], concurrency)
    run_stored(ctx, tournament_id, as_json, concurrency, quiet)


@tournament_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Every tournament, newest last."""
    from arena.store.tournaments import tournament_ids
    from arena.tournament.runner import summary

    db = open_store(ctx)
    rows = [summary(db, tid) for tid in tournament_ids(db)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        say(
            "no tournaments yet: arena tournament run --game tictactoe --player random --player minimax"
        )
    for r in rows:
        say(
            f"{r['id']:>4}  {r['name'][:28]:<28}  {r['format']:<11}  {r['status']:<11}  "
            f"{r['matches_played']}/{r['scheduled']} played  {', '.join(r['games'])}"
        )


@tournament_group.command("show")
@click.argument("tournament_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show_command(ctx: click.Context, tournament_id: int, as_json: bool) -> None:
    """A tournament's settings, progress and standings, and the results of its duplicate
    deals (each seed played in every seating; a deal's result sums its matches' returns)."""
    from arena.tournament.runner import deal_results, summary

    db = open_store(ctx)
    data = summary(db, tournament_id)  # TournamentError for an unknown id
    data["deals"] = deal_results(db, tournament_id)
    if as_json:
        echo_json(data)
        return
    table = data.pop("standings")
    deals = data.pop("deals")
    for key, value in data.items():
        say(f"{key:<16} {', '.join(value) if isinstance(value, list) else value}")
    if table:
        say("\nstandings in this tournament (W-D-L, points, mean return)")
        width = max(len(r["name"]) for r in table)
        for r in table:
            say(
                f"  {r['name']:<{width}}  {r['wins']}-{r['draws']}-{r['losses']}  "
                f"{r['points']:g}/{r['games']}  {r['mean_return']:+.3f}"
            )
    _say_deals(deals)


def _say_deals(deals: list[dict[str, Any]]) -> None:
    """The duplicate deals' lines of `show` (`deal_lines`)."""
    from arena.tournament.runner import DEALS_HEADING, deal_lines

    lines = deal_lines(deals)
    if lines:
        say("\n" + DEALS_HEADING)
        for line in lines:
            say("  " + line)
