"""The one sanitiser: every character a terminal could act on is shown, never passed through."""

from __future__ import annotations

import json

import pytest

from arena.safe_text import has_unsafe, json_dumps, one_line, visible

# Every class of character a terminal or a text renderer acts on.
C0 = [chr(c) for c in range(0x20) if chr(c) not in "\n\t"]
C1 = [chr(c) for c in range(0x80, 0xA0)]
BIDI = list("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
OTHER = ["\x7f", "\u2028", "\u2029"]
UNSAFE = C0 + C1 + BIDI + OTHER


@pytest.mark.parametrize("ch", UNSAFE, ids=[f"U+{ord(c):04X}" for c in UNSAFE])
def test_every_unsafe_character_is_shown_as_an_escape(ch: str) -> None:
    text = f"a{ch}b"
    for out in (visible(text), one_line(text), json_dumps(text)):
        assert ch not in out
        assert not has_unsafe(out)
    code = ord(ch)
    assert visible(text) == (f"a\\x{code:02x}b" if code < 0x100 else f"a\\u{code:04x}b")
    assert json.loads(json_dumps({"k": text})) == {"k": text}  # still the same data


def test_escape_sequences_are_shown_literally() -> None:
    csi = "\x1b[2J\x1b]8;;http://evil\x07link\x1b]8;;\x07\x9b31m"
    out = visible(csi)
    assert out == "\\x1b[2J\\x1b]8;;http://evil\\x07link\\x1b]8;;\\x07\\x9b31m"


def test_text_people_write_is_left_alone() -> None:
    text = "Schach: Sf3 — ½ point, 日本語, emoji 👍🏽 and a [bold] tag\n\tindented"
    assert visible(text) == text
    assert json.loads(json_dumps(text)) == text
    assert "日本語" in json_dumps(text)  # not \u-escaped: still readable


def test_one_line_shows_newlines_and_cuts_to_the_limit() -> None:
    assert one_line("a\nb\tc") == "a\\x0ab\\x09c"
    assert one_line("x" * 50, limit=10) == "x" * 9 + "…"
    assert one_line(ValueError("bad\x1b")) == "bad\\x1b"


def test_json_dumps_keeps_its_arguments() -> None:
    assert json_dumps({"b": 1, "a": [1, 2]}, sort_keys=True, separators=(",", ":")) == (
        '{"a":[1,2],"b":1}'
    )
