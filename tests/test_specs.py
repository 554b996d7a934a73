"""Player specs: plain data, validated with errors that name the field."""

from __future__ import annotations

import json
import re

import pytest

from arena.players.factory import BackendPool, make_player, resolve_player
from arena.specs import SpecError, load_specs, parse_spec, spec_to_dict


def test_a_bot_spec_round_trips_as_plain_data():
    spec = parse_spec({"name": "deep-c4", "kind": "bot", "bot": "minimax", "params": {"depth": 6}})
    assert spec_to_dict(spec) == {
        "name": "deep-c4",
        "kind": "bot",
        "bot": "minimax",
        "params": {"depth": 6},
    }
    assert parse_spec(spec_to_dict(spec)) == spec


def test_unknown_fields_are_named(tmp_path):
    with pytest.raises(SpecError) as err:
        parse_spec({"name": "x", "kind": "openai", "model": "m", "temprature": 0.5})
    assert "temprature is not a known setting" in str(err.value)


def test_bad_values_are_reported_per_field():
    with pytest.raises(SpecError) as err:
        parse_spec(
            {
                "name": "x",
                "kind": "openai",
                "model": "m",
                "sampling": {"temperature": -1, "max_tokens": 0},
                "decode": "telepathy",
            }
        )
    text = str(err.value)
    assert "sampling.temperature" in text and "sampling.max_tokens" in text and "decode" in text


def test_an_api_key_where_the_variable_name_belongs_is_refused_and_not_echoed():
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
    with pytest.raises(SpecError) as err:
        parse_spec({"name": "x", "kind": "openai", "model": "m", "api_key_env": key})
    assert "NAME of an environment variable" in str(err.value)
    assert "abcdefghijklmnop" not in str(err.value)


def test_missing_gguf_file_is_reported_at_the_field(tmp_path):
    with pytest.raises(SpecError) as err:
        parse_spec({"name": "x", "kind": "llamacpp", "path": str(tmp_path / "nope.gguf")})
    assert "path: GGUF file" in str(err.value) and "does not exist" in str(err.value)


def test_kind_is_required_and_checked():
    with pytest.raises(SpecError, match="kind is required"):
        parse_spec({"name": "x"})
    with pytest.raises(SpecError, match=r"kind must be one of .* \(got .oracle.\)"):
        parse_spec({"name": "x", "kind": "oracle"})
    with pytest.raises(SpecError, match="must be a table"):
        parse_spec(["not", "a", "dict"])  # type: ignore[arg-type]


def test_bad_names_are_refused():
    with pytest.raises(SpecError, match="name"):
        parse_spec({"name": "has spaces and ]markup[", "kind": "bot"})


def test_toml_file_with_several_players(tmp_path):
    path = tmp_path / "players.toml"
    path.write_text(
        """
[[players]]
name = "rnd"
kind = "bot"
bot = "random"

[[players]]
name = "gpt"
kind = "openai"
model = "gpt-4o-mini"
price_input_per_mtok = 0.15
[players.prompt]
style = "chat"
[players.sampling]
temperature = 0.7
"""
    )
    specs = load_specs(path)
    assert [s.name for s in specs] == ["rnd", "gpt"]
    assert specs[1].prompt.style == "chat" and specs[1].sampling.temperature == 0.7
    assert specs[1].api_key_env == "OPENAI_API_KEY"


