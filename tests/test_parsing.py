"""What models actually write, and what the generic parser makes of it."""

from __future__ import annotations

import pytest

from games.parsing import clean_reply, extract_answer, normalize, parse_from_legal

LEGAL = ["check", "bet"]


@pytest.mark.parametrize(
    "reply",
    [
        "bet",
        "BET",
        "[bet]",
        "**Bet**",
        "'bet'.",
        "I will bet.",
        "Final answer: bet",
        "final answer: [Bet]",
        "\\boxed{bet}",
        "<answer>bet</answer>",
        "Let me think.\nChecking gives nothing here.\nFinal answer: bet",
        "<think>maybe check? check is safe</think> bet",
        "Answer: bet",
        "**Answer:** bet",
        "The final answer is bet.",
        "Final answer:\nbet",
        "I could check.\nBut no.\nbet",
    ],
)
def test_the_move_is_found_in_what_models_write(reply):
    parsed = parse_from_legal(reply, LEGAL)
    assert parsed.ok, parsed.error
    assert parsed.action == "bet"


def test_the_last_final_answer_wins():
    reply = "Final answer: check\nWait, no. Final answer: bet"
    assert parse_from_legal(reply, LEGAL).action == "bet"


def test_a_final_answer_with_no_legal_move_is_an_error_not_a_guess():
    parsed = parse_from_legal("check might work. Final answer: fold", LEGAL)
    assert not parsed.ok
    assert "fold" in parsed.error and "check, bet" in parsed.error


def test_two_moves_without_a_marker_are_ambiguous():
    parsed = parse_from_legal("I could bet or check", LEGAL)
    assert not parsed.ok
    assert "several moves" in parsed.error


def test_a_mention_inside_a_longer_legal_move_does_not_count():
    legal = ["raise", "raise to 4", "call"]
    assert parse_from_legal("I raise to 4", legal).action == "raise to 4"


def test_aliases_map_to_legal_actions():
    parsed = parse_from_legal("I pass", LEGAL, aliases={"pass": "check"})
    assert parsed.action == "check"
    # An alias for an action that is not legal now is ignored.
    assert not parse_from_legal("I fold", LEGAL, aliases={"fold": "fold"}).ok


@pytest.mark.parametrize("junk", [None, 42, b"bet", "", "   ", "\x00\x1b[2J", "}{][" * 50])
def test_junk_never_raises_and_gives_a_reason(junk):
    parsed = parse_from_legal(junk, LEGAL)
    assert not parsed.ok
    assert "legal moves: check, bet" in parsed.error


def test_explainer_reason_is_used_and_its_errors_are_contained():
    parsed = parse_from_legal("e9", LEGAL, explain=lambda c: f"{c} is off the board")
    assert parsed.error == "e9 is off the board"

    def broken(_candidate):
        raise RuntimeError("boom")

    parsed = parse_from_legal("e9", LEGAL, explain=broken)
    assert not parsed.ok and "not a legal move" in parsed.error


def test_helpers():
    assert normalize("  **[Bet]**. ") == "bet"
    assert extract_answer("blah") is None
    assert extract_answer("x \\boxed{a1} then Final answer: b2") == "b2"
    assert clean_reply("<think>secret</think>ok\x07") == "ok"
    assert parse_from_legal("bet", []).error.startswith("no move is possible")
