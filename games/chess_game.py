"""Chess: standard FIDE chess on top of python-chess, with SAN moves as canonical actions.

White is seat 0, Black seat 1. Canonical actions are Standard Algebraic Notation strings exactly
as python-chess writes them ("e4", "Nf3", "exd5", "O-O", "e8=Q+", "Qxf7#"), listed in
python-chess's move-generation order. `parse_action` also reads UCI ("e2e4", "e7e8q"), long
algebraic ("Ng1-f3"), "0-0" castling and SAN without its check marks or in another case.

Every draw rule ends the game automatically, so an arena never has to ask anyone for a claim:
checkmate, stalemate, insufficient material, threefold repetition, the fifty-move rule (and so
their fivefold/75-move versions) and a cap of `max_moves` plies.

python-chess is imported lazily (inside functions): listing games imports this module for
`Chess.info()` and must work, quickly, without python-chess installed. The SAN writer and the
reader of free-text moves are in `games.chess_moves`.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from games.chess_moves import COLOR_NAMES, MoveReader, san_list, why_illegal
from games.core import TERMINAL, Game, GameParamError, IllegalActionError, Parsed, State
from games.parsing import choose, format_moves, problem_text, read_reply, reject

if TYPE_CHECKING:  # pragma: no cover - typing only
    import chess

ENGINE_DIRS = ("/usr/games", "/usr/local/games")
"""Where Debian-style packages put game binaries such as stockfish (often not on PATH)."""


def find_engine(path: str = "") -> str | None:
    """The path of a UCI chess engine: `path` if given and executable, else `stockfish` on PATH
    or in /usr/games (where Debian installs it); None when there is none."""
    if path:
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return shutil.which("stockfish") or shutil.which("stockfish", path=os.pathsep.join(ENGINE_DIRS))


def _bots() -> dict[str, str]:
    bots = {"search": "games.bots.chess_bots:ChessSearchBot"}
    # Only offered where an engine exists, so `available_bots` never lists a bot that cannot start.
    if find_engine():
        bots["stockfish"] = "games.bots.chess_bots:StockfishBot"
    return bots


# --- the state ------------------------------------------------------------------------------


class ChessState(State):
    """A chess position plus its SAN history and repetition counts."""

    __slots__ = ("game", "board", "played", "reps", "outcome", "_moves", "_sans", "_index")

    def __init__(self, game: Chess, board: chess.Board) -> None:
        self.game = game
        self.board = board
        self.played: list[str] = []
        # Position key -> occurrences since the last capture or pawn move (none can recur).
        self.reps: dict[tuple, int] = {}
        # (winning seat or -1 for a draw, reason), None while the game goes on.
        self.outcome: tuple[int, str] | None = None
        self._moves: list[chess.Move] = []
        self._sans: list[str] | None = None
        self._index: dict[str, chess.Move] | None = None
        self._settle()

    # --- the contract -----------------------------------------------------------------------
    def current_player(self) -> int:
        if self.outcome is not None:
            return TERMINAL
        return 0 if self.board.turn else 1

    def legal_actions(self) -> list[str]:
        if self.outcome is not None:
            return []
        return list(self._legal_sans())

    def apply(self, action: str) -> None:
        if self.outcome is not None:
            raise IllegalActionError(f"the chess game is over; {action!r} cannot be played")
        move = self._legal_index().get(action) if isinstance(action, str) else None
        if move is None:
            raise IllegalActionError(
                f"illegal chess move {action!r}; legal moves: {format_moves(self._legal_sans())}"
            )
        self.board.push(move)
        self.played.append(action)
        self._sans = None
        self._index = None
        self._settle()

    def returns(self) -> list[float]:
        if self.outcome is None or self.outcome[0] < 0:
            return [0.0, 0.0]
        return [1.0, -1.0] if self.outcome[0] == 0 else [-1.0, 1.0]

    def clone(self) -> ChessState:
        other = ChessState.__new__(ChessState)
        other.game = self.game
        # No move stack: the history lives in `played`, and a stack copy costs O(moves).
        other.board = self.board.copy(stack=False)
        other.played = self.played[:]
        other.reps = dict(self.reps)
        other.outcome = self.outcome
        # Never mutated in place, so sharing them is safe.
        other._moves = self._moves
        other._sans = self._sans
        other._index = self._index
        return other

    def history(self) -> list[str]:
        return list(self.played)

    def information_state(self, player: int) -> str:
        # Perfect information; the history matters too (repetitions, the move cap).
        return self.board.fen() + "|" + " ".join(self.played)

    def observation(self, player: int) -> str:
        me = COLOR_NAMES[player]
        lines = [
            f"You play {me} (player {player}). Uppercase letters are White's pieces, lowercase "
            "Black's (K king, Q queen, R rook, B bishop, N knight, P pawn); '.' is empty.",
            self.board_text(),
            f"FEN: {self.board.fen()}",
            f"Moves so far: {self.numbered_history()}" if self.played else "No moves yet.",
        ]
        if self.outcome is not None:
            lines.append("The game is over: " + self.result_text(player))
            return "\n".join(lines)
        side = COLOR_NAMES[0 if self.board.turn else 1]
        if self.board.is_check():
            lines.append(f"{side} is in check.")
        if self.current_player() == player:
            lines.append(
                f"It is your turn ({side} to move). Legal moves: {', '.join(self._legal_sans())}"
            )
        else:
            lines.append(f"It is {side}'s turn.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.board_text()

    # --- chess helpers ----------------------------------------------------------------------
    def board_text(self) -> str:
        """The board with rank and file labels, White at the bottom."""
        rows = str(self.board).splitlines()
        return "\n".join(f"{8 - i} {row}" for i, row in enumerate(rows)) + "\n  a b c d e f g h"

    def fen(self) -> str:
        """The position in Forsyth-Edwards Notation (what a board widget draws)."""
        return self.board.fen()

    def numbered_history(self) -> str:
        """The moves as in a score sheet: "1. e4 e5 2. Nf3" ("7... Nf6" when Black began)."""
        start = self.game.start_board
        number, white = start.fullmove_number, start.turn
        parts = []
        for i, san in enumerate(self.played):
            if white:
                parts.append(f"{number}. {san}")
            else:
                parts.append(f"{number}... {san}" if i == 0 else san)
                number += 1
            white = not white
        return " ".join(parts)

    def result_text(self, player: int | None = None) -> str:
        """The result with its reason, e.g. "White won by checkmate (1-0)."."""
        if self.outcome is None:
            return "the game is still going on."
        winner, reason = self.outcome
        if winner < 0:
            text = f"a draw by {reason} (1/2-1/2)."
        else:
            score = "1-0" if winner == 0 else "0-1"
            text = f"{COLOR_NAMES[winner]} won by {reason} ({score})."
        if player is not None and winner >= 0:
            text += " You won." if winner == player else " You lost."
        return text

    def san_of(self, move: chess.Move) -> str | None:
        """The canonical SAN of a legal `move` (a python-chess Move), or None if it is illegal."""
        if self.outcome is None:
            for m, san in zip(self._moves, self._legal_sans(), strict=True):
                if m == move:
                    return san
        return None

    def reader(self) -> MoveReader:
        """A reader of free-text moves against this position's legal moves."""
        return MoveReader(self.board, self._moves, self._legal_sans())

    def _legal_sans(self) -> list[str]:
        if self._sans is None:
            self._sans = san_list(self.board, self._moves)
        return self._sans

    def _legal_index(self) -> dict[str, chess.Move]:
        if self._index is None:
            self._index = dict(zip(self._legal_sans(), self._moves, strict=True))
        return self._index

    def _settle(self) -> None:
        """After a move: the new legal moves, the repetition count and whether the game ended."""
        board = self.board
        moves = list(board.generate_legal_moves())
        self._moves = moves
        if not moves:
            if board.is_check():
                self.outcome = (1 if board.turn else 0, "checkmate")
            else:
                self.outcome = (-1, "stalemate")
            return
        if board.is_insufficient_material():
            self.outcome = (-1, "insufficient material")
            return
        if board.halfmove_clock == 0:
            self.reps.clear()
        ep = (
            board.ep_square
            if board.ep_square is not None and board.has_legal_en_passant()
            else None
        )
        key = (
            board.pawns,
            board.knights,
            board.bishops,
            board.rooks,
            board.queens,
            board.kings,
            board.occupied_co[True],
            board.turn,
            board.clean_castling_rights(),
            ep,
        )
        count = self.reps.get(key, 0) + 1
        self.reps[key] = count
        if count >= 3:
            self.outcome = (-1, "threefold repetition")
        elif board.halfmove_clock >= 100:
            self.outcome = (-1, "the fifty-move rule")
        elif len(self.played) >= self.game.params["max_moves"]:
            self.outcome = (-1, f"the move limit ({self.game.params['max_moves']} plies)")


