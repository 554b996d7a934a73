"""Credentials never stored or shown: an API key pasted where its variable's name belongs is
refused without being repeated, and a credential in a URL is refused, or masked wherever a URL
is shown. Checked on the functions, on real SQLite files and through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from arena.cli import cli
from arena.errors import ArenaError
from arena.secrets import looks_like_secret, redact_url, redact_urls, url_credentials
from arena.specs import OpenAISpec, SpecError, describe_spec, display_spec, parse_spec

# Made-up values in the shapes of real keys (none of them is a real credential).
KEYS = [
    "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
    "sk-proj-Zx9abcdefghijklmnopqrstuvwxyz0123456789",
    "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345",
    "gsk_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",
    "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "AKIAIOSFODNN7EXAMPLE",
    "xoxb-1234567890-abcdefghijklmnop",
    "AIzaSyA-abcdefghijklmnopqrstuvwxyz012345",
    "Bearer abcdefghijklmnop0123456789",
    "3f2a9c0d4b5e6f7a8b9c0d1e2f3a4b5c",  # a bare hex token
]
NAMES = [
    "OPENAI_API_KEY",
    "HF_TOKEN",
    "hf_token",
    "GROQ_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "GITHUB_TOKEN",
    "GOOGLE_API_KEY",
    "MY_KEY2",
    "_PRIVATE",
]


@pytest.mark.parametrize("key", KEYS)
def test_key_shapes_look_like_secrets(key: str) -> None:
    assert looks_like_secret(key)


@pytest.mark.parametrize("name", NAMES)
def test_variable_names_do_not_look_like_secrets(name: str) -> None:
    assert not looks_like_secret(name)


@pytest.mark.parametrize("key", [*KEYS, "MY-KEY", "1PASSWORD", "has space", "A" * 65])
def test_a_key_or_a_bad_name_in_api_key_env_is_refused_without_repeating_it(key: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec({"name": "x", "kind": "openai", "model": "m", "api_key_env": key})
    message = str(err.value)
    assert isinstance(err.value, ArenaError) and isinstance(err.value, ValueError)
    assert "api_key_env" in message
    assert "NAME of an environment variable" in message and "was not stored" in message
    assert key not in message


@pytest.mark.parametrize("name", NAMES)
def test_real_variable_names_are_accepted(name: str) -> None:
    spec = parse_spec({"name": "x", "kind": "openai", "model": "m", "api_key_env": name})
    assert spec.api_key_env == name


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pass@host/v1", "https://user:***@host/v1"),
        ("https://user:pass@host:8443/v1", "https://user:***@host:8443/v1"),
        ("https://ghp_abcdefghijklmnopqrstuvwxyz01@host/v1", "https://***@host/v1"),
        ("https://host/v1?api_key=s3cr3t&mode=x", "https://host/v1?api_key=***&mode=x"),
        ("https://host/v1?key=s3cr3t", "https://host/v1?key=***"),
        ("https://host/v1?token=s3cr3t", "https://host/v1?token=***"),
        ("https://host/v1?X-Api-Key=s3cr3t", "https://host/v1?X-Api-Key=***"),
        ("https://host/v1?api-version=2024-06-01", "https://host/v1?api-version=2024-06-01"),
        ("https://host/cb#access_token=s3cr3t", "https://host/cb#access_token=***"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url_masks_credentials_and_keeps_the_rest(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cr3t" not in redact_url(url) and "pass@" not in redact_url(url)


def test_redact_urls_masks_every_url_in_a_message() -> None:
    text = "GET https://u:hunter2@a.example/v1 failed; retried https://b.example/v1?key=hunter2"
    out = redact_urls(text)
    assert "hunter2" not in out
    assert "https://u:***@a.example/v1" in out and "https://b.example/v1?key=***" in out


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2@api.example.com/v1",
        "https://hunter2@api.example.com/v1",
        "https://api.example.com/v1?api_key=hunter2",
        "https://api.example.com/v1?key=hunter2",
        "https://api.example.com/v1?access_token=hunter2",
    ],
)
def test_a_base_url_with_a_credential_is_refused_without_repeating_it(url: str) -> None:
    assert url_credentials(url) is not None
    with pytest.raises(SpecError) as err:
        parse_spec({"name": "x", "kind": "openai", "model": "m", "base_url": url})
    message = str(err.value)
    assert "base_url" in message and "credential" in message and "environment variable" in message
    assert "hunter2" not in message


def test_a_base_url_without_credentials_is_kept() -> None:
    spec = parse_spec(
        {"name": "x", "kind": "openai", "model": "m", "base_url": "https://h/v1?api-version=1"}
    )
    assert spec.base_url == "https://h/v1?api-version=1"
    assert url_credentials("http://127.0.0.1:8080/v1") is None


def test_a_bad_base_url_is_named_and_a_pasted_key_not_repeated() -> None:
    with pytest.raises(SpecError) as err:
        parse_spec({"name": "x", "kind": "openai", "model": "m", "base_url": "ftp://host/v1"})
    assert "base_url must start with http" in str(err.value)
    key = KEYS[1]
    with pytest.raises(SpecError) as err:
        parse_spec({"name": "x", "kind": "openai", "model": "m", "base_url": key})
    assert "base_url" in str(err.value) and key not in str(err.value)


def _old_row_spec() -> OpenAISpec:
    """A spec as a row stored before credentials in URLs were refused (validation bypassed)."""
    return OpenAISpec.model_construct(
        name="old-api", model="m", base_url="https://user:hunter2@api.example.com/v1?key=hunter2"
    )


def test_describe_and_display_mask_a_stored_credential() -> None:
    from arena.specs import spec_to_dict

    data = spec_to_dict(_old_row_spec())
    assert "hunter2" in data["base_url"]  # the old row holds it ...
    assert "hunter2" not in describe_spec(data)  # ... and no display shows it
    assert "hunter2" not in str(display_spec(data))
    assert "user:***@api.example.com" in describe_spec(data)
    assert display_spec({**data, "api_key_env": KEYS[0]})["api_key_env"] == "***"


# --- through the CLI, on a real database ---------------------------------------------------


def _invoke(db: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(db), *args])


def _stored_bytes(folder: Path) -> bytes:
    """Every byte of the database and its WAL and shm files."""
    return b"".join(p.read_bytes() for p in sorted(folder.glob("arena.db*")))


@pytest.mark.parametrize("key", [KEYS[0], KEYS[4], KEYS[7], KEYS[9]])
@pytest.mark.parametrize("how", ["option", "set", "import"])
def test_cli_refuses_a_key_as_api_key_env_and_stores_nothing(
    tmp_path: Path, key: str, how: str
) -> None:
    db = tmp_path / "arena.db"
    assert _invoke(db, "players", "add", "rnd", "--kind", "bot", "--bot", "random").exit_code == 0
    if how == "option":
        args = ["players", "add", "api", "--kind", "openai", "--model", "m", "--api-key-env", key]
    elif how == "set":
        args = ["players", "add", "api", "--kind", "openai", "--model", "m"]
        args += ["--set", f"api_key_env={key}"]
    else:
        spec = tmp_path / "api.toml"
        spec.write_text(f'name = "api"\nkind = "openai"\nmodel = "m"\napi_key_env = "{key}"\n')
        args = ["players", "import", str(spec)]
    result = _invoke(db, *args)
    assert result.exit_code == (2 if how == "option" else 1), result.output
    assert "api_key_env" in result.output and "NAME of an environment variable" in result.output
    assert key not in result.output
    assert key.encode() not in _stored_bytes(tmp_path)
    listed = _invoke(db, "players", "list", "--json")
    assert '"api"' not in listed.output and key not in listed.output


def test_cli_refuses_a_base_url_with_a_password_and_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "arena.db"
    assert _invoke(db, "players", "add", "rnd", "--kind", "bot", "--bot", "random").exit_code == 0
    result = _invoke(
        db,
        "players",
        "add",
        "api",
        "--kind",
        "openai",
        "--model",
        "m",
        "--base-url",
        "https://me:hunter2@api.example.com/v1",
    )
    assert result.exit_code == 2  # the option's value: a bad command line
    assert "--base-url: base_url carries a credential" in result.output
    assert "hunter2" not in result.output
    assert b"hunter2" not in _stored_bytes(tmp_path)


def test_a_tournament_config_with_a_key_in_an_inline_player_is_refused(tmp_path: Path) -> None:
    key = KEYS[3]
    config = tmp_path / "t.toml"
    config.write_text(
        'games = ["tictactoe"]\nplayers = ["random", "api"]\n'
        f'[[player]]\nname = "api"\nkind = "openai"\nmodel = "m"\napi_key_env = "{key}"\n'
    )
    result = _invoke(tmp_path / "arena.db", "tournament", "run", "--config", str(config))
    assert result.exit_code == 1
    assert "api_key_env" in result.output and str(config) in result.output
    assert key not in result.output and "Traceback" not in result.output
    assert key.encode() not in _stored_bytes(tmp_path)


def test_players_list_and_show_mask_a_credential_stored_before(tmp_path: Path) -> None:
    from arena.store import open_db
    from arena.store.players import add_player

    db_path = tmp_path / "arena.db"
    add_player(open_db(db_path), _old_row_spec())
    for args in (
        ["players", "list"],
        ["players", "list", "--json"],
        ["players", "show", "old-api"],
        ["players", "show", "old-api", "--json"],
    ):
        result = _invoke(db_path, *args)
        assert result.exit_code == 0, result.output
        assert "old-api" in result.output
        assert "hunter2" not in result.output, args
        assert "api.example.com" in result.output


def test_the_player_form_warns_about_a_pasted_key_without_repeating_it() -> None:
    from arena.player_fields import key_warnings

    for key in KEYS:
        warning = key_warnings("openai", key)["api_key_env"]
        assert "NAME" in warning and key not in warning
    assert "is not set" in key_warnings("openai", "ARENA_TEST_SURELY_UNSET_VAR")["api_key_env"]