def test_json_list_and_malformed_files(tmp_path):
    good = tmp_path / "p.json"
    good.write_text(json.dumps([{"name": "a", "kind": "human"}]))
    assert load_specs(good)[0].kind == "human"
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\nkind = [")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_specs(bad)
    with pytest.raises(SpecError, match="cannot read"):
        load_specs(tmp_path / "missing.toml")


def test_resolving_players_from_references(tmp_path):
    pool = BackendPool()
    assert resolve_player("minimax", pool).kind == "bot"
    assert resolve_player("human", pool).kind == "human"
    spec = tmp_path / "deep.toml"
    spec.write_text('name = "deep"\nkind = "bot"\nbot = "minimax"\nparams = {depth = 3}\n')
    player = resolve_player(str(spec), pool)
    assert player.name == "deep" and player.params == {"depth": 3}
    with pytest.raises(SpecError, match="unknown player"):
        resolve_player("stockfish-9000", pool)


def test_two_players_on_one_model_share_the_backend():
    pool = BackendPool()
    greedy = parse_spec(
        {
            "name": "g",
            "kind": "openai",
            "model": "m",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key_env": None,
        }
    )
    hot = parse_spec(
        {
            "name": "h",
            "kind": "openai",
            "model": "m",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key_env": None,
            "sampling": {"temperature": 1.0},
        }
    )
    a, b = make_player(greedy, pool), make_player(hot, pool)
    assert a.backend is b.backend
    assert a.sampling.temperature == 0.0 and b.sampling.temperature == 1.0


def test_a_prompt_table_given_in_python_keeps_every_field() -> None:
    from arena.specs import PromptSpec, TransformersSpec

    spec = TransformersSpec(
        name="ckpt",
        model="m",
        decode="score",
        prompt=PromptSpec(reasoning="direct", include_rules=False),
    )
    assert spec.prompt.include_rules is False and spec.prompt.reasoning == "direct"


# --- numbers and files are checked up front, each error naming its field ---------------------

BIG = 2**70
NAN, INF = float("nan"), float("inf")


def test_spec_error_is_an_arena_error_and_still_a_value_error() -> None:
    from arena.errors import ArenaError

    assert issubclass(SpecError, ArenaError) and issubclass(SpecError, ValueError)


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("openai", "sampling.temperature", NAN),
        ("openai", "sampling.temperature", INF),
        ("openai", "sampling.temperature", -0.5),
        ("openai", "sampling.top_p", 0.0),
        ("openai", "sampling.top_p", 1.5),
        ("openai", "sampling.top_p", NAN),
        ("openai", "sampling.top_k", -1),
        ("openai", "sampling.top_k", BIG),
        ("openai", "sampling.max_tokens", 0),
        ("openai", "sampling.max_tokens", BIG),
        ("openai", "sampling.seed", BIG),
        ("openai", "sampling.seed", -BIG),
        ("openai", "prompt.reasoning_tokens", 0),
        ("openai", "timeout_s", 0),
        ("openai", "timeout_s", -1.0),
        ("openai", "timeout_s", NAN),
        ("openai", "timeout_s", INF),
        ("openai", "max_retries", -1),
        ("openai", "concurrency", 0),
        ("openai", "concurrency", BIG),
        ("openai", "price_input_per_mtok", -0.01),
        ("openai", "price_output_per_mtok", INF),
        ("openai", "move_time_limit_s", 0),
        ("openai", "move_time_limit_s", NAN),
        ("llamacpp", "n_ctx", 0),
        ("llamacpp", "n_ctx", BIG),
        ("llamacpp", "n_threads", 0),
        ("llamacpp", "seed", BIG),
        ("transformers", "batch_window_ms", -1.0),
        ("transformers", "batch_window_ms", NAN),
        ("transformers", "max_batch_size", 0),
        ("transformers", "threads", 0),
        ("bot", "params.depth", BIG),
        ("bot", "params.depth", NAN),
    ],
)
def test_numbers_that_make_no_sense_are_refused_at_their_field(
    kind: str, field: str, value: float, tmp_path
) -> None:
    data: dict = {"name": "x", "kind": kind}
    if kind == "openai":
        data["model"] = "m"
    elif kind == "llamacpp":
        data["path"] = str(_gguf(tmp_path))
    elif kind == "transformers":
        data["model"] = str(tmp_path)
    *parents, leaf = field.split(".")
    target = data
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value
    with pytest.raises(SpecError) as err:
        parse_spec(data)
    where = "params" if kind == "bot" else field
    # a sentence naming the field: "  n_ctx must be at least 128 (got 0)"
    assert re.search(rf"\n  {re.escape(where)}[: ]", str(err.value)), str(err.value)
    assert "Input should" not in str(err.value)
    if kind == "bot":
        assert "depth" in str(err.value)


