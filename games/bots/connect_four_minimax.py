"""A Connect Four bot: depth-limited alpha-beta negamax over bitboards.

At the horizon a position is scored by its open lines: every window of `connect` cells that holds
discs of only one side counts for that side, a lot more when it lacks one disc (a threat) than
when it lacks two; discs in the centre column count a little, since they sit on the most lines.
Wins score far above any heuristic value, sooner wins higher, so the bot takes a win in one at
once and never delays a forced win. Moves are tried centre first, and a transposition table
(cleared for each decision) saves re-searching positions reached by transposed move orders.

The policy is uniform over the moves that tie for the best score.
"""

from __future__ import annotations

from games.bots.base import Bot
from games.connect_four import ConnectFour, ConnectFourState, is_win4
from games.core import Game, State

WIN = 1_000_000
"""Score of a win; larger than any sum of heuristic terms on a board up to 12x12."""
_INF = 10 * WIN
_EXACT, _LOWER, _UPPER = 0, 1, 2


class ConnectFourMinimax(Bot):
    """Alpha-beta to a fixed depth (plies) with a line-counting heuristic at the horizon."""

    name = "minimax"

    def __init__(self, game: Game, depth: int = 4) -> None:
        super().__init__(game)
        if not isinstance(game, ConnectFour):
            raise TypeError(f"ConnectFourMinimax plays connect_four, not {game.id}")
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive integer, got {depth!r}")
        self.depth = depth
        geo = game.geometry
        self._geo = geo
        self._rows = geo.rows
        self._order = geo.order
        self._bits = geo.bits
        shifts = geo.shifts
        self._is_win = (lambda b: is_win4(b, shifts)) if geo.connect == 4 else geo.is_win
        k = geo.connect
        self._windows = _windows(geo.rows, geo.columns, k, geo.bits)
        # Weight of a window by how many of its cells one side holds (and the other none).
        self._weights = tuple(_weight(n, k) for n in range(k + 1))
        centre = geo.columns // 2
        self._centre = sum(geo.bits[centre])
        if geo.columns % 2 == 0:  # two centre columns on an even board
            self._centre |= sum(geo.bits[centre - 1])
        self._tt: dict[tuple[int, int, int], tuple[int, int]] = {}

    # --- the bot contract ----------------------------------------------------------------
    def policy(self, state: State) -> dict[str, float]:
        scores = self.move_scores(state)
        if not scores:
            return {}
        best = max(scores.values())
        top = [a for a, s in scores.items() if s == best]
        return {a: 1.0 / len(top) for a in top}

    def move_scores(self, state: State) -> dict[str, int]:
        """Scores of the candidate moves for the player to move (higher is better).

        Only moves that can tie for the best are scored exactly; others get an upper bound
        below the best. When a win in one exists only winning moves are listed; when the
        opponent threatens a win in one only the blocking moves are.
        """
        assert isinstance(state, ConnectFourState)
        player = state.current_player()
        if player < 0:
            return {}
        geo = self._geo
        me, opp = state.boards[player], state.boards[1 - player]
        heights = state.heights[:]
        playable = [c for c in self._order if heights[c] < self._rows]
        wins = [c for c in playable if self._is_win(me | self._bits[c][heights[c]])]
        if wins:
            return {geo.labels[c]: WIN + self.depth for c in wins}
        threats = [c for c in playable if self._is_win(opp | self._bits[c][heights[c]])]
        candidates = threats or playable
        left = geo.cells - len(state.moves)
        self._tt = {}
        scores: dict[str, int] = {}
        best = -_INF
        for c in candidates:
            h = heights[c]
            heights[c] = h + 1
            # Window (best - 1, inf): a move that ties the best gets its exact score.
            score = -self._negamax(
                opp, me | self._bits[c][h], heights, left - 1, self.depth - 1, -_INF, 1 - best
            )
            heights[c] = h
            scores[geo.labels[c]] = score
            best = max(best, score)
        self._tt = {}
        return scores

    # --- search --------------------------------------------------------------------------
    def _negamax(
        self, me: int, opp: int, heights: list[int], left: int, depth: int, alpha: int, beta: int
    ) -> int:
        """Score for the side to move (`me`), with `left` empty cells and `depth` plies to go."""
        if left == 0:
            return 0
        rows, bits, is_win = self._rows, self._bits, self._is_win
        playable = [c for c in self._order if heights[c] < rows]
        for c in playable:
            if is_win(me | bits[c][heights[c]]):
                return WIN + depth  # sooner wins score higher
        if depth == 0:
            return self._evaluate(me, opp)
        key = (me, opp, depth)
        entry = self._tt.get(key)
        if entry is not None:
            flag, value = entry
            if flag == _EXACT:
                return value
            if flag == _LOWER:
                alpha = max(alpha, value)
            else:
                beta = min(beta, value)
            if alpha >= beta:
                return value
        alpha0 = alpha
        best = -_INF
        for c in playable:
            h = heights[c]
            heights[c] = h + 1
            score = -self._negamax(
                opp, me | bits[c][h], heights, left - 1, depth - 1, -beta, -alpha
            )
            heights[c] = h
            if score > best:
                best = score
                if score > alpha:
                    alpha = score
                    if alpha >= beta:
                        break
        flag = _UPPER if best <= alpha0 else _LOWER if best >= beta else _EXACT
        self._tt[key] = (flag, best)
        return best

    def _evaluate(self, me: int, opp: int) -> int:
        """Heuristic score of a quiet position for the side to move."""
        weights = self._weights
        score = 0
        for w in self._windows:
            a = me & w
            b = opp & w
            if a:
                if not b:
                    score += weights[a.bit_count()]
            elif b:
                score -= weights[b.bit_count()]
        centre = self._centre
        return score + 3 * ((me & centre).bit_count() - (opp & centre).bit_count())


def _weight(n: int, k: int) -> int:
    """How much a window with `n` of `k` cells held (and none for the opponent) is worth."""
    if n == 0 or n >= k:
        return 0  # a full window is a win, scored by the search itself
    if n == k - 1:
        return 50  # one disc short: a threat
    if n == k - 2:
        return 5
    return 1


def _windows(rows: int, columns: int, k: int, bits: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    """Bit masks of every line of `k` cells on the board, in all four directions."""
    found = []
    for c in range(columns):
        for r in range(rows):
            for dc, dr in ((1, 0), (0, 1), (1, 1), (1, -1)):
                end_c, end_r = c + dc * (k - 1), r + dr * (k - 1)
                if 0 <= end_c < columns and 0 <= end_r < rows:
                    found.append(sum(bits[c + dc * i][r + dr * i] for i in range(k)))
    return tuple(found)
