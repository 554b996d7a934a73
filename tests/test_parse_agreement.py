"""The reply parsers against a person: 100 free-text replies of the real model
(SmolLM2-135M-Instruct, `direct` and `think` modes, six games), each labelled by hand with the
move it clearly chose or none (`bench/data/smollm2_replies.jsonl`; `python
bench/parse_agreement.py score` prints the table and every disagreement)."""

from __future__ import annotations

import json
from pathlib import Path

import games
from arena.match import strip_echo

DATA = Path(__file__).resolve().parents[1] / "bench" / "data" / "smollm2_replies.jsonl"


def _parsed(row: dict) -> str | None:
    game = games.make(row["game"])
    state = game.new_initial_state()
    for action in row["history"]:
        state.apply(action)
    assert state.legal_actions() == row["legal"]  # the position replays exactly
    text = strip_echo(row["reply"], row["prompt"], row["legal"])
    parsed = game.parse_action(state, text) if text.strip() else None
    return parsed.action if parsed is not None and parsed.ok else None


def test_the_parser_agrees_with_hand_labels_on_real_replies() -> None:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    assert len(rows) == 100
    agree = sum(_parsed(row) == row["label"] for row in rows)
    assert agree >= 95, f"{agree} of 100 agree"
    # Where the model chose nothing, the parser must not invent a move often: the false
    # "legal" moves are what made the measured invalid rate look better than the truth.
    invented = sum(1 for row in rows if row["label"] is None and _parsed(row) is not None)
    assert invented <= 3


def test_a_long_narrative_naming_one_move_chooses_nothing() -> None:
    game = games.make("kuhn_poker")
    state = game.new_initial_state()
    state.apply("deal K")
    state.apply("deal Q")
    story = (
        "You are at the moment in Kuhn poker, in a moment when a move is taken, and you are "
        "about to exit after you have turned over your bet and your opponent flipped the cards."
    )
    parsed = game.parse_action(state, story)
    assert not parsed.ok and "no final answer" in parsed.error
    assert game.parse_action(state, "I think I will bet.").action == "bet"  # short: a choice
    assert game.parse_action(state, story + "\nFinal answer: check").action == "check"