def _gguf(folder) -> object:
    """A file with a .gguf name (the spec checks that it exists, not what it holds)."""
    path = folder / "m.gguf"
    path.write_bytes(b"GGUF")
    return path


def test_numbers_as_text_are_judged_the_same() -> None:
    for text in ("nan", "inf", "-inf"):
        with pytest.raises(SpecError, match="timeout_s must be a finite number"):
            parse_spec({"name": "x", "kind": "openai", "model": "m", "timeout_s": text})


def test_a_missing_model_folder_or_served_gguf_is_named(tmp_path) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec({"name": "x", "kind": "transformers", "model": str(tmp_path / "gone")})
    assert "model: model folder" in str(err.value) and "does not exist" in str(err.value)
    with pytest.raises(SpecError, match="model: model .* is a file"):
        parse_spec({"name": "x", "kind": "transformers", "model": str(_gguf(tmp_path))})
    with pytest.raises(SpecError, match="model: model folder"):
        parse_spec({"name": "x", "kind": "transformers", "model": "./no-such-checkpoint"})
    # A hub id is not a local path: it is left to the backend.
    assert parse_spec({"name": "x", "kind": "transformers", "model": "org/name"}).model
    with pytest.raises(SpecError) as err:
        parse_spec(
            {"name": "x", "kind": "openai", "model": "m", "gguf_path": str(tmp_path / "no.gguf")}
        )
    assert "gguf_path: GGUF file" in str(err.value) and "does not exist" in str(err.value)
    with pytest.raises(SpecError, match="path: GGUF file .* is a folder"):
        parse_spec({"name": "x", "kind": "llamacpp", "path": str(tmp_path)})


def test_a_spec_file_that_is_not_utf8_is_named(tmp_path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes('name = "caf\xe9"\nkind = "bot"\n'.encode("latin-1"))
    with pytest.raises(SpecError) as err:
        load_specs(path)
    assert str(path) in str(err.value) and "UTF-8" in str(err.value)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--kind", "openai", "--model", "m", "--temperature", "nan"], "sampling.temperature"),
        (["--kind", "openai", "--model", "m", "--temperature", "-1"], "sampling.temperature"),
        (["--kind", "openai", "--model", "m", "--max-tokens", "0"], "sampling.max_tokens"),
        (["--kind", "openai", "--model", "m", "--concurrency", "0"], "concurrency"),
        (["--kind", "openai", "--model", "m", "--set", "timeout_s=-1"], "timeout_s"),
        (["--kind", "openai", "--model", "m", "--set", "timeout_s=NaN"], "timeout_s"),
        (["--kind", "openai", "--model", "m", "--set", "sampling.top_p=0"], "sampling.top_p"),
        (["--kind", "openai", "--model", "m", "--set", f"sampling.seed={BIG}"], "sampling.seed"),
        (["--kind", "openai", "--model", "m", "--set", "price_input_per_mtok=-1"], "price_input"),
        (["--kind", "llamacpp", "--path", "/nowhere/m.gguf"], "path"),
        (["--kind", "llamacpp", "--path", "/nowhere/m.gguf", "--n-ctx", str(BIG)], "n_ctx"),
        (["--kind", "transformers", "--model", "/nowhere/ckpt"], "model"),
        (["--kind", "bot", "--bot", "minimax", "--set", f"params.depth={BIG}"], "params"),
    ],
)
def test_players_add_refuses_bad_values_up_front_and_stores_nothing(
    tmp_path, args: list[str], field: str
) -> None:
    from click.testing import CliRunner

    from arena.cli import cli

    db = tmp_path / "arena.db"
    result = CliRunner().invoke(cli, ["--db", str(db), "players", "add", "p", *args])
    if "--set" in args:  # a spec value: named by its field
        assert result.exit_code == 1, result.output
        assert f"{field}" in result.output
    else:  # an option's value: a bad command line, named by the option
        assert result.exit_code == 2, result.output
        assert "--" + field.split(".")[-1].replace("_", "-") in result.output, result.output
    assert "Traceback" not in result.output
    listed = CliRunner().invoke(cli, ["--db", str(db), "players", "list", "--json"])
    assert '"name": "p"' not in listed.output
