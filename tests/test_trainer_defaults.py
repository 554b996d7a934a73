"""Defaults per model size (the learning rate and games per step follow the base's parameter
count, read from its safetensors headers, fixed when the job is created), the starting model
evaluated as step 0, evaluation reply statistics, and the thinking-collapse warning."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from model_folders import stub_model_folder

from arena.jobs import create_job, get_job, job_config, thinking_collapse
from arena.models.param_count import config_parameters, model_parameters
from arena.store import open_db
from arena.train_config import default_lr, parse_config

# SmolLM2-135M's config.json dimensions.
SMOLLM2 = {
    "hidden_size": 576,
    "num_hidden_layers": 30,
    "intermediate_size": 1536,
    "vocab_size": 49152,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "tie_word_embeddings": True,
}


def write_header_only_safetensors(path: Path, shapes: dict[str, list[int]]) -> None:
    """A safetensors file's header (8-byte little-endian length, then JSON) declaring bf16
    tensors of these shapes; the data after it is left out (the reader never reads it)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in shapes.items():
        size = 2
        for d in shape:
            size *= d
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)


def fake_135m_folder(path: Path) -> Path:
    """A trainable-looking folder whose weights' header declares 135M parameters."""
    stub_model_folder(path)
    write_header_only_safetensors(
        path / "model.safetensors",
        {"model.embed_tokens.weight": [49152, 576], "model.layers.0.mlp.weight": [106_600_000]},
    )
    return path


def test_a_tiny_base_keeps_the_tiny_models_learning_rate_and_batch(tmp_path, tiny_model_dir):
    stub = parse_config({"base": str(stub_model_folder(tmp_path / "stub"))})
    assert stub.base_parameters is None and stub.lr == 1e-4 and stub.batch_games == 16
    tiny = parse_config({"base": str(tiny_model_dir)})
    assert 0 < tiny.base_parameters < 1_000_000  # type: ignore[operator]
    assert tiny.lr == 1e-4 and tiny.batch_games == 16
    assert parse_config({"base": str(tiny_model_dir), "lora": True}).lr == 1e-4


def test_a_135m_base_gets_a_real_models_learning_rate_from_its_safetensors_header(tmp_path):
    base = fake_135m_folder(tmp_path / "smol")
    assert model_parameters(base) == 49152 * 576 + 106_600_000
    full = parse_config({"base": str(base)})
    assert 1e-6 <= full.lr <= 2e-6 and full.batch_games == 32  # type: ignore[operator]
    lora = parse_config({"base": str(base), "lora": True})
    assert 1e-5 <= lora.lr <= 2e-5  # type: ignore[operator]


def test_an_explicit_learning_rate_and_batch_always_win(tmp_path):
    base = fake_135m_folder(tmp_path / "smol")
    config = parse_config({"base": str(base), "lr": 3e-4, "batch_games": 4})
    assert config.lr == 3e-4 and config.batch_games == 4
    assert config.base_parameters == model_parameters(base)


def test_the_default_is_fixed_in_the_jobs_stored_config(tmp_path):
    base = fake_135m_folder(tmp_path / "smol")
    db = open_db(tmp_path / "arena.db")
    job = get_job(db, create_job(db, parse_config({"base": str(base)})))
    lr = job.config["lr"]
    assert 1e-6 <= lr <= 2e-6 and job.config["batch_games"] == 32
    # the folder changing later does not change the job: the stored value is parsed as given
    stub_model_folder(base)
    (base / "model.safetensors").write_bytes(b"")
    assert job_config(job).lr == lr


def test_the_learning_rate_table_is_interpolated_in_log_space_and_held_beyond_it():
    assert default_lr(None) == default_lr(5_000_000) == 1e-4
    assert default_lr(100_000_000) == 2e-6 and default_lr(100_000_000, lora=True) == 2e-5
    assert default_lr(4_000_000_000) == default_lr(70_000_000_000) == 1e-6
    middle = default_lr(int((20e6 * 100e6) ** 0.5))  # the geometric middle of 20M..100M
    assert middle == pytest.approx((1e-4 * 2e-6) ** 0.5, rel=0.01)


def test_config_json_dimensions_estimate_the_parameter_count():
    assert config_parameters(SMOLLM2) == pytest.approx(134_515_008, rel=0.01)
    assert config_parameters({"model_type": "llama"}) is None


def test_a_folder_without_safetensors_headers_is_estimated_from_config_json(tmp_path):
    base = stub_model_folder(tmp_path / "smol")  # its model.safetensors is empty
    (base / "config.json").write_text(
        json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"], **SMOLLM2})
    )
    assert model_parameters(base) == config_parameters(SMOLLM2)
    assert parse_config({"base": str(base)}).batch_games == 32


# -- the thinking-collapse warning -------------------------------------------------------------


def _reply_tokens(*values: float, first_step: int = 1) -> dict[str, list[tuple[int, float]]]:
    return {"mean_reply_tokens": [(first_step + i, v) for i, v in enumerate(values)]}


def test_replies_shrinking_under_half_their_start_are_flagged():
    warning = thinking_collapse(_reply_tokens(60, 64, 62, 50, 20, 12, 10))
    assert warning == "reply length fell from 62 to 14 tokens: thinking collapse? (SPIRAL)"


def test_steady_replies_one_short_step_or_too_few_steps_are_not_flagged():
    assert thinking_collapse({}) is None
    assert thinking_collapse(_reply_tokens(60, 64, 62, 58, 61, 59)) is None
    assert thinking_collapse(_reply_tokens(60, 64, 62, 58, 5, 59)) is None  # one short step
    assert thinking_collapse(_reply_tokens(60, 64, 62, 10, 10)) is None  # two points after
    assert thinking_collapse(_reply_tokens(3, 3, 3, 1, 1, 1)) is None  # nothing to lose


