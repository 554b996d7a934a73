"""Player specs: plain data, validated with errors that name the field."""

from __future__ import annotations

import json

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
    assert "temprature: unknown field" in str(err.value)


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
    assert "name of an environment variable" in str(err.value)
    assert "abcdefghijklmnop" not in str(err.value)


def test_missing_gguf_file_is_reported_at_the_field(tmp_path):
    with pytest.raises(SpecError) as err:
        parse_spec({"name": "x", "kind": "llamacpp", "path": str(tmp_path / "nope.gguf")})
    assert "path: GGUF file" in str(err.value) and "does not exist" in str(err.value)


def test_kind_is_required_and_checked():
    with pytest.raises(SpecError, match="kind: missing"):
        parse_spec({"name": "x"})
    with pytest.raises(SpecError, match="not one of"):
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