# --- the game -------------------------------------------------------------------------------

RULES = """\
Standard chess (FIDE rules). White is player 0 and Black player 1; White moves first in the
standard starting position{start}.
Moves are written in Standard Algebraic Notation (SAN), exactly as in the list of legal moves:
e4, Nf3, exd5, Bxe7, Rad1 (which rook, when two can go), O-O (castle kingside), O-O-O (castle
queenside), e8=Q (promote a pawn). The check mark + and the mate mark # are optional. UCI
coordinates are accepted too: e2e4, g1f3, e7e8q.
How the game ends (all automatically, nobody needs to claim a draw):
- checkmate: the side that gives mate wins;
- stalemate (the side to move has no legal move and is not in check): draw;
- insufficient material (neither side can possibly mate): draw;
- threefold repetition (the same position, with the same side to move and the same castling
  and en-passant rights, occurs for the third time): draw;
- the fifty-move rule (50 moves by each side without a capture or a pawn move): draw;
- the move limit: after {max_moves} plies (half-moves) in all, the game is a draw.
A win scores +1, a loss -1 and a draw 0.
The board is shown with White at the bottom: uppercase letters are White's pieces, lowercase
Black's (K king, Q queen, R rook, B bishop, N knight, P pawn), '.' an empty square; files a-h
run left to right, ranks 1-8 bottom to top. The FEN of the position is shown too.
Answer with one move, for example: Final answer: Nf3"""


