"""`arena match GAME human OPPONENT`: a person at the terminal is asked again after a typo, an
illegal or ambiguous move or a blank line, and Ctrl-D stops the match without a forfeit."""

from __future__ import annotations

from click.testing import CliRunner

from arena.cli import cli
from arena.store import open_db
from arena.store.queries import list_matches, match_transcript

SQUARES = ["a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3", "c3"]


def play(db_path, typed: str, *extra: str):
    runner = CliRunner()
    return runner.invoke(
        cli,
        ["--db", str(db_path), "match", "tictactoe", "human", "minimax", "--seed", "5", *extra],
        input=typed,
    )


def test_typos_illegal_moves_and_blank_lines_are_asked_again_not_forfeited(tmp_path):
    db_path = tmp_path / "arena.db"
    # A typo, a square off the board, a blank line, an ambiguous entry, then a model-style
    # answer; after that every square in order, again and again: a taken one is refused and
    # the next is tried, so the game always ends however minimax answers.
    typed = "hello\ne9\n\na1 b2\nFinal answer: b2\n" + "\n".join(SQUARES * 5) + "\n"
    out = play(db_path, typed)
    assert out.exit_code == 0, out.output
    assert "Not accepted: 'hello' is not a legal move" in out.output
    assert "Not accepted: e9 is not a square of the board" in out.output
    assert "names several moves (a1, b2)" in out.output
    assert "is taken" in out.output  # a square already played was refused, then re-asked
    assert "result:" in out.output
    assert "forfeited" not in out.output

    db = open_db(str(db_path))
    [row] = list_matches(db)
    assert row["status"] == "finished" and row["players"] == ["human", "minimax"]
    record = match_transcript(db, row["id"])
    assert record["forfeit_seat"] is None
    mine = [m for m in record["moves"] if m["seat"] == 0]
    # One attempt per move, each one legal: refused entries are the person's typing, not moves.
    assert mine and all(m["legal"] and m["attempt"] == 0 for m in mine)
    assert mine[0]["reply"] == "Final answer: b2" and mine[0]["action"] == "b2"
    # Every later move is the first square in the typed order that was still free.
    taken: set[str] = set()
    for m in sorted(record["moves"], key=lambda m: m["idx"]):
        if m["seat"] == 0 and m["idx"] > 0:
            assert m["action"] == next(s for s in SQUARES if s not in taken)
            assert m["reply"] == m["action"]
        taken.add(m["action"])


def test_end_of_input_mid_game_exits_130_and_records_no_loss(tmp_path):
    db_path = tmp_path / "arena.db"
    out = play(db_path, "b2\n\nzz\n")  # one move, a blank line, a typo, then Ctrl-D
    assert out.exit_code == 130, out.output
    assert "Not accepted: 'zz' is not a legal move" in out.output
    assert "stopped at the end of input (Ctrl-D)" in out.output
    assert "forfeit" not in out.output and "result:" not in out.output
    db = open_db(str(db_path))
    assert list_matches(db) == []  # nothing stored: no loss for the person, no rating
    assert db.conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 0


def test_end_of_input_before_any_move_is_an_interruption_too(tmp_path):
    out = play(tmp_path / "arena.db", "", "--no-store")
    assert out.exit_code == 130, out.output
    assert "forfeit" not in out.output
