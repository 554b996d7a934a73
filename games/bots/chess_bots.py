"""Chess reference bots: a small alpha-beta search and a UCI engine (Stockfish) wrapper.

`search` is a fixed, reproducible anchor: negamax with alpha-beta to `depth` plies, captures
first, a capture-only quiescence search, and an evaluation of material plus piece-square
tables. Its policy is uniform over the moves with the best score. `stockfish` drives a UCI
engine (Stockfish's "Skill Level" 0..20, a time per move); its policy is one-hot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from games.bots.base import Bot
from games.chess_game import ChessState, find_engine
from games.core import Game, GameParamError, State

if TYPE_CHECKING:  # pragma: no cover - typing only
    import chess

MATE = 100_000
INF = 10 * MATE
QUIESCENCE_PLIES = 6
"""How deep the capture-only search may go; bounds the time a wild exchange can take."""
VALUES = (0, 100, 320, 330, 500, 900, 0)
"""Material in centipawns by python-chess piece type (pawn=1 ... king=6)."""
OPENING_MATERIAL = 2 * (2 * 320 + 2 * 330 + 2 * 500 + 900)
"""Non-pawn material at the start: the measure of how far into the endgame a position is."""


def _centre(square: int) -> int:
    """0 on the edge of the board, 3 on the four central squares."""
    file, rank = square & 7, square >> 3
    return int(3.5 - max(abs(file - 3.5), abs(rank - 3.5)))


def _tables() -> tuple[list[list[int]], list[int], list[int]]:
    """Material plus position bonus per piece type and square, from White's side (mirror the
    rank for Black), and the king's middlegame and endgame tables. Written as rules rather than
    numbers: pawns gain as they advance and in the centre, knights and bishops like the centre,
    rooks the seventh rank, the king shelters early and centralises late."""
    pawn_rank = (0, 0, 5, 10, 20, 35, 60, 0)
    king_home = (15, 20, 10, 0, 0, 5, 20, 15)
    tables: list[list[int]] = [[0] * 64 for _ in range(7)]
    king_mg, king_eg = [0] * 64, [0] * 64
    for sq in range(64):
        file, rank, centre = sq & 7, sq >> 3, _centre(sq)
        central_file = file in (3, 4)
        pawn = pawn_rank[rank] + (10 if central_file and 2 <= rank <= 4 else 0)
        pawn -= 10 if central_file and rank == 1 else 0
        tables[1][sq] = VALUES[1] + pawn
        tables[2][sq] = VALUES[2] + 10 * centre - 25
        tables[3][sq] = VALUES[3] + 5 * centre - 10
        tables[4][sq] = (
            VALUES[4] + (15 if rank == 6 else 0) + (5 if central_file and rank == 0 else 0)
        )
        tables[5][sq] = VALUES[5] + 3 * centre - 5
        king_mg[sq] = king_home[file] if rank == 0 else -15 * min(rank, 4)
        king_eg[sq] = 12 * centre - 20
    return tables, king_mg, king_eg


TABLES, KING_MIDGAME, KING_ENDGAME = _tables()


def evaluate(board: chess.Board) -> int:
    """Static score in centipawns for the side to move."""
    white = board.occupied_co[True]
    score = 0
    for table, bb in zip(
        TABLES[1:6],
        (board.pawns, board.knights, board.bishops, board.rooks, board.queens),
        strict=True,
    ):
        ours, theirs = bb & white, bb & ~white
        while ours:
            low = ours & -ours
            score += table[low.bit_length() - 1]
            ours ^= low
        while theirs:
            low = theirs & -theirs
            score -= table[(low.bit_length() - 1) ^ 56]
            theirs ^= low
    material = (
        320 * board.knights.bit_count()
        + 330 * board.bishops.bit_count()
        + 500 * board.rooks.bit_count()
        + 900 * board.queens.bit_count()
    )
    phase = min(material, OPENING_MATERIAL)
    for color, sign in ((True, 1), (False, -1)):
        king = board.king(color)
        if king is not None:
            sq = king if color else king ^ 56
            mg, eg = KING_MIDGAME[sq], KING_ENDGAME[sq]
            score += sign * (mg * phase + eg * (OPENING_MATERIAL - phase)) // OPENING_MATERIAL
    return score if board.turn else -score


def _ordered(board: chess.Board, moves: list[chess.Move]) -> list[chess.Move]:
    """Captures first, most valuable victim by least valuable attacker; then promotions."""

    def key(move: chess.Move) -> int:
        victim = board.piece_type_at(move.to_square)
        if victim is None and board.is_en_passant(move):
            victim = 1
        score = 0
        if victim:
            score = 10 * VALUES[victim] - VALUES[board.piece_type_at(move.from_square) or 0] // 10
            score += 10_000
        if move.promotion:
            score += VALUES[move.promotion]
        return -score

    return sorted(moves, key=key)


class ChessSearchBot(Bot):
    """Alpha-beta search to `depth` plies (default 2) plus a capture-only quiescence search."""

    name = "search"

    def __init__(self, game: Game, depth: int = 2) -> None:
        super().__init__(game)
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= 6:
            raise GameParamError(f"chess search bot: depth must be an integer 1..6, got {depth!r}")
        self.depth = depth
        self.nodes = 0

    def policy(self, state: State) -> dict[str, float]:
        scores = self.move_scores(state)
        best = max(scores.values())
        top = [a for a, s in scores.items() if s == best]
        return {a: 1.0 / len(top) for a in top}

    def move_scores(self, state: State) -> dict[str, int]:
        """Score (centipawns, mate = +-100000) of the best move exactly, and of every move that
        ties with it; the others only get an upper bound below the best."""
        assert isinstance(state, ChessState)
        me = state.current_player()
        legal = state.legal_actions()
        by_move = dict(zip(state._moves, legal, strict=True))
        scores: dict[str, int] = {}
        best = -INF
        for move in _ordered(state.board, list(state._moves)):
            san = by_move[move]
            child = state.clone()
            child.apply(san)
            if child.is_terminal():
                # The game's own rules decide: mate, and also repetition or the move cap.
                ret = child.returns()[me]
                score = MATE - 1 if ret > 0 else (-(MATE - 1) if ret < 0 else 0)
            else:
                # A window just below the best keeps ties exact and cuts everything worse.
                alpha = best - 1 if best > -INF else -INF
                score = -self._negamax(child.board, self.depth - 1, -INF, -alpha, 1)
            scores[san] = score
            best = max(best, score)
        return {a: scores[a] for a in legal}

    def _negamax(self, board: chess.Board, depth: int, alpha: int, beta: int, ply: int) -> int:
        self.nodes += 1
        if depth <= 0:
            return self._quiesce(board, alpha, beta, ply, QUIESCENCE_PLIES)
        moves = list(board.generate_legal_moves())
        if not moves:
            return -(MATE - ply) if board.is_check() else 0
        if board.is_insufficient_material():
            return 0
        best = -INF
        for move in _ordered(board, moves):
            board.push(move)
            score = -self._negamax(board, depth - 1, -beta, -alpha, ply + 1)
            board.pop()
            if score > best:
                best = score
                if score > alpha:
                    alpha = score
                    if alpha >= beta:
                        break
        return best

    def _quiesce(self, board: chess.Board, alpha: int, beta: int, ply: int, left: int) -> int:
        self.nodes += 1
        in_check = board.is_check()
        if in_check:
            # No standing pat in check: look at every evasion (and see mates).
            moves = list(board.generate_legal_moves())
            if not moves:
                return -(MATE - ply)
            if left <= 0:
                return evaluate(board)
        else:
            best = evaluate(board)
            if best >= beta or left <= 0:
                return best
            alpha = max(alpha, best)
            moves = list(board.generate_legal_captures())
            if not moves:
                return best
        best = -INF if in_check else alpha
        for move in _ordered(board, moves):
            board.push(move)
            score = -self._quiesce(board, -beta, -alpha, ply + 1, left - 1)
            board.pop()
            if score > best:
                best = score
                if score > alpha:
                    alpha = score
                    if alpha >= beta:
                        break
        return best


class EngineNotFoundError(RuntimeError):
    """No UCI chess engine could be found to start."""


class StockfishBot(Bot):
    """A UCI engine (Stockfish) at a `level` 0..20 (its Skill Level), `movetime` ms per move."""

    name = "stockfish"

    def __init__(
        self, game: Game, level: int = 20, movetime: int = 50, engine_path: str = ""
    ) -> None:
        super().__init__(game)
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 20:
            raise GameParamError(f"stockfish bot: level must be an integer 0..20, got {level!r}")
        if isinstance(movetime, bool) or not isinstance(movetime, int) or movetime < 1:
            raise GameParamError(
                f"stockfish bot: movetime must be a positive integer (ms), got {movetime!r}"
            )
        path = find_engine(engine_path)
        if path is None:
            where = repr(engine_path) if engine_path else "'stockfish' on PATH or in /usr/games"
            raise EngineNotFoundError(
                f"stockfish bot: no UCI chess engine found (looked for {where}); install one "
                "(e.g. apt-get install stockfish) or pass engine_path=..."
            )
        import chess.engine

        self.level = level
        self.movetime = movetime
        self.path = path
        self._engine: chess.engine.SimpleEngine | None = chess.engine.SimpleEngine.popen_uci(path)
        options = {"Skill Level": level, "Threads": 1}
        self._engine.configure({k: v for k, v in options.items() if k in self._engine.options})
        # policy() and act() ask about the same position back to back: ask the engine once.
        self._last: tuple[str, str] | None = None

    def policy(self, state: State) -> dict[str, float]:
        import chess.engine

        assert isinstance(state, ChessState)
        if self._engine is None:
            raise RuntimeError("stockfish bot: the engine was closed")
        key = state.information_state(state.current_player())
        if self._last is not None and self._last[0] == key:
            return {self._last[1]: 1.0}
        # Replay from the start so the engine sees the history (repetitions, the 50-move count).
        board = state.game.start_board.copy(stack=False)
        for san in state.played:
            board.push(board.parse_san(san))
        result = self._engine.play(board, chess.engine.Limit(time=self.movetime / 1000))
        san = state.san_of(result.move) if result.move is not None else None
        if san is None:
            raise RuntimeError(f"stockfish bot: the engine answered an illegal move {result.move}")
        self._last = (key, san)
        return {san: 1.0}

    def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            try:
                engine.quit()
            except Exception:  # the engine may already be gone; closing must not fail
                pass