class Chess(Game):
    """Chess through python-chess; every draw ends the game automatically."""

    id = "chess"
    name = "Chess"
    can_draw = True
    description = "Standard chess with SAN moves; all draws automatic, a cap on the game length."
    PARAMS = {"max_moves": 200, "start_fen": ""}
    BOTS = _bots()
    REQUIRES = ("chess",)

    start_board: chess.Board

    def validate_params(self) -> None:
        import chess

        if self.params["max_moves"] < 1:
            raise GameParamError(
                f"chess: max_moves must be at least 1, got {self.params['max_moves']}"
            )
        fen = self.params["start_fen"].strip() or chess.STARTING_FEN
        try:
            board = chess.Board(fen)
        except ValueError as exc:
            raise GameParamError(f"chess: start_fen is not a valid FEN: {exc}") from exc
        status = board.status()
        if status != chess.STATUS_VALID:
            problems = ", ".join(
                (flag.name or "").lower().replace("_", " ")
                for flag in chess.Status
                if flag & status
            )
            raise GameParamError(f"chess: start_fen is not a legal position ({problems}): {fen}")
        self.start_board = board

    def seat_names(self) -> tuple[str, ...]:
        return ("White", "Black")

    def rules(self) -> str:
        fen = self.params["start_fen"].strip()
        start = f"; this game starts from the position with FEN {fen}" if fen else ""
        return RULES.format(start=start, max_moves=self.params["max_moves"])

    def new_initial_state(self) -> ChessState:
        return ChessState(self, self.start_board.copy(stack=False))

    def parse_action(self, state: State, text: str) -> Parsed:
        if not isinstance(state, ChessState) or state.outcome is not None:
            return Parsed.illegal("no move is possible now: the game is over")
        moves = format_moves(state._legal_sans())
        reply = read_reply(text)
        if reply is None:
            return Parsed.illegal(f"the reply was empty; legal moves: {moves}")
        reader = state.reader()
        verdict = choose(reply, reader)
        if verdict.action is not None:
            return Parsed.legal(verdict.action)
        if verdict.problem:
            return Parsed.illegal(problem_text(verdict.problem, moves))
        _, unclear, _ = reader.scan(verdict.focus)  # tokens are resolved once: this is cheap
        if unclear is not None and not verdict.several:
            token, options = unclear
            return Parsed.illegal(
                f"{token} is ambiguous here: it could be {' or '.join(options)}; give exactly "
                f"one. Legal moves: {moves}"
            )
        return reject(
            verdict.focus,
            moves,
            explain=lambda c: self._explain(state, reader, c),
            ambiguous=verdict.several,
        )

    def explain_illegal(self, state: State, candidate: str) -> str | None:
        if not isinstance(state, ChessState) or state.outcome is not None:
            return None
        return self._explain(state, state.reader(), candidate)

    def _explain(self, state: ChessState, reader: MoveReader, candidate: str) -> str | None:
        """Why the last well-formed move in `candidate` is illegal, or None."""
        try:
            _, _, illegal = reader.scan(candidate)
            if not illegal:
                return None
            token = illegal[-1]
            reason = why_illegal(state.board, token)
        except Exception:  # an explanation must never turn junk into an exception
            return None
        return (
            f"{token} is not legal here: {reason}. Legal moves: {format_moves(state._legal_sans())}"
        )
