"""`arena models`: make a tiny model from game text; convert between Hugging Face and GGUF."""

from __future__ import annotations

from pathlib import Path

import click

from arena.commands.context import say
from arena.commands.params import SEED


@click.group("models")
def models_group() -> None:
    """Make tiny test models; convert Hugging Face folders to GGUF and back."""


@models_group.command("make-tiny")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--arch",
    type=click.Choice(["llama", "qwen2"]),
    default="llama",
    show_default=True,
    help="Model architecture.",
)
@click.option(
    "--train-steps",
    type=click.IntRange(min=0, max=10_000_000),
    default=300,
    show_default=True,
    help="Training steps on game transcripts; 0 keeps a random init with a large std.",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed for games and weights.")
@click.option(
    "--vocab-size",
    type=click.IntRange(min=300, max=1 << 20),
    default=1024,
    show_default=True,
    help="BPE size.",
)
@click.option(
    "--hidden-size",
    type=click.IntRange(min=32, max=1 << 16),
    default=64,
    show_default=True,
    help="Width (a multiple of 32).",
)
@click.option("--layers", type=click.IntRange(min=1, max=1024), default=2, show_default=True)
def make_tiny_command(
    out_dir: Path,
    arch: str,
    train_steps: int,
    seed: int,
    vocab_size: int,
    hidden_size: int,
    layers: int,
) -> None:
    """Train a tiny chat model on generated game text and save it as a Hugging Face folder."""
    from arena.models.tiny import build_tiny

    try:
        report = build_tiny(
            out_dir,
            arch=arch,
            train_steps=train_steps,
            seed=seed,
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            layers=layers,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:  # e.g. an unwritable destination
        raise click.ClickException(str(exc)) from None
    loss = ""
    if report.first_loss is not None:
        loss = f", loss {report.first_loss:.2f} -> {report.last_loss:.2f}"
    say(
        f"wrote {report.path}: {report.arch}, {report.parameters:,} parameters, "
        f"vocabulary {report.vocab_size}{loss}, {report.seconds:.1f} s"
    )


@models_group.command("export-gguf")
@click.argument("hf_dir", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--dtype",
    type=click.Choice(["f32", "f16"]),
    default="f16",
    show_default=True,
    help="Weight type in the GGUF file (norms and biases stay f32).",
)
def export_gguf_command(hf_dir: Path, out: Path, dtype: str) -> None:
    """Export a Llama or Qwen2 Hugging Face folder to a GGUF file for llama.cpp."""
    from arena.models.gguf_export import ExportError, export_gguf

    try:
        summary = export_gguf(hf_dir, out, dtype)
    except (ExportError, OSError) as exc:  # a bad folder, or an unwritable destination
        raise click.ClickException(str(exc)) from None
    say(
        f"wrote {summary.path}: {summary.arch}, {summary.dtype}, {summary.tensors} tensors, "
        f"{summary.parameters:,} parameters, vocabulary {summary.vocab_size} "
        f"(pre-tokenizer {summary.pre_tokenizer})"
    )


@models_group.command("import-gguf")
@click.argument("gguf_file", metavar="FILE", type=click.Path(path_type=Path))
@click.argument("out_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option(
    "--dtype",
    type=click.Choice(["float32", "bfloat16", "float16"]),
    default="float32",
    show_default=True,
    help="Weight type in the folder (float32 is exact; the others are half the size).",
)
def import_gguf_command(gguf_file: Path, out_dir: Path, dtype: str) -> None:
    """Turn a Llama or Qwen2 GGUF file into a Hugging Face folder for transformers and training.

    Quantized weights (Q4_0, Q4_1, Q8_0, K-quants, ...) are dequantized; DIR must not exist or be
    empty.
    """
    from arena.models.gguf_import import GGUFImportError, import_gguf

    try:
        summary = import_gguf(gguf_file, out_dir, dtype)
    except (GGUFImportError, OSError) as exc:  # a bad file, or an unwritable destination
        raise click.ClickException(str(exc)) from None
    say(
        f"wrote {summary.path}: {summary.arch}, {summary.dtype} from "
        f"{'/'.join(summary.file_types)}, {summary.tensors} tensors, "
        f"{summary.parameters:,} parameters, vocabulary {summary.vocab_size} "
        f"(pre-tokenizer {summary.pre_tokenizer}), {summary.seconds:.1f} s"
    )
