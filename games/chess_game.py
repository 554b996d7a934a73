"""Chess: standard FIDE chess on top of python-chess, with SAN moves as canonical actions.

White is seat 0, Black seat 1. Canonical actions are Standard Algebraic Notation strings exactly
as python-chess writes them ("e4", "Nf3", "exd5", "O-O", "e8=Q+", "Qxf7#"), listed in
python-chess's move-generation order. `parse_action` also reads UCI ("e2e4", "e7e8q"), long
algebraic ("Ng1-f3"), "0-0" castling and SAN without its check marks or in another case.

Every draw rule ends the game automatically, so an arena never has to ask anyone for a claim:
checkmate, stalemate, insufficient material, threefold repetition, the fifty-move rule (and so
their fivefold/75-move versions) and a cap of `max_moves` plies.

python-chess is imported lazily (inside functions): listing games imports this module for
`Chess.info()` and must work, quickly, without python-chess installed.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import TYPE_CHECKING, Any

from games.core import TERMINAL, Game, GameParamError, IllegalActionError, Parsed, State
from games.parsing import clean_reply, extract_answer, format_moves, normalize

if TYPE_CHECKING:  # pragma: no cover - typing only
    import chess

COLOR_NAMES = ("White", "Black")
PIECE_NAMES = ("", "pawn", "knight", "bishop", "rook", "queen", "king")
ENGINE_DIRS = ("/usr/games", "/usr/local/games")
"""Where Debian-style packages put game binaries such as stockfish (often not on PATH)."""

# Move-like tokens in a reply: letters, digits and the signs SAN and UCI use.
_TOKEN_RE = re.compile(r"[A-Za-z0-9=+#\-]+")
_EP_RE = re.compile(r"\be\.\s?p\.?", re.IGNORECASE)
_CASTLE_RE = re.compile(r"^[0oO]-[0oO](-[0oO])?$")
_UCI_RE = re.compile(r"^([a-h][1-8])([a-h][1-8])([qrbn])?$")
# SAN and long algebraic: piece, from file, from rank, capture/separator, target, promotion.
_SAN_RE = re.compile(r"^([KQRBN])?([a-h])?([1-8])?([-x:])?([a-h][1-8])(=?[QRBNqrbn])?$")
# Moves spelled out in words: "knight to f3", "bishop takes c6", "castle kingside".
_PIECE_TO_RE = re.compile(
    r"\b(king|queen|rook|bishop|knight|pawn)\s+(to|takes|captures|x)\s+(?:on\s+)?([a-h][1-8])\b",
    re.IGNORECASE,
)
_CASTLE_WORDS_RE = re.compile(
    r"\bcastl\w*\s+(?:on\s+the\s+)?(king|queen)[\s-]?side\b|\b(short|long)\s+castl\w*",
    re.IGNORECASE,
)
# Cheap filter before the real work: could this token be a move in some spelling?
_MOVE_LIKE_RE = re.compile(r"^[KQRBNP]?[A-H]?[1-8]?[-X:]?[A-H][1-8](=?[QRBN])?$", re.IGNORECASE)


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


# --- fast SAN -------------------------------------------------------------------------------


def _check_hints(board: chess.Board, king: int) -> tuple[list[int], int]:
    """For the side to move and the enemy king on `king`: per piece type, the squares from which
    that piece would check the king; and our pieces whose leaving their square uncovers a check
    by one of our sliders (the only piece between that slider and the king)."""
    import chess

    occupied = board.occupied
    diagonal = chess.BB_DIAG_ATTACKS[king][chess.BB_DIAG_MASKS[king] & occupied]
    straight = (
        chess.BB_RANK_ATTACKS[king][chess.BB_RANK_MASKS[king] & occupied]
        | chess.BB_FILE_ATTACKS[king][chess.BB_FILE_MASKS[king] & occupied]
    )
    checks = [
        0,
        chess.BB_PAWN_ATTACKS[not board.turn][king],
        chess.BB_KNIGHT_ATTACKS[king],
        diagonal,
        straight,
        diagonal | straight,
        0,
    ]
    ours = board.occupied_co[board.turn]
    snipers = (
        (chess.BB_DIAG_ATTACKS[king][0] & (board.bishops | board.queens))
        | (
            (chess.BB_RANK_ATTACKS[king][0] | chess.BB_FILE_ATTACKS[king][0])
            & (board.rooks | board.queens)
        )
    ) & ours
    blockers = 0
    while snipers:
        low = snipers & -snipers
        snipers ^= low
        between = chess.between(king, low.bit_length() - 1) & occupied
        if between and not between & (between - 1):  # exactly one piece in between
            blockers |= between
    return checks, blockers & ours


_SYMBOLS = ("", "", "N", "B", "R", "Q", "K")


def san_list(board: chess.Board, moves: list[chess.Move]) -> list[str]:
    """SAN of every move in `moves` (all the legal moves of `board`), check marks included.

    Equal to `[board.san(m) for m in moves]` but several times faster: disambiguation comes from
    the move list itself and checks from precomputed check squares and discovered-check
    blockers; only checking moves are pushed (to tell mate). The test suite pins the equality
    on many thousands of positions."""
    import chess

    bb_squares = chess.BB_SQUARES
    names = chess.SQUARE_NAMES
    theirs = board.occupied_co[not board.turn]
    king = board.king(not board.turn)
    if king is not None:
        checks, blockers = _check_hints(board, king)
        rays = chess.BB_RAYS[king]
    else:  # only in odd set-up positions without an enemy king: nothing to check
        checks, blockers, rays = [0] * 7, 0, [0] * 64
    types: dict[int, int] = {}
    pieces = []
    for m in moves:
        piece = types.get(m.from_square)
        if piece is None:
            piece = types[m.from_square] = board.piece_type_at(m.from_square) or 0
        pieces.append(piece)
    # Which squares each (piece, target) can come from: SAN disambiguates only among legal moves.
    sources: dict[tuple[int, int], int] = {}
    for m, piece in zip(moves, pieces, strict=True):
        if 1 < piece < 6:
            key = (piece, m.to_square)
            sources[key] = sources.get(key, 0) | bb_squares[m.from_square]
    out = []
    for m, piece in zip(moves, pieces, strict=True):
        frm, to = m.from_square, m.to_square
        to_bb = bb_squares[to]
        check = None  # None: decide by push (en passant, castling, promotion)
        if piece == 1:
            capture = (frm ^ to) & 7 != 0  # a pawn changing file always captures
            san = (names[frm][0] + "x" if capture else "") + names[to]
            if m.promotion:
                san += "=" + _SYMBOLS[m.promotion]
            elif not capture or theirs & to_bb:
                check = False
        elif piece == 6 and abs((frm & 7) - (to & 7)) > 1:
            san = "O-O" if to & 7 > frm & 7 else "O-O-O"
        else:
            san = _SYMBOLS[piece]
            others = sources.get((piece, to), 0) & ~bb_squares[frm]
            if others:
                same_file = others & chess.BB_FILES[frm & 7]
                if not same_file or others & chess.BB_RANKS[frm >> 3]:
                    san += names[frm][0]
                if same_file:
                    san += names[frm][1]
            if theirs & to_bb:
                san += "x"
            san += names[to]
            check = False
        if check is False:
            # Direct check from the new square, or a discovered one by leaving a line.
            check = bool(checks[piece] & to_bb) or bool(
                blockers & bb_squares[frm] and not rays[frm] & to_bb
            )
        elif king is not None:
            check = board.gives_check(m)
        if check:
            board.push(m)
            mate = not any(board.generate_legal_moves())
            board.pop()
            san += "#" if mate else "+"
        out.append(san)
    return out


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


# --- reading moves out of replies -----------------------------------------------------------


def _spelled_out(match: re.Match[str]) -> str:
    piece, capture, target = match.group(1).lower(), match.group(2).lower(), match.group(3)
    letter = "" if piece == "pawn" else "N" if piece == "knight" else piece[0].upper()
    return f" {letter}{'x' if capture != 'to' else ''}{target.lower()} "


def _tokens(text: str) -> list[str]:
    """Move-like tokens of `text`, check/mate marks and dashes at the ends stripped."""
    text = _EP_RE.sub(" ", text)
    text = _PIECE_TO_RE.sub(_spelled_out, text)
    text = _CASTLE_WORDS_RE.sub(
        lambda m: " O-O-O " if (m.group(1) or m.group(2) or "").lower() in "queenlong" else " O-O ",
        text,
    )
    out = []
    for raw in _TOKEN_RE.findall(text):
        token = raw.rstrip("+#=").strip("-")
        if _CASTLE_RE.match(token):
            out.append("O-O" if len(token) == 3 else "O-O-O")
        elif _MOVE_LIKE_RE.match(token):
            out.append(token)
    return out


class _Reader:
    """Resolves move-like tokens against one position's legal moves."""

    def __init__(self, state: ChessState) -> None:
        self.state = state
        self.sans = state._legal_sans()
        # SAN without its check marks -> canonical SAN; and lower-cased -> the candidates.
        self.bare = {s.rstrip("+#"): s for s in self.sans}
        self.lower: dict[str, list[str]] = {}
        for b, s in self.bare.items():
            self.lower.setdefault(b.lower(), []).append(s)

    def resolve(self, token: str) -> tuple[str, Any]:
        """("move", san), ("ambiguous", [san, ...]), ("illegal", token) for a well-formed move
        that is not legal here, or ("none", None)."""
        import chess

        # 1. Exact SAN (the canonical form, marks optional).
        if token in self.bare:
            return "move", self.bare[token]
        # 2. UCI, in any case ("e2e4", "E7E8Q").
        low = token.lower()
        if _UCI_RE.match(low):
            san = self.state.san_of(chess.Move.from_uci(low))
            return ("move", san) if san is not None else ("illegal", low)
        if token[0] == "x" and len(token) == 3:  # "pawn takes c3": which pawn is left open
            options = [s for s in self.sans if s[0] in "abcdefgh" and s[1:4] == token]
            if len(options) == 1:
                return "move", options[0]
            return ("ambiguous", options) if options else ("illegal", token)
        # 3. Lenient SAN: over-specified, long algebraic, "e8Q", "Kg1" for castling.
        board = self.state.board
        form = token[0].upper() + token[1:] if token[0] in "kqrn" and len(token) > 2 else token
        if form[0] in "Pp" and len(form) > 2 and form[1] in "abcdefgh":
            form = form[1:]  # "Pe4": a pawn letter SAN leaves out
        form = form.replace(":", "x")
        parts = _SAN_RE.match(form)
        if parts or form in ("O-O", "O-O-O"):
            try:
                move = board.parse_san(form)
                san = self.state.san_of(move) if move else None
                if san is not None:
                    return "move", san
            except chess.AmbiguousMoveError:
                return "ambiguous", self._same_target(form)
            except ValueError:
                pass
            if parts and parts.group(1) == "K":  # a king "moving" two squares: castling
                to = chess.parse_square(parts.group(5))
                for m, s in zip(self.state._moves, self.sans, strict=True):
                    if m.to_square == to and board.is_castling(m):
                        return "move", s
        # 4. Case-insensitive SAN, when only one legal move matches ("nf3"; "BXC3" if one fits).
        matches = self.lower.get(low, [])
        if len(matches) == 1:
            return "move", matches[0]
        if matches:
            return "ambiguous", sorted(matches)
        return ("illegal", form) if parts or form in ("O-O", "O-O-O") else ("none", None)

    def _same_target(self, form: str) -> list[str]:
        """Legal moves of the piece named in an under-specified SAN to its target square."""
        import chess

        parts = _SAN_RE.match(form)
        if parts is None:
            return []
        piece = chess.PIECE_SYMBOLS.index(parts.group(1).lower()) if parts.group(1) else 1
        to = chess.parse_square(parts.group(5))
        board = self.state.board
        return [
            s
            for m, s in zip(self.state._moves, self.sans, strict=True)
            if m.to_square == to and board.piece_type_at(m.from_square) == piece
        ]

    def scan(self, text: str) -> tuple[list[str], tuple[str, list[str]] | None, list[str]]:
        """(distinct legal moves named, the first (token, options) that is ambiguous, illegal
        well-formed tokens) in `text`."""
        moves: list[str] = []
        ambiguous: tuple[str, list[str]] | None = None
        illegal: list[str] = []
        for token in _tokens(text):
            kind, value = self.resolve(token)
            if kind == "move" and value not in moves:
                moves.append(value)
            elif kind == "ambiguous" and ambiguous is None:
                ambiguous = (token, value)
            elif kind == "illegal":
                illegal.append(value)
        return moves, ambiguous, illegal


