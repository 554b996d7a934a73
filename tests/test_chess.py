"""Chess: SAN actions, lenient move reading, every way a game ends, and the reference bots."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap

import pytest

chess = pytest.importorskip("chess")

import games  # noqa: E402
from games.bots import available_bots, make_bot  # noqa: E402
from games.chess_game import find_engine  # noqa: E402
from games.chess_moves import san_list  # noqa: E402


def play(state: games.State, *moves: str) -> games.State:
    for move in moves:
        state.apply(move)
    return state


def start(fen: str = "", **params) -> games.State:
    return games.make("chess", start_fen=fen, **params).new_initial_state()


def parse(state: games.State, text: object) -> games.Parsed:
    return state.game.parse_action(state, text)


# --- canonical actions --------------------------------------------------------------------


def test_legal_actions_are_python_chess_san_in_generation_order():
    state = play(start(), "e4", "e5", "Nf3", "Nc6", "Bb5", "a6")
    board = state.board
    assert state.legal_actions() == [board.san(m) for m in board.generate_legal_moves()]
    assert len(start().legal_actions()) == 20


@pytest.mark.parametrize(
    "fen, expected",
    [
        ("8/8/8/R2Pp2k/8/8/8/K7 w - e6 0 1", "dxe6+"),  # en passant uncovers the rook
        ("5k2/8/8/8/8/8/8/4K2R w K - 0 1", "O-O+"),  # the castled rook gives check
        ("4k3/2P5/8/8/8/8/8/K7 w - - 0 1", "c8=Q+"),  # promotion with check
        ("6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 1", "Ra8#"),
        ("7k/8/8/8/8/8/8/R1R3K1 w - - 0 1", "Rab1"),  # file disambiguation
        ("7k/8/8/8/R7/8/8/R5K1 w - - 0 1", "R1a2"),  # rank disambiguation
        ("7k/8/8/8/Q1Q5/8/Q7/6K1 w - - 0 1", "Qa4b3"),  # both
        ("4k3/8/8/2b5/8/4K3/4B3/8 w - - 0 1", "Kd3"),  # check evasions only
    ],
)
def test_fast_san_matches_python_chess_on_special_moves(fen, expected):
    board = chess.Board(fen)
    moves = list(board.generate_legal_moves())
    fast = san_list(board, moves)
    assert fast == [board.san(m) for m in moves]
    assert expected in fast


def test_fast_san_matches_python_chess_along_random_games():
    rng = random.Random(11)
    checked = 0
    for _ in range(12):
        board = chess.Board()
        for _ in range(160):
            moves = list(board.generate_legal_moves())
            if not moves:
                break
            assert san_list(board, moves) == [board.san(m) for m in moves], board.fen()
            checked += len(moves)
            board.push(rng.choice(moves))
    assert checked > 20_000


def test_apply_takes_canonical_san_only():
    state = start()
    with pytest.raises(games.IllegalActionError):
        state.apply("e2e4")  # UCI is for parse_action; apply wants the canonical SAN
    with pytest.raises(games.IllegalActionError):
        state.apply("e5")
    play(state, "e4")
    assert state.history() == ["e4"] and state.current_player() == 1


# --- reading moves ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, move",
    [
        ("e4", "e4"),
        ("e2e4", "e4"),
        ("E2E4", "e4"),
        ("Nf3", "Nf3"),
        ("nf3", "Nf3"),
        ("g1f3", "Nf3"),
        ("Ng1f3", "Nf3"),  # long algebraic
        ("Ng1-f3", "Nf3"),
        ("d2-d4", "d4"),
        ("Pe4", "e4"),
        ("[Nc3]", "Nc3"),
        ("I will play 1. e4!", "e4"),
        ("Nf3 looks good, but I prefer d4.\nFinal answer: d4", "d4"),
        ("Thinking about Nf3 and e4...\nFinal answer: **Nf3**", "Nf3"),
        ("\\boxed{c4}", "c4"),
        ("<answer>Na3</answer>", "Na3"),
    ],
)
def test_parse_reads_san_uci_and_long_algebraic(text, move):
    parsed = parse(start(), text)
    assert parsed.ok and parsed.action == move, parsed


def test_parse_castling_with_letter_o_and_zero():
    state = start("4k3/8/8/8/8/8/8/R3K2R w KQ - 0 1")
    for text, move in [
        ("O-O", "O-O"),
        ("0-0", "O-O"),
        ("o-o", "O-O"),
        ("O-O-O", "O-O-O"),
        ("0-0-0", "O-O-O"),
        ("e1g1", "O-O"),
        ("e1c1", "O-O-O"),
        ("Kg1", "O-O"),
        ("Final answer: 0-0.", "O-O"),
    ]:
        parsed = parse(state, text)
        assert parsed.action == move, (text, parsed)


def test_parse_promotion_forms_and_a_missing_piece():
    state = start("8/4P3/8/8/8/8/k7/4K3 w - - 0 1")
    for text in ("e8=Q", "e8Q", "e8=q", "e7e8q", "E7E8Q", "e7-e8=Q", "e8=Q+"):
        assert parse(state, text).action == "e8=Q", text
    assert parse(state, "e8=N").action == "e8=N"
    assert parse(state, "e7e8n").action == "e8=N"
    for text in ("e8", "e7e8"):
        parsed = parse(state, text)
        assert not parsed.ok and "must promote" in parsed.error


def test_check_marks_are_optional_and_checking_moves_parse_without_them():
    state = play(start(), "f3", "e5", "g4")
    assert "Qh4#" in state.legal_actions()
    for text in ("Qh4", "Qh4#", "Qh4+", "qh4", "d8h4"):
        assert parse(state, text).action == "Qh4#", text


def test_exact_case_san_wins_and_case_folding_is_only_used_when_unambiguous():
    # Both the b-pawn and the bishop can take on c3.
    state = start("4k3/8/8/8/8/2n5/1P1B4/4K3 w - - 0 1")
    assert {"bxc3", "Bxc3"} <= set(state.legal_actions())
    assert parse(state, "bxc3").action == "bxc3"
    assert parse(state, "Bxc3").action == "Bxc3"
    parsed = parse(state, "BXC3")
    assert not parsed.ok and "Bxc3" in parsed.error and "bxc3" in parsed.error
    # Only a pawn can reach b4 here: "B4" folds onto it.
    assert parse(start(), "B4").action == "b4"


def test_under_specified_san_is_refused_with_the_options():
    state = play(start(), "e4", "e5", "Nc3", "Nc6")
    parsed = parse(state, "Ne2")
    assert not parsed.ok
    assert "ambiguous" in parsed.error and "Nce2" in parsed.error and "Nge2" in parsed.error
    assert parse(state, "Nge2").action == "Nge2"
    assert parse(state, "Ng1e2").action == "Nge2"


@pytest.mark.parametrize(
    "text, move",
    [
        ("I castle kingside", "O-O"),
        ("short castling", "O-O"),
        ("Rook to d1", "Rd1"),
        ("bishop takes c3", "Bxc3"),
        ("pawn takes c3", "bxc3"),
        ("pawn to b4", "b4"),
    ],
)
def test_parse_reads_moves_spelled_out_in_words(text, move):
    state = start("r3k2r/8/8/8/8/2n5/1P1B4/R3K2R w KQkq - 0 1")
    parsed = parse(state, text)
    assert parsed.action == move, parsed


def test_parse_never_raises_on_move_like_noise():
    rng = random.Random(5)
    alphabet = "abcdefghKQRBNPxo0O-=+#12345678 .:eq"
    state = start()
    for _ in range(40):
        legal = set(state.legal_actions())
        for _ in range(50):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
            parsed = parse(state, text)
            assert parsed.action in legal if parsed.ok else parsed.error, text
        state.apply(rng.choice(sorted(legal)))


def test_several_moves_in_one_reply_are_refused():
    parsed = parse(start(), "Either e4 or d4")
    assert not parsed.ok and "several moves" in parsed.error


@pytest.mark.parametrize(
    "fen_moves, text, reason",
    [
        ((), "e5", "no pawn of White's can move to e5"),
        ((), "Nd2", "d2 is occupied by White's own pawn"),
        ((), "Qh5", "no queen of White's can move to h5"),
        ((), "O-O", "pieces between the king and the rook"),
        ((), "e2e5", "the pawn on e2 cannot move to e5"),
        ((), "e7e5", "the pawn on e7 is not White's"),
        ((), "e3e4", "there is no piece on e3"),
        (("e4", "f5", "Qh5+"), "Nf6", "Black is in check"),
        (("4k3/8/8/b7/8/8/3N4/4K3 w - - 0 1",), "Nf3", "is pinned"),
        (("4k3/8/8/8/8/8/5r2/R3K2R w KQ - 0 1",), "O-O", "attacked square"),
        (("4k3/8/8/8/8/8/5r2/R3K2R w KQ - 0 1",), "Kf1", "f1 is attacked"),
        (("4k3/8/8/8/8/8/8/R3K2R w - - 0 1",), "O-O", "may no longer castle"),
        (("4k3/8/8/8/8/8/4P3/4K3 w - - 0 1",), "Qd1", "no queen left"),
    ],
)
def test_illegal_moves_get_a_reason_and_the_legal_moves(fen_moves, text, reason):
    if fen_moves and "/" in fen_moves[0]:
        state = start(fen_moves[0])
    else:
        state = play(start(), *fen_moves)
    parsed = parse(state, f"My move: {text}")
    assert not parsed.ok
    assert parsed.error.startswith(f"{text} is not legal here"), parsed.error
    assert reason in parsed.error, parsed.error
    assert "Legal moves: " + state.legal_actions()[0] in parsed.error


@pytest.mark.parametrize(
    "junk", [None, 42, "", "   ", "\x1b[2J", "zzzz", "resign", "Final answer:"]
)
def test_junk_never_parses_and_never_raises(junk):
    parsed = parse(start(), junk)
    assert not parsed.ok and parsed.error


def test_no_move_parses_once_the_game_is_over():
    state = play(start(), "f3", "e5", "g4", "Qh4#")
    parsed = parse(state, "e4")
    assert not parsed.ok and "over" in parsed.error


# --- how games end ------------------------------------------------------------------------


def test_fools_mate_is_a_win_for_black():
    state = play(start(), "f3", "e5", "g4", "Qh4#")
    assert state.is_terminal() and state.legal_actions() == []
    assert state.returns() == [-1.0, 1.0]
    assert state.outcome == (1, "checkmate")
    assert "Black won by checkmate (0-1). You won." in state.observation(1)
    assert "You lost." in state.observation(0)


def test_stalemate_is_a_draw():
    state = play(start("k7/8/8/1Q6/8/8/8/K7 w - - 0 1"), "Qb6")
    assert state.is_terminal() and state.returns() == [0.0, 0.0]
    assert state.outcome == (-1, "stalemate")
    assert "a draw by stalemate" in state.observation(0)


def test_insufficient_material_is_a_draw():
    state = play(start("k7/8/8/8/8/8/1r6/KB6 w - - 0 1"), "Kxb2")
    assert state.is_terminal() and state.returns() == [0.0, 0.0]
    assert state.outcome == (-1, "insufficient material")
    # A position that is already dead from the start ends before any move.
    assert start("k7/8/8/8/8/8/8/KN6 w - - 0 1").is_terminal()


def test_threefold_repetition_ends_the_game_as_a_draw():
    state = start()
    shuffle = ["Nf3", "Nf6", "Ng1", "Ng8"]
    play(state, *shuffle, *shuffle[:3])
    assert not state.is_terminal()  # the start position has occurred twice so far
    play(state, "Ng8")
    assert state.is_terminal() and state.returns() == [0.0, 0.0]
    assert state.outcome == (-1, "threefold repetition")


def test_repetition_counts_reset_after_a_pawn_move():
    state = play(start(), "Nf3", "Nf6", "Ng1", "Ng8", "e4", "e5")
    play(state, "Nf3", "Nf6", "Ng1", "Ng8")
    assert not state.is_terminal()


def test_fifty_move_rule_ends_the_game_as_a_draw():
    state = start("k7/8/8/8/8/8/8/KR6 w - - 99 80")
    assert not state.is_terminal()
    play(state, "Rb2")
    assert state.outcome == (-1, "the fifty-move rule")
    # A capture resets the clock instead.
    state = play(start("k7/8/8/8/8/8/1n6/KR6 w - - 99 80"), "Rxb2")
    assert not state.is_terminal()


def test_max_moves_cap_is_a_draw_but_mate_on_the_last_ply_still_wins():
    state = play(start(max_moves=4), "e4", "e5", "Nf3")
    assert not state.is_terminal()
    play(state, "Nc6")
    assert state.is_terminal() and state.returns() == [0.0, 0.0]
    assert "move limit" in state.outcome[1]
    mated = play(start(max_moves=4), "f3", "e5", "g4", "Qh4#")
    assert mated.returns() == [-1.0, 1.0]


def test_bad_parameters_are_refused_clearly():
    with pytest.raises(games.GameParamError, match="max_moves"):
        games.make("chess", max_moves=0)
    with pytest.raises(games.GameParamError, match="not a valid FEN"):
        games.make("chess", start_fen="this is not a fen")
    with pytest.raises(games.GameParamError, match="no white king"):
        games.make("chess", start_fen="4k3/8/8/8/8/8/8/8 w - - 0 1")
    with pytest.raises(games.GameParamError, match="must be a string"):
        games.make("chess", start_fen=3)


def test_start_fen_sets_the_position_side_to_move_and_move_numbers():
    fen = "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1"
    game = games.make("chess", start_fen=fen)
    state = game.new_initial_state()
    assert state.current_player() == 1 and state.board.fen() == fen
    play(state, "e5", "Nf3")
    assert state.numbered_history() == "1... e5 2. Nf3"
    assert fen in game.rules()


# --- what players see ---------------------------------------------------------------------


def test_observation_shows_board_fen_history_check_and_legal_moves():
    state = play(start(), "e4", "f5", "Qh5+")
    obs = state.observation(1)
    assert "8 r n b q k b n r" in obs and "  a b c d e f g h" in obs
    assert "1 R N B . K B N R" in obs
    assert f"FEN: {state.board.fen()}" in obs
    assert "Moves so far: 1. e4 f5 2. Qh5+" in obs
    assert "Black is in check." in obs
    assert "It is your turn (Black to move). Legal moves: g6" in obs
    other = state.observation(0)
    assert "It is Black's turn." in other and "Legal moves" not in other


def test_information_state_carries_the_history_and_history_replays():
    a = play(start(), "Nf3", "Nf6", "Ng1", "Ng8")
    b = start()
    assert a.board.fen().split()[:4] == b.board.fen().split()[:4]
    assert a.information_state(0) != b.information_state(0)  # repetitions differ
    again = games.replay(a.game, a.history())
    assert again is not None and again.information_state(0) == a.information_state(0)


def test_listing_games_works_without_python_chess():
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "chess" or name.startswith("chess."):
                    raise ImportError("python-chess is blocked")
        sys.meta_path.insert(0, Block())
        import games
        info = [i for i in games.list_games() if i.id == "chess"][0]
        assert info.requires == ("chess",)
        try:
            games.make("chess")
        except games.GameParamError as exc:
            print("refused:", exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "refused: chess needs the 'chess' package" in out.stdout


# --- bots ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fen, mate",
    [
        ("6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 1", "Ra8#"),
        ("rnbqkbnr/pppp1ppp/8/4p3/6P1/5P2/PPPPP2P/RNBQKBNR b KQkq - 0 2", "Qh4#"),
        ("r1bqkb1r/pppp1ppp/2n2n2/4p2Q/2B1P3/8/PPPP1PPP/RNB1K1NR w KQkq - 4 4", "Qxf7#"),
    ],
)
def test_search_bot_mates_in_one(fen, mate):
    state = start(fen)
    bot = make_bot(state.game, "search")
    assert bot.policy(state) == {mate: 1.0}


def test_search_bot_does_not_hang_its_queen():
    # Black's queen on g5 is attacked by the knight on f3 and the bishop on c1.
    state = start("rnb1kbnr/pppp1ppp/8/4p1q1/4P3/3P1N2/PPP2PPP/RNBQKB1R b KQkq - 1 3")
    bot = make_bot(state.game, "search")
    for move in bot.policy(state):
        board = play(state.clone(), move).board
        (queen,) = board.pieces(chess.QUEEN, chess.BLACK)
        assert not any(m.to_square == queen for m in board.legal_moves), move


def _material(board: chess.Board, color: bool) -> int:
    values = {chess.PAWN: 1, chess.KNIGHT: 3, chess.BISHOP: 3, chess.ROOK: 5, chess.QUEEN: 9}
    return sum(v * len(board.pieces(p, color)) for p, v in values.items())


def test_search_bot_beats_random_in_short_games():
    game = games.make("chess", max_moves=120)
    bot, rand = make_bot(game, "search"), make_bot(game, "random")
    for seed in range(5):
        rng = random.Random(seed)
        seat = seed % 2
        state = game.new_initial_state()
        while not state.is_terminal():
            player = bot if state.current_player() == seat else rand
            state.apply(player.act(state, rng))
        color = seat == 0
        lead = _material(state.board, color) - _material(state.board, not color)
        assert state.returns()[seat] == 1.0 or lead >= 9, (seed, state.outcome, lead)


def test_search_bot_rejects_a_bad_depth():
    with pytest.raises(games.GameParamError, match="depth"):
        make_bot(games.make("chess"), "search", depth=0)


def test_stockfish_bot_is_listed_only_with_an_engine_and_fails_clearly_without():
    game = games.make("chess")
    assert ("stockfish" in available_bots(game)) == (find_engine() is not None)
    from games.bots.chess_bots import EngineNotFoundError, StockfishBot

    with pytest.raises(EngineNotFoundError, match="no UCI chess engine"):
        StockfishBot(game, engine_path="/nonexistent/stockfish")


@pytest.mark.skipif(find_engine() is None, reason="no stockfish engine installed")
def test_stockfish_bot_plays_legal_moves_at_level_0_and_closes():
    game = games.make("chess", max_moves=30)
    bot = make_bot(game, "stockfish", level=0, movetime=20)
    rng = random.Random(0)
    state = game.new_initial_state()
    try:
        while not state.is_terminal():
            policy = bot.policy(state)
            assert len(policy) == 1 and list(policy.values()) == [1.0]
            (move,) = policy
            assert move in state.legal_actions()
            assert bot.act(state, rng) == move  # the same position is not asked twice
            state.apply(move)
    finally:
        bot.close()
    bot.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        bot.policy(game.new_initial_state())
    with pytest.raises(games.GameParamError, match="level"):
        make_bot(game, "stockfish", level=21)
