"""`arena demo`: a small tournament between built-in bots, a tiny local model and (when its
package is installed) the real SmolLM2-135M-Instruct, then the leaderboard. Without the shipped
tictactoe model, a tiny model is made (well under a minute on two cores) on first use."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from arena.commands.context import open_store, say


@click.command("demo")
@click.option(
    "--throwaway", is_flag=True, help="Use a temporary database instead of --db / the default."
)
@click.option("--games-per-pair", type=int, default=4, show_default=True)
@click.option(
    "--models-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the tiny model is kept (default: your data directory).",
)
@click.pass_context
def demo_command(
    ctx: click.Context, throwaway: bool, games_per_pair: int, models_dir: Path | None
) -> None:
    """Play random, minimax, a tiny llama.cpp model and the real SmolLM2-135M-Instruct (when
    installed) at tictactoe, then print the leaderboard."""
    from arena.models.demo import demo_gguf_path, demo_player, missing_extras, shipped_model_path

    missing = missing_extras()
    if missing:
        raise click.ClickException(
            f"the demo plays a tiny local model through llama.cpp; missing: "
            f"{', '.join(missing)} (pip install 'arena-games[llamacpp]')"
        )
    if shipped_model_path() is None and not demo_gguf_path(models_dir).exists():
        say("making the tiny demo model (once; under a minute)...", err=True)
    spec = demo_player(models_dir)
    if throwaway:
        tmp = tempfile.mkdtemp(prefix="arena-demo-")
        ctx.find_root().obj = {"db": str(Path(tmp) / "demo.db")}
    from arena.commands.tournament import run_stored
    from arena.models.real import real_model_path, real_spec
    from arena.specs import parse_spec
    from arena.store.players import add_player, find_player
    from arena.tournament.config import parse_config
    from arena.tournament.setup import create_tournament

    db = open_store(ctx)
    specs = [spec]
    real = real_model_path()
    if real is not None:
        specs.append(real_spec(real))
    for one in specs:
        if find_player(db, one["name"]) is None:
            add_player(db, parse_spec(one))
    config = parse_config(
        {
            "name": "demo",
            "games": ["tictactoe"],
            "players": ["random", "minimax", *(one["name"] for one in specs)],
            "games_per_pair": games_per_pair,
            "concurrency": 2,
        }
    )
    tournament_id = create_tournament(db, config)
    say(f"demo tournament {tournament_id} on {db.path}", err=True)  # type: ignore[attr-defined]
    run_stored(ctx, tournament_id, False, None, False)
