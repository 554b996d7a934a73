"""LoRA adapters and the supervised warm start, on the tiny real Llama (`tiny_model_dir`), on CPU,
with kuhn_poker matches between the `cfr` and `random` bots recorded by the arena's own code."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

import games  # noqa: E402
from arena.players.bot import BotPlayer  # noqa: E402
from arena.prompts import PromptOptions  # noqa: E402
from arena.sessions import play_recorded  # noqa: E402
from arena.store import open_db  # noqa: E402
from arena.store.queries import list_matches, match_transcript  # noqa: E402
from games.bots import make_bot  # noqa: E402
from trainer.lora import (  # noqa: E402
    DEFAULT_TARGETS,
    apply_lora,
    load_adapter,
    save_adapter,
    save_merged,
)
from trainer.policy import ActionPolicy  # noqa: E402
from trainer.sft import (  # noqa: E402
    DatasetError,
    examples_from_db,
    examples_from_jsonl,
    mean_nll,
    sft,
)

MATCHES = 200  # cfr against random, cfr in each seat half the time


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    torch.set_num_threads(1)
    return transformers.AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture
def fresh(tiny_model_dir):
    """A loader of fresh copies of the tiny model (peft wraps a model in place)."""

    def load():
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            tiny_model_dir, dtype=torch.float32
        )
        return model.eval()

    return load


@pytest.fixture(scope="module")
def kuhn_db(tmp_path_factory) -> Path:
    """A real arena database with recorded kuhn_poker matches, cfr against random."""
    path = tmp_path_factory.mktemp("sft") / "arena.db"
    db = open_db(path)
    game = games.make("kuhn_poker")

    async def play() -> None:
        for seed in range(MATCHES):
            seats = [BotPlayer("cfr"), BotPlayer("random")]
            if seed % 2:
                seats.reverse()
            await play_recorded(db, game, seats, seed)

    asyncio.run(play())
    db.conn.close()
    return path


@pytest.fixture(scope="module")
def cfr_examples(kuhn_db):
    return examples_from_db(kuhn_db, players=["cfr"], games=["kuhn_poker"])


def _positions(policy, game_id="kuhn_poker", n=4):
    """The first decisions of a few deals (each card of the first player)."""
    game = games.make(game_id)
    out = []
    for deal in game.new_initial_state().chance_outcomes()[:n]:
        state = game.new_initial_state()
        state.apply(deal[0])
        while state.is_chance_node():
            state.apply(state.chance_outcomes()[0][0])
        out.append(policy.position_for_state(game, state))
    return out


def _scores(policy, positions) -> list[list[float]]:
    with torch.no_grad():
        return [s.tolist() for s in policy.scores(positions)]


def _one_step(policy, positions, lr=1e-2) -> None:
    """One AdamW step that pushes every position toward its first legal action."""
    params = [p for p in policy.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    loss = -sum(torch.log_softmax(s, -1)[0] for s in policy.scores(positions))
    loss.backward()
    opt.step()
    policy.invalidate()


def _close(a, b, tol) -> bool:
    return all(abs(x - y) <= tol for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb))


# --- LoRA ----------------------------------------------------------------------------------------
def test_lora_freezes_the_base_starts_as_identity_and_a_step_changes_outputs(fresh, tokenizer):
    model = fresh()
    plain = ActionPolicy(model, tokenizer)
    positions = _positions(plain)
    before = _scores(plain, positions)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}

    lora = apply_lora(model, rank=4, alpha=8)
    assert not lora.training  # the eval mode the trainer set survives the wrapping
    trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    wrapped = {n.split(".")[-2] for n, _ in lora.named_modules() if n.endswith("lora_A")}
    assert wrapped == set(DEFAULT_TARGETS)  # the tiny Llama has every projection
    policy = ActionPolicy(lora, tokenizer)
    assert _close(_scores(policy, positions), before, 1e-6)  # B starts at zero

    _one_step(policy, positions)
    after = _scores(policy, positions)
    assert not _close(after, before, 1e-3)
    for name, param in lora.get_base_model().named_parameters():
        if "lora_" not in name:
            key = name.replace(".base_layer", "")
            assert torch.equal(param, base[key]), name


def test_lora_targets_are_filtered_to_the_model_and_a_bad_list_is_refused(fresh):
    lora = apply_lora(fresh(), targets=["q_proj", "c_attn"])
    wrapped = {n.split(".")[-2] for n, _ in lora.named_modules() if n.endswith("lora_A")}
    assert wrapped == {"q_proj"}
    with pytest.raises(ValueError, match="linear layers are: .*down_proj"):
        apply_lora(fresh(), targets=["c_attn"])


def test_missing_peft_is_reported_with_the_install_command(fresh, monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # makes `import peft` fail
    with pytest.raises(ImportError, match="pip install peft"):
        apply_lora(fresh())


def test_merged_folder_loads_as_a_plain_model_with_the_adapted_scores(fresh, tokenizer, tmp_path):
    lora = apply_lora(fresh(), rank=4)
    policy = ActionPolicy(lora, tokenizer)
    positions = _positions(policy)
    _one_step(policy, positions)
    live = _scores(policy, positions)

    folder = save_merged(lora, tokenizer, tmp_path / "merged")
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    assert not (folder / "adapter_config.json").exists()
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as fh:
        assert not [k for k in fh.keys() if "lora" in k or "base_layer" in k]
    merged = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    assert _close(_scores(ActionPolicy(merged, tok), positions), live, 1e-4)
    # The live model kept its adapters: same scores, still trainable.
    assert _close(_scores(policy, positions), live, 0.0)
    assert any(p.requires_grad for n, p in lora.named_parameters() if "lora_" in n)
    from arena.models.gguf_export import export_gguf

    export_gguf(folder, tmp_path / "merged.gguf", "f32")  # exports like any model
    assert (tmp_path / "merged.gguf").stat().st_size > 0


def test_adapter_save_and_load_round_trip_reproduces_the_scores(fresh, tokenizer, tmp_path):
    lora = apply_lora(fresh(), rank=4)
    policy = ActionPolicy(lora, tokenizer)
    positions = _positions(policy)
    _one_step(policy, positions)
    trained = _scores(policy, positions)
    folder = save_adapter(lora, tmp_path / "adapter")
    assert (folder / "adapter_model.safetensors").is_file()

    from_base = load_adapter(fresh(), folder)  # a plain base model gets wrapped
    assert any(p.requires_grad for p in from_base.parameters())
    assert _close(_scores(ActionPolicy(from_base, tokenizer), positions), trained, 1e-6)

    into_wrapped = apply_lora(fresh(), rank=4)  # a wrapped one has its weights replaced
    assert load_adapter(into_wrapped, folder) is into_wrapped
    assert _close(_scores(ActionPolicy(into_wrapped, tokenizer), positions), trained, 1e-6)

    with pytest.raises(ValueError, match="does not fit"):
        load_adapter(apply_lora(fresh(), rank=4, targets=["q_proj"]), folder)
    with pytest.raises(FileNotFoundError, match="no LoRA adapter"):
        load_adapter(fresh(), tmp_path)


# --- examples from the record ------------------------------------------------------------------
def test_examples_from_db_are_cfrs_legal_moves_at_the_replayed_positions(kuhn_db, cfr_examples):
    db = open_db(kuhn_db)
    matches = list_matches(db, game="kuhn_poker")
    assert len(matches) == MATCHES
    expected = []  # (match, history before the move, action) read straight from the record
    for m in matches:
        moves = match_transcript(db, m["id"])["moves"]
        history = []
        for mv in moves:
            if mv["seat"] >= 0 and m["players"][mv["seat"]] == "cfr" and mv["legal"]:
                expected.append((m["id"], tuple(history), mv["parsed"]))
            history.append(mv["action"])
    db.conn.close()
    got = [(e.match_id, tuple(e.state.history()), e.action) for e in cfr_examples]
    assert got == expected
    for e in cfr_examples:
        assert e.player == "cfr" and e.state.current_player() == e.seat
        assert e.legal_actions == tuple(e.state.legal_actions()) and e.action in e.legal_actions
    first = examples_from_db(kuhn_db, players=["cfr"], limit=5)
    assert [(x.match_id, x.action) for x in first] == [
        (x.match_id, x.action) for x in cfr_examples[:5]
    ]
    both = examples_from_db(kuhn_db, players=["cfr", "random"])
    assert Counter(e.player for e in both) == Counter(
        {"cfr": len(cfr_examples), "random": len(both) - len(cfr_examples)}
    )
    assert [e.match_id for e in both] == sorted(e.match_id for e in both)


def test_examples_from_jsonl_replay_chance_from_the_seed_like_the_database(
    kuhn_db, cfr_examples, tmp_path
):
    from click.testing import CliRunner

    from arena.cli import cli

    out = tmp_path / "moves.jsonl"
    args = ["--db", str(kuhn_db), "export", "matches", "--format", "jsonl", "--out", str(out)]
    assert CliRunner().invoke(cli, args, catch_exceptions=False).exit_code == 0
    assert all(json.loads(line)["seat"] >= 0 for line in out.read_text().splitlines())
    from_file = examples_from_jsonl(out, players=["cfr"])
    key = [(e.match_id, tuple(e.state.history()), e.action) for e in cfr_examples]
    assert [(e.match_id, tuple(e.state.history()), e.action) for e in from_file] == key

    only_cfr = tmp_path / "cfr.jsonl"  # the other seat's moves are missing: no replay
    args[-1] = str(only_cfr)
    CliRunner().invoke(cli, [*args, "--player", "cfr"], catch_exceptions=False)
    with pytest.raises(DatasetError, match="not in the record"):
        examples_from_jsonl(only_cfr)


def test_examples_from_jsonl_names_the_garbled_line(kuhn_db, tmp_path):
    path = tmp_path / "bad.jsonl"
    from arena.store.queries import export_moves

    db = open_db(kuhn_db)
    good = json.dumps(next(export_moves(db)))
    db.conn.close()
    path.write_text(good + "\n" + good[: len(good) // 2] + "\n" + good + "\n")
    with pytest.raises(DatasetError, match=r"line 2: not valid JSON"):
        examples_from_jsonl(path)
    path.write_text(good + "\n\n" + json.dumps({"match_id": 1}) + "\n")
    with pytest.raises(DatasetError, match=r"line 3: not an exported move \(missing game"):
        examples_from_jsonl(path)
    with pytest.raises(DatasetError, match="no such file"):
        examples_from_jsonl(tmp_path / "absent.jsonl")


def test_examples_from_db_refuses_missing_corrupt_files_and_unknown_names(kuhn_db, tmp_path):
    with pytest.raises(DatasetError, match="no arena database at"):
        examples_from_db(tmp_path / "absent.db", players=["cfr"])
    assert not (tmp_path / "absent.db").exists()  # a reader creates nothing
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 200)
    with pytest.raises(DatasetError, match="not an arena database"):
        examples_from_db(junk, players=["cfr"])
    with pytest.raises(DatasetError, match="no player named 'nobody'"):
        examples_from_db(kuhn_db, players=["cfr", "nobody"])
    with pytest.raises(DatasetError, match="unknown game"):
        examples_from_db(kuhn_db, players=["cfr"], games=["kuhn_pokr"])


# --- supervised warm start ---------------------------------------------------------------------
def _distance_to_cfr(policy, examples) -> dict[str, float]:
    """Total variation between the policy and cfr at every information set cfr played."""
    game = examples[0].game
    cfr = make_bot(game, "cfr")
    states = {e.state.information_state(e.seat): e.state for e in examples}
    out = {}
    for key, state in states.items():
        pos = policy.position_for_state(game, state)
        (probs,) = policy.probabilities([pos])
        target = cfr.policy(state)
        out[key] = 0.5 * sum(abs(p - target[a]) for a, p in zip(pos.actions, probs))
    return out


def test_sft_on_cfr_moves_raises_their_probability_and_nears_cfrs_policy(
    fresh, tokenizer, cfr_examples
):
    # Without the rules text the prompt is short enough for the 2-layer tiny model to learn
    # to read its card within a test's budget (with them it learns each history's average).
    prompt = PromptOptions(reasoning="direct", include_rules=False)
    policy = ActionPolicy(apply_lora(fresh(), rank=8), tokenizer, prompt=prompt)
    nll_before = mean_nll(policy, cfr_examples)
    dist_before = _distance_to_cfr(policy, cfr_examples)

    losses = sft(policy, cfr_examples, epochs=6, lr=3e-3, batch_size=16, seed=0)
    assert len(losses) == 6 and losses[-1] < losses[0]
    nll_after = mean_nll(policy, cfr_examples)
    assert nll_after < 0.6 * nll_before  # the recorded actions became more likely
    dist_after = _distance_to_cfr(policy, cfr_examples)
    seen = Counter(e.state.information_state(e.seat) for e in cfr_examples)
    assert len(seen) == 12  # every information set of kuhn_poker was played

    def mean(dist: dict[str, float]) -> float:
        return sum(dist[k] * n for k, n in seen.items()) / sum(seen.values())

    assert mean(dist_after) < 0.5 * mean(dist_before)
    # Where the untrained model was far from cfr, it moved closer at every information set.
    far = [k for k in seen if dist_before[k] > 0.3]
    assert len(far) >= 4 and all(dist_after[k] < dist_before[k] for k in far)


def test_sft_trains_a_full_model_and_accepts_turns_with_action_strings(
    fresh, tokenizer, cfr_examples
):
    policy = ActionPolicy(fresh(), tokenizer)
    pairs = [(e.turn(), e.action) for e in cfr_examples[:16]]
    before = mean_nll(policy, pairs)
    # (A small step: at 1e-3, four Adam steps on a full model overshoot.)
    losses = sft(policy, pairs, epochs=3, lr=3e-4, batch_size=8)
    assert len(losses) == 3 and mean_nll(policy, pairs) < before
    with pytest.raises(ValueError, match="not among the legal actions"):
        sft(policy, [(pairs[0][0], "raise")])