def _why_illegal(state: ChessState, token: str) -> str:
    """A short reason why the well-formed move `token` cannot be played here."""
    import chess

    board = state.board
    side = COLOR_NAMES[0 if board.turn else 1]
    in_check = board.is_check()
    if token in ("O-O", "O-O-O"):
        rook_file = 7 if token == "O-O" else 0
        rank = 0 if board.turn else 7
        if not board.castling_rights & chess.BB_SQUARES[chess.square(rook_file, rank)]:
            return f"{side} may no longer castle that way (the king or that rook has moved)"
        if in_check:
            return f"{side} cannot castle out of check"
        king = board.king(board.turn)
        rook = chess.square(rook_file, rank)
        if king is not None and chess.between(king, rook) & board.occupied:
            return "there are pieces between the king and the rook"
        return "the king would pass through or land on an attacked square"
    if token[0] == "x":
        return f"no pawn of {side}'s can capture on {token[1:]}"
    uci = _UCI_RE.match(token.lower())
    if uci:
        frm, to = chess.parse_square(uci.group(1)), chess.parse_square(uci.group(2))
        piece = board.piece_at(frm)
        if piece is None:
            return f"there is no piece on {uci.group(1)}"
        if piece.color != board.turn:
            return f"the {PIECE_NAMES[piece.piece_type]} on {uci.group(1)} is not {side}'s"
        candidates = [m for m in board.generate_pseudo_legal_moves() if m.from_square == frm]
        candidates = [m for m in candidates if m.to_square == to]
        what = f"the {PIECE_NAMES[piece.piece_type]} on {uci.group(1)} cannot"
        if candidates and not uci.group(3) and all(m.promotion for m in candidates):
            return f"a pawn reaching the last rank must promote, e.g. {token.lower()}q"
    else:
        parts = _SAN_RE.match(token) or _SAN_RE.match(token[0].upper() + token[1:])
        if parts is None:
            return "it is not a move"
        letter, file, rank, _, target, promo = parts.groups()
        piece_type = chess.PIECE_SYMBOLS.index(letter.lower()) if letter else chess.PAWN
        to = chess.parse_square(target)
        candidates = [
            m
            for m in board.generate_pseudo_legal_moves(board.pieces_mask(piece_type, board.turn))
            if m.to_square == to
            and not board.is_castling(m)
            and (not file or chess.square_file(m.from_square) == "abcdefgh".index(file))
            and (not rank or chess.square_rank(m.from_square) == int(rank) - 1)
        ]
        if candidates and not promo and all(m.promotion for m in candidates):
            return f"a pawn reaching the last rank must promote, e.g. {target}=Q"
        what = f"no {PIECE_NAMES[piece_type]} of {side}'s can"
        if not board.pieces_mask(piece_type, board.turn):
            return f"{side} has no {PIECE_NAMES[piece_type]} left"
    own = board.piece_at(to)
    if own is not None and own.color == board.turn:
        return f"{chess.square_name(to)} is occupied by {side}'s own {PIECE_NAMES[own.piece_type]}"
    if not candidates:
        return f"{what} move to {chess.square_name(to)}"
    pinned = [m for m in candidates if board.is_pinned(board.turn, m.from_square)]
    if in_check:
        return f"{side} is in check and this move does not get out of it"
    if pinned:
        frm = pinned[0].from_square
        name = PIECE_NAMES[board.piece_type_at(frm) or 0]
        return f"the {name} on {chess.square_name(frm)} is pinned: moving it would expose {side}'s king"
    if board.piece_type_at(candidates[0].from_square) == chess.KING:
        return f"{chess.square_name(to)} is attacked: the king would be in check there"
    return f"it would leave {side}'s king in check"


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

    def rules(self) -> str:
        fen = self.params["start_fen"].strip()
        start = f"; this game starts from the position with FEN {fen}" if fen else ""
        return RULES.format(start=start, max_moves=self.params["max_moves"])

    def new_initial_state(self) -> ChessState:
        return ChessState(self, self.start_board.copy(stack=False))

    def parse_action(self, state: State, text: str) -> Parsed:
        assert isinstance(state, ChessState)
        if state.outcome is not None:
            return Parsed.illegal("no move is possible now: the game is over")
        moves = format_moves(state._legal_sans())
        body = clean_reply(text)
        if not body:
            return Parsed.illegal(f"the reply was empty; legal moves: {moves}")
        answer = extract_answer(body)
        segments = [answer] if answer is not None else []
        lines = [ln for ln in body.splitlines() if ln.strip()]
        segments += [body] + ([lines[-1]] if len(lines) > 1 else [])
        reader = _Reader(state)
        several: list[str] = []
        unclear: tuple[str, list[str]] | None = None
        for segment in segments:
            found, amb, _ = reader.scan(segment)
            if len(found) == 1:
                return Parsed.legal(found[0])
            if len(found) > 1 and not several:
                several = found
            if amb and unclear is None:
                unclear = amb
            if answer is not None and segment is answer and normalize(answer):
                break  # an explicit final answer that names no single legal move is wrong
        if several:
            return Parsed.illegal(
                f"the reply names several moves ({', '.join(several)}); give exactly one. "
                f"Legal moves: {moves}"
            )
        if unclear is not None:
            token, options = unclear
            return Parsed.illegal(
                f"{token} is ambiguous here: it could be {' or '.join(options)}; give exactly "
                f"one. Legal moves: {moves}"
            )
        focus = answer if answer is not None else body
        reason = self.explain_illegal(state, focus)
        if reason:
            return Parsed.illegal(reason)
        shown = normalize(focus)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        return Parsed.illegal(f"'{shown}' is not a legal move; legal moves: {moves}")

    def explain_illegal(self, state: State, candidate: str) -> str | None:
        if not isinstance(state, ChessState) or state.outcome is not None:
            return None
        try:
            _, _, illegal = _Reader(state).scan(candidate)
            if not illegal:
                return None
            token = illegal[-1]
            reason = _why_illegal(state, token)
        except Exception:  # an explanation must never turn junk into an exception
            return None
        return (
            f"{token} is not legal here: {reason}. Legal moves: {format_moves(state._legal_sans())}"
        )
