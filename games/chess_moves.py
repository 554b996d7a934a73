"""Chess moves as text: the fast SAN writer and the reader of free-text moves.

`san_list` writes the canonical actions of a position (SAN exactly as python-chess writes it,
only faster). `MoveReader` finds the legal move a reply names in any of the spellings models use:
SAN in another case or without its check marks, UCI ("e2e4", "e7e8q"), long algebraic
("Ng1-f3"), "0-0" castling, "knight to f3". `why_illegal` says why a well-formed move cannot be
played. `games.chess_game` builds the game on these.

python-chess is imported lazily (inside functions), as in `games.chess_game`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import chess


COLOR_NAMES = ("White", "Black")
PIECE_NAMES = ("", "pawn", "knight", "bishop", "rook", "queen", "king")

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
_MOVE_NUMBER_RE = re.compile(r"^\d{1,3} ?\.{1,3} ?")  # "12. e4", "12... e5"
_DECORATION = " \t\r\n.,;:!?*`'\"()[]{}<>_~"
# python-chess reads a king's move onto its own rook ("e1h1") as castling: (from, to) -> to.
_CASTLE_TARGETS = {(4, 7): 6, (4, 0): 2, (60, 63): 62, (60, 56): 58}


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


# --- reading moves out of replies -----------------------------------------------------------


def _spelled_out(match: re.Match[str]) -> str:
    piece, capture, target = match.group(1).lower(), match.group(2).lower(), match.group(3)
    letter = "" if piece == "pawn" else "N" if piece == "knight" else piece[0].upper()
    return f" {letter}{'x' if capture != 'to' else ''}{target.lower()} "


def _rewrite_words(text: str) -> str:
    """`text` with its whitespace collapsed (which keeps the patterns linear), "e.p." dropped
    and moves spelled out in words rewritten as SAN ("knight to f3" -> "Nf3")."""
    text = _EP_RE.sub(" ", " ".join(text.split()))
    text = _PIECE_TO_RE.sub(_spelled_out, text)
    return _CASTLE_WORDS_RE.sub(
        lambda m: " O-O-O " if (m.group(1) or m.group(2) or "").lower() in "queenlong" else " O-O ",
        text,
    )


def _tokens(text: str) -> list[str]:
    """Move-like tokens of `text`, check/mate marks and dashes at the ends stripped."""
    out = []
    for raw in _TOKEN_RE.findall(_rewrite_words(text)):
        token = raw.rstrip("+#=").strip("-")
        if _CASTLE_RE.match(token):
            out.append("O-O" if len(token) == 3 else "O-O-O")
        elif _MOVE_LIKE_RE.match(token):
            out.append(token)
    return out


class MoveReader:
    """Resolves move-like tokens against one position's legal moves: `moves` (python-chess
    moves of `board`) and `sans`, their canonical SAN in the same order.

    Everything is looked up in tables built once from the legal moves (python-chess's
    `parse_san` is not called: on an illegal move it costs tens of microseconds, and a hostile
    reply can hold thousands of distinct ones), and each distinct token is resolved once."""

    def __init__(self, board: chess.Board, moves: list[chess.Move], sans: list[str]) -> None:
        self.board = board
        self.moves = moves
        self.sans = sans
        # SAN without its check marks -> canonical SAN; and lower-cased -> the candidates.
        self.bare = {s.rstrip("+#"): s for s in self.sans}
        self.lower: dict[str, list[str]] = {}
        for b, s in self.bare.items():
            self.lower.setdefault(b.lower(), []).append(s)
        self._by_uci = {m.uci(): s for m, s in zip(moves, sans, strict=True)}
        self._by_squares = {
            (m.from_square, m.to_square, m.promotion): s for m, s in zip(moves, sans, strict=True)
        }
        # (piece type, from square, promotion, SAN) of the legal moves to each square.
        self._by_target: dict[int, list[tuple[int, int, int | None, str]]] = {}
        for m, s in zip(moves, sans, strict=True):
            piece = board.piece_type_at(m.from_square) or 0
            self._by_target.setdefault(m.to_square, []).append(
                (piece, m.from_square, m.promotion, s)
            )
        self._resolved: dict[str, tuple[str, Any]] = {}

    def san_of(self, move: chess.Move) -> str | None:
        """The canonical SAN of `move` if it is legal here, else None."""
        return self._by_squares.get((move.from_square, move.to_square, move.promotion))

    def resolve(self, token: str) -> tuple[str, Any]:
        """("move", san), ("ambiguous", [san, ...]), ("illegal", token) for a well-formed move
        that is not legal here, or ("none", None)."""
        found = self._resolved.get(token)
        if found is None:
            found = self._resolved[token] = self._resolve(token)
        return found

    def _resolve(self, token: str) -> tuple[str, Any]:
        # 1. Exact SAN (the canonical form, marks optional).
        if token in self.bare:
            return "move", self.bare[token]
        # 2. UCI, in any case ("e2e4", "E7E8Q"). A null move ("e2e2") is simply illegal. When
        # it fails, "B8e7" may still be SAN: a bishop from the 8th rank.
        low = token.lower()
        if _UCI_RE.match(low):
            san = self._by_uci.get(low)
            if san is not None:
                return "move", san
            if token[0] not in "KQRBN":
                return "illegal", low
        if token[0] == "x" and len(token) == 3:  # "pawn takes c3": which pawn is left open
            options = [s for s in self.sans if s[0] in "abcdefgh" and s[1:4] == token]
            if len(options) == 1:
                return "move", options[0]
            return ("ambiguous", options) if options else ("illegal", token)
        # 3. Lenient SAN: over-specified, long algebraic, "e8Q", "Kg1" for castling.
        form = token[0].upper() + token[1:] if token[0] in "kqrn" and len(token) > 2 else token
        if form[0] in "Pp" and len(form) > 2 and form[1] in "abcdefgh":
            form = form[1:]  # "Pe4": a pawn letter SAN leaves out
        form = form.replace(":", "x")
        parts = _SAN_RE.match(form)
        if parts is not None:
            found = self._lenient(parts)
            if found is not None:
                return found
        # 4. Case-insensitive SAN, when only one legal move matches ("nf3"; "BXC3" if one fits).
        matches = self.lower.get(low, [])
        if len(matches) == 1:
            return "move", matches[0]
        if matches:
            return "ambiguous", sorted(matches)
        return ("illegal", form) if parts or form in ("O-O", "O-O-O") else ("none", None)

    def _lenient(self, parts: re.Match[str]) -> tuple[str, Any] | None:
        """What python-chess's `Board.parse_san` reads in a lenient SAN: ("move", san),
        ("ambiguous", [san, ...]) or None when it names no legal move (then a king "moving"
        two squares may still be castling)."""
        import chess

        letter, file, rank, _, target, promo = parts.groups()
        to = chess.parse_square(target)
        promotion = chess.PIECE_SYMBOLS.index(promo[-1].lower()) if promo else None
        if not letter and file and rank:
            # Fully specified without a piece letter ("g1f3", "e1-g1"): any piece, as
            # python-chess's `find_move` reads it (queen by default for a pawn's last rank).
            frm = chess.square(ord(file) - ord("a"), int(rank) - 1)
            board = self.board
            default = promotion
            if default is None and board.pawns & chess.BB_SQUARES[frm]:
                if chess.BB_SQUARES[to] & chess.BB_BACKRANKS:
                    default = chess.QUEEN
            if default is None and board.kings & chess.BB_SQUARES[frm]:
                # A king taking its own rook from its home square is castling.
                to = _CASTLE_TARGETS.get((frm, to), to)
            san = self._by_squares.get((frm, to, default))
            return ("move", san) if san is not None and default == promotion else None
        piece = chess.PIECE_SYMBOLS.index(letter.lower()) if letter else chess.PAWN
        if not letter and not file:
            file = target[0]  # a pawn without a file moves straight ahead
        found = [
            san
            for p, frm, pr, san in self._by_target.get(to, ())
            if p == piece
            and pr == promotion
            and (not file or frm & 7 == ord(file) - ord("a"))
            and (not rank or frm >> 3 == int(rank) - 1)
        ]
        if len(found) == 1:
            return "move", found[0]
        if found:
            return "ambiguous", self._same_target(parts)
        if letter == "K":  # a king "moving" two squares: castling
            for m, s in zip(self.moves, self.sans, strict=True):
                if m.to_square == to and self.board.is_castling(m):
                    return "move", s
        return None

    def _same_target(self, parts: re.Match[str]) -> list[str]:
        """Legal moves of the piece named in an under-specified SAN to its target square."""
        import chess

        letter, target = parts.group(1), parts.group(5)
        piece = chess.PIECE_SYMBOLS.index(letter.lower()) if letter else chess.PAWN
        to = chess.parse_square(target)
        return [s for p, _, _, s in self._by_target.get(to, ()) if p == piece]

    def alone(self, text: str) -> str | None:
        """The move-like token `text` is by itself ("**Nf3**", "12... e5", "knight to f3"), or
        None when it holds anything else."""
        bare = _MOVE_NUMBER_RE.sub("", text.strip(_DECORATION))
        if len(bare) > 40 or len(_rewrite_words(bare).split()) != 1:
            return None
        tokens = _tokens(bare)
        return tokens[0] if len(tokens) == 1 else None

    # --- `games.parsing.Scanner` -------------------------------------------------------------
    def exact(self, text: str) -> str | None:
        token = self.alone(text)
        if token is None:
            return None
        kind, value = self.resolve(token)
        return value if kind == "move" else None

    def move_like(self, text: str) -> bool:
        token = self.alone(text)
        return token is not None and self.resolve(token)[0] != "none"

    def mentions(self, text: str) -> list[str]:
        return self.scan(text)[0]

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


def why_illegal(board: chess.Board, token: str) -> str:
    """A short reason why the well-formed move `token` cannot be played here."""
    import chess

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
    if uci and uci.group(1) == uci.group(2):
        return f"it starts and ends on {uci.group(1)}: a move goes to another square"
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
