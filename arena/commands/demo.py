"""`arena demo`: a small tournament between built-in bots and a tiny local model, then the
leaderboard. The tiny model is made (about a minute on two cores) on first use."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from arena.commands.context import open_store

DEMO_PLAYER = "tiny-demo"


def demo_model_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("arena", appauthor=False)) / "models"


def ensure_demo_model(models: Path) -> Path:
    """The tiny model's GGUF file, made with `make-tiny` and `export-gguf` when missing."""
    gguf = models / "tiny-demo.f32.gguf"
    if gguf.exists():
        return gguf
    try:
        from arena.models.gguf_export import export_gguf
        from arena.models.tiny import build_tiny
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise click.ClickException(
            f"the demo makes a tiny model and needs the model extras ({exc.name} is missing): "
            "pip install 'arena[models,llamacpp]'"
        ) from None
    click.echo("making the tiny demo model (once; about a minute)...", err=True)
    hf = models / "tiny-demo"
    build_tiny(hf, train_steps=300)
    tmp = gguf.with_suffix(".part")
    export_gguf(hf, tmp, "f32")
    tmp.replace(gguf)
    return gguf


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
    """Play random, minimax and a tiny llama.cpp model at tictactoe, then print the
    leaderboard."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "the demo plays a model through llama.cpp: pip install 'arena[models,llamacpp]'"
        ) from None
    gguf = ensure_demo_model(models_dir or demo_model_dir())
    if throwaway:
        tmp = tempfile.mkdtemp(prefix="arena-demo-")
        ctx.find_root().obj = {"db": str(Path(tmp) / "demo.db")}
    from arena.commands.tournament import _run
    from arena.specs import parse_spec
    from arena.store.players import add_player, find_player
    from arena.tournament.config import parse_config
    from arena.tournament.setup import create_tournament

    db = open_store(ctx)
    if find_player(db, DEMO_PLAYER) is None:
        add_player(
            db,
            parse_spec(
                {
                    "name": DEMO_PLAYER,
                    "kind": "llamacpp",
                    "path": str(gguf),
                    "decode": "constrained",
                    "prompt": {"reasoning": "direct"},
                    "sampling": {"temperature": 0.7, "max_tokens": 16},
                }
            ),
        )
    config = parse_config(
        {
            "name": "demo",
            "games": ["tictactoe"],
            "players": ["random", "minimax", DEMO_PLAYER],
            "games_per_pair": games_per_pair,
            "concurrency": 2,
        }
    )
    tournament_id = create_tournament(db, config)
    click.echo(f"demo tournament {tournament_id} on {db.path}", err=True)  # type: ignore[attr-defined]
    _run(ctx, tournament_id, False, None, False)