# -- step 0 and the evaluation's reply statistics (a real tiny model) -----------------------------


def test_a_fresh_job_evaluates_its_starting_model_as_step_0(tiny_model_dir, tmp_path):
    pytest.importorskip("torch")
    from arena.jobs import read_metrics
    from trainer.run import run_job

    path = tmp_path / "arena.db"
    db = open_db(path)
    config = {
        "base": str(tiny_model_dir),
        "games": ["kuhn_poker"],
        "steps": 1,
        "batch_games": 2,
        "eval_games": 1,
        "anchors": ["random"],
        "device": "cpu",
        "name": "kt",
    }
    job_id = create_job(db, parse_config(config))
    assert run_job(path, job_id) == 1
    metrics = read_metrics(db, job_id)
    at = {name: dict(points) for name, points in metrics.items()}
    for step in (0, 1):
        assert 0.0 < at["exploitability/kuhn_poker"][step] < 1.0
        assert at["eval/kuhn_poker/random/games"][step] == 1.0
        assert at["eval/kuhn_poker/invalid_rate"][step] == 0.0  # scored play: always legal
        assert at["eval/kuhn_poker/reply_chars"][step] > 0
    assert "loss" not in at or 0 not in at["loss"]  # step 0 trains nothing
    start = db.conn.execute("SELECT spec, parent FROM players WHERE name = 'kt@0'").fetchone()
    assert json.loads(start[0])["model"] == str(tiny_model_dir) and start[1] is None
    parent = db.conn.execute("SELECT parent FROM players WHERE name = 'kt@1'").fetchone()[0]
    assert parent == "kt@0"
    db.conn.close()


def test_the_reply_statistics_count_invalid_attempts_and_reply_lengths(tmp_path):
    from arena.match import Attempt, MatchResult, MoveRecord
    from arena.store.eval_stats import tournament_reply_stats
    from arena.store.players import find_player
    from arena.store.records import record_match
    from arena.tournament.config import parse_config as parse_tournament
    from arena.tournament.setup import create_tournament

    db = open_db(tmp_path / "arena.db")
    tid = create_tournament(
        db,
        parse_tournament(
            {
                "name": "eval",
                "format": "gauntlet",
                "games": ["tictactoe"],
                "challenger": "random",
                "players": ["minimax"],
            }
        ),
    )
    me, other = find_player(db, "random"), find_player(db, "minimax")
    assert me is not None and other is not None
    assert tournament_reply_stats(db, tid, me.id).invalid_rate is None  # nothing played yet
    bad = Attempt(
        raw="hmm", action=None, legal=False, error="no move", latency_s=0.1, completion_tokens=3
    )
    good = Attempt(
        raw="Final answer: a1",
        action="a1",
        legal=True,
        error=None,
        latency_s=0.1,
        completion_tokens=9,
    )
    result = MatchResult(
        game_id="tictactoe",
        params={},
        seed=1,
        players=["random", "minimax"],
        status="finished",
        returns=[1.0, -1.0],
        moves=[
            MoveRecord(index=0, seat=0, player="random", action="a1", attempts=[bad, good]),
            MoveRecord(index=1, seat=1, player="minimax", action="b2"),
        ],
    )
    record_match(db, result, [me.id, other.id], tournament_id=tid)
    stats = tournament_reply_stats(db, tid, me.id)
    assert (stats.attempts, stats.invalid_moves, stats.invalid_rate) == (2, 1, 0.5)
    assert stats.reply_tokens == 6.0 and stats.reply_chars == (3 + 16) / 2
    assert tournament_reply_stats(db, tid, other.id).reply_tokens is None  # a bot's move


def test_a_lora_checkpoint_counts_as_its_base(tmp_path):
    base = fake_135m_folder(tmp_path / "smol")
    adapters = tmp_path / "step-25"
    adapters.mkdir()
    (adapters / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(base)})
    )
    write_header_only_safetensors(adapters / "adapter_model.safetensors", {"lora_A": [8, 576]})
    assert model_parameters(adapters) == model_parameters(base)


def test_a_stop_during_step_0s_evaluation_ends_before_training_and_the_next_run_plays_it_on(
    tiny_model_dir, tmp_path
):
    pytest.importorskip("torch")
    from arena.jobs import read_metrics
    from trainer.run import run_job

    path = tmp_path / "arena.db"
    db = open_db(path)
    config = {
        "base": str(tiny_model_dir),
        "steps": 1,
        "batch_games": 2,
        "eval_games": 6,  # more matches than run at once: the stop comes midway
        "anchors": ["random"],
        "device": "cpu",
        "include_rules": False,
        "name": "k0",
    }
    job_id = create_job(db, parse_config(config))

    def evaluating() -> bool:
        return db.conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0] > 0

    assert run_job(path, job_id, should_stop=evaluating) == 0
    assert not (tmp_path / "jobs" / "k0" / "step-1").exists()  # nothing trained
    assert "eval/kuhn_poker/random/games" not in read_metrics(db, job_id)
    assert run_job(path, job_id) == 1
    tournaments = db.conn.execute("SELECT name, status FROM tournaments ORDER BY id").fetchall()
    assert tournaments == [  # step 0's played on, not again; then the checkpoint's
        ("eval k0@0 on kuhn_poker", "finished"),
        ("eval k0@1 on kuhn_poker", "finished"),
    ]
    at = {name: dict(points) for name, points in read_metrics(db, job_id).items()}
    assert at["eval/kuhn_poker/random/games"] == {0: 6.0, 1: 6.0}
    assert 1 in at["loss"]
    db.conn.close()
