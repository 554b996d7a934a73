"""Move quality where ground truth exists: each stored decision's loss against the best move.

A decision is a player's move in the `moves` table (seat >= 0), its last attempt: the one that
was played. Its `loss` is how much worse the chosen action is than the best one, from the mover's
side, never below 0 (0 = a best move); `best` names a best action (the chosen one when it ties).
What is computed, per game:

- tictactoe, method `minimax`: exact. The game value of a move (+1 win, 0 draw, -1 loss for the
  mover when both sides then play perfectly), best minus chosen: 0, 1 or 2.
- connect_four, method `minimax-depth5`: depth-limited. The same outcome classes, but only as far
  as a 5-ply alpha-beta search (the connect_four minimax bot's) proves them: +1 a forced win
  within the horizon, -1 a forced loss within it, 0 otherwise (a draw, or not decided). A loss of
  0 means no better outcome is provable within 5 plies, not that the move is perfect.
- kuhn_poker and leduc_poker, method `cfr-ev`, in chips. At the mover's information state,
  Q(a) is the expected return of action a when both seats then follow the shipped CFR+
  (near-Nash) policy; the hidden cards are weighted by chance times the probability that the
  CFR policy takes the actions the opponent was seen to take (a posterior that assumes a CFR
  opponent; chance alone where that policy would never have taken them). Loss = max Q - Q(chosen);
  a loss within 0.01 chips counts as a best move (the CFR policy is near-Nash, not exact).
- chess, method `stockfish-depth8`, in centipawns, where a Stockfish binary is installed.
  Stockfish's score of the position after its best move minus its score of the chosen move
  (searched as the only root move), both at depth 8, each clipped to +-1000 (a mate is 1000).

Other games have no ground truth here, and nothing is stored for them. A move the arena forced
after the last illegal reply is scored like any other (it is the move the player's seat made); a
forfeit (no legal move played) gets a row with a NULL loss, so it is counted and never redone.

Scoring is on demand and incremental: `score_stored_matches` scores the matches that have no
rows yet, a batch per short transaction, so an interrupted run loses at most one batch of work.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from sqlite_utils import Database

    from games.core import Game, State

CONNECT_FOUR_DEPTH = 5
CHESS_DEPTH = 8
CHESS_CLIP = 1000
FORFEIT = "(forfeit)"

UNITS = {
    "tictactoe": "game value",
    "connect_four": "game value (depth-limited)",
    "kuhn_poker": "chips",
    "leduc_poker": "chips",
    "chess": "centipawns",
}
"""The games with ground truth, and what their losses are measured in."""

BEST_TOLERANCE = {"kuhn_poker": 0.01, "leduc_poker": 0.01}
"""A loss at most this counts as a best move (the CFR policy is near-Nash, not exact)."""


class Decision(NamedTuple):
    """One scored decision, as stored (a `arena.store.move_quality.ScoredMove`)."""

    idx: int
    attempt: int
    seat: int
    loss: float | None  # None for a forfeit
    best: str | None
    method: str


class Scorer(Protocol):
    """Scores one game's decisions; `action` None asks only for the best action."""

    method: str

    def score(self, state: State, action: str | None) -> tuple[float | None, str]: ...

    def close(self) -> None: ...


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _pick_best(values: dict[str, float], action: str | None) -> str:
    """The chosen action when it ties for the best, else the first best in legal order."""
    top = max(values.values())
    if action is not None and values.get(action) == top:
        return action
    return next(a for a, v in values.items() if v == top)


class TicTacToeScorer:
    """Exact game values by exhaustive minimax."""

    method = "minimax"

    def score(self, state: State, action: str | None) -> tuple[float | None, str]:
        from games.bots.tictactoe_minimax import move_values

        board = "".join(m or "." for m in state.board)  # type: ignore[attr-defined]
        mark = "x" if state.current_player() == 0 else "o"
        # move_values prefers quick wins and slow losses; only the sign is the game value.
        values = {a: float(_sign(v)) for a, v in move_values(board, mark).items()}
        best = _pick_best(values, action)
        return (None if action is None else values[best] - values[action]), best

    def close(self) -> None:
        pass


class ConnectFourScorer:
    """Outcome classes proven by the connect_four bot's alpha-beta search to `depth` plies."""

    def __init__(self, game: Game, depth: int = CONNECT_FOUR_DEPTH) -> None:
        from games.bots.connect_four_minimax import ConnectFourMinimax

        if depth < 2:
            raise ValueError("depth must be at least 2")
        self.method = f"minimax-depth{depth}"
        self._root = ConnectFourMinimax(game, depth=depth)
        self._reply = ConnectFourMinimax(game, depth=depth - 1)

    @staticmethod
    def _outcome(score: float) -> int:
        from games.bots.connect_four_minimax import WIN

        return 1 if score >= WIN else -1 if score <= -WIN else 0

    def score(self, state: State, action: str | None) -> tuple[float | None, str]:
        # The best move's score is exact; the others' only bounds, or missing when a win (or a
        # forced block) exists, so the chosen move is searched on its own unless it is best.
        scores = self._root.move_scores(state)
        best = _pick_best(scores, action)
        best_class = self._outcome(scores[best])
        if action is None:
            return None, best
        if scores.get(action) == scores[best]:
            return 0.0, best
        mover = state.current_player()
        child = state.clone()
        child.apply(action)
        if child.is_terminal():
            chosen = _sign(child.returns()[mover])
        else:
            chosen = -self._outcome(max(self._reply.move_scores(child).values()))
        return float(max(0, best_class - chosen)), best

    def close(self) -> None:
        pass


class PokerScorer:
    """Action values against the shipped CFR+ policy at each information state (see above)."""

    method = "cfr-ev"

    def __init__(self, game: Game) -> None:
        from games.analysis import CHANCE_NODE, TERMINAL_NODE, GameTree
        from games.cfr import shipped_policy

        tree = GameTree.build(game)
        table = tree.tabulate(shipped_policy(game.id))
        n = len(tree.kind)
        # Both seats' expected returns under CFR, bottom-up (children have larger indices).
        value: list[list[float]] = [[0.0, 0.0] for _ in range(n)]
        for node in range(n - 1, -1, -1):
            kind = tree.kind[node]
            if kind == TERMINAL_NODE:
                value[node] = list(tree.returns[node])
                continue
            probs = tree.chance_probs[node] if kind == CHANCE_NODE else table[tree.infoset[node]]
            kids = tree.children[node]
            value[node] = [sum(p * value[c][s] for p, c in zip(probs, kids)) for s in (0, 1)]
        # Reach of every node by chance and by seat 1 - s's CFR moves (seat s's own moves are
        # the same at every node of its information set), and by chance alone.
        reach = [[1.0] * n, [1.0] * n]
        by_chance = [1.0] * n
        for node in range(n):
            kind = tree.kind[node]
            if kind == TERMINAL_NODE:
                continue
            for i, child in enumerate(tree.children[node]):
                if kind == CHANCE_NODE:
                    p = tree.chance_probs[node][i]
                    by_chance[child] = by_chance[node] * p
                    reach[0][child], reach[1][child] = reach[0][node] * p, reach[1][node] * p
                else:
                    mover, p = tree.player[node], table[tree.infoset[node]][i]
                    by_chance[child] = by_chance[node]
                    reach[mover][child] = reach[mover][node]
                    reach[1 - mover][child] = reach[1 - mover][node] * p
        members: dict[int, list[int]] = {}
        for node in range(n):
            if tree.infoset[node] >= 0:
                members.setdefault(tree.infoset[node], []).append(node)
        self.values: dict[tuple[int, str], dict[str, float]] = {}
        for slot, key in enumerate(tree.infoset_keys):
            seat, nodes = key[0], members[slot]
            weights = [reach[seat][m] for m in nodes]
            if sum(weights) <= 0:
                weights = [by_chance[m] for m in nodes]
            total = sum(weights)
            self.values[key] = {
                a: sum(w * value[tree.children[m][i]][seat] for w, m in zip(weights, nodes)) / total
                for i, a in enumerate(tree.infoset_actions[slot])
            }

    def score(self, state: State, action: str | None) -> tuple[float | None, str]:
        seat = state.current_player()
        values = self.values[(seat, state.information_state(seat))]
        best = _pick_best(values, action)
        return (None if action is None else max(0.0, values[best] - values[action])), best

    def close(self) -> None:
        pass


class ChessScorer:
    """Stockfish's centipawn loss at a fixed depth."""

    def __init__(self, engine_path: str, depth: int = CHESS_DEPTH) -> None:
        import chess.engine

        self.method = f"stockfish-depth{depth}"
        self._limit = chess.engine.Limit(depth=depth)
        try:
            self._engine = chess.engine.SimpleEngine.popen_uci(engine_path)
        except (OSError, chess.engine.EngineError, chess.engine.EngineTerminatedError) as exc:
            from arena.errors import ArenaError

            raise ArenaError(
                f"the chess engine {engine_path} would not start as a UCI engine: {exc}"
            ) from None
        options = {"Threads": 1, "Hash": 16}
        self._engine.configure({k: v for k, v in options.items() if k in self._engine.options})

    def _cp(self, info: Any, white: bool) -> int:
        cp = info["score"].pov(white).score(mate_score=100 * CHESS_CLIP)
        return max(-CHESS_CLIP, min(CHESS_CLIP, cp))

    def score(self, state: State, action: str | None) -> tuple[float | None, str]:
        # From the start so the engine sees the history (repetitions, the 50-move count).
        board = state.game.start_board.copy(stack=False)  # type: ignore[attr-defined]
        for san in state.played:  # type: ignore[attr-defined]
            board.push_san(san)
        white = board.turn
        info = self._engine.analyse(board, self._limit)
        pv = info.get("pv") or [self._engine.play(board, self._limit).move]
        best_move = pv[0]
        best = board.san(best_move)
        if action is None:
            return None, best
        move = board.parse_san(action)
        if move == best_move:
            return 0.0, best
        chosen = self._engine.analyse(board, self._limit, root_moves=[move])
        return float(max(0, self._cp(info, white) - self._cp(chosen, white))), best

    def close(self) -> None:
        self._engine.quit()


def make_scorer(game: Game, engine_path: str = "") -> Scorer | None:
    """The scorer of `game`, or None where it has no ground truth (or chess has no engine)."""
    if game.id == "tictactoe":
        return TicTacToeScorer()
    if game.id == "connect_four":
        return ConnectFourScorer(game)
    if game.id in ("kuhn_poker", "leduc_poker"):
        import games

        # The shipped CFR policy solves the default game only.
        return PokerScorer(game) if game.params == games.make(game.id).params else None
    if game.id == "chess":
        from games.chess_game import find_engine

        path = find_engine(engine_path)
        return ChessScorer(path) if path else None
    return None


def score_decisions(
    game: Game, scorer: Scorer, moves: Iterable[tuple[int, int, int, str]]
) -> list[Decision]:
    """Replay a match's moves `(idx, attempt, seat, action)`, the played attempt of each index in
    order, and score every decision. Stops at a move that does not replay (a record from other
    rules) and at a forfeit, which gets a row with no loss."""
    state = game.new_initial_state()
    out: list[Decision] = []
    for idx, attempt, seat, action in moves:
        if state.is_terminal():
            break
        if seat >= 0 and seat == state.current_player():
            legal = action in state.legal_actions()
            loss, best = scorer.score(state, action if legal else None)
            out.append(Decision(idx, attempt, seat, loss, best, scorer.method))
            if not legal:  # a forfeit ends the match; anything else is a foreign record
                break
        try:
            state.apply(action)
        except Exception:
            break
    return out


# --- the store --------------------------------------------------------------------------------
@dataclass
class ScoreReport:
    """What one `score_stored_matches` run did."""

    matches: int = 0
    decisions: int = 0
    seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)  # game -> why it was not scored

    def to_dict(self) -> dict[str, Any]:
        return {
            "matches": self.matches,
            "decisions": self.decisions,
            "seconds": round(self.seconds, 3),
            "skipped": dict(self.skipped),
        }


def score_stored_matches(
    db: Database,
    *,
    game: str | None = None,
    player_id: int | None = None,
    batch_size: int = 50,
    engine_path: str = "",
    on_progress: Callable[[int, int], None] | None = None,
) -> ScoreReport:
    """Score every stored match (of `game`, with `player_id`) that has no move-quality rows yet.

    Scoring runs outside any transaction; each batch of matches is written in one short one."""
    import games
    from arena.store.move_quality import pending_matches, played_moves, record_move_quality

    started = time.perf_counter()
    report = ScoreReport()
    pending = pending_matches(db, list(UNITS), game=game, player_id=player_id)
    scorers: dict[tuple[str, str], tuple[Game, Scorer | None]] = {}
    batch: dict[str, list[tuple[int, list[Decision]]]] = {}

    def flush() -> None:
        for game_id, rows in batch.items():
            if rows:
                record_move_quality(db, game_id, rows)
        batch.clear()

    try:
        for done, (match_id, game_id, params) in enumerate(pending, 1):
            key = (game_id, params)
            if key not in scorers:
                g = games.make(game_id, **json.loads(params))
                scorers[key] = (g, make_scorer(g, engine_path))
                if scorers[key][1] is None:
                    report.skipped[game_id] = (
                        "no chess engine found (install stockfish)"
                        if game_id == "chess"
                        else "no ground truth for these parameters"
                    )
            g, scorer = scorers[key]
            if scorer is None:
                continue
            decisions = score_decisions(g, scorer, played_moves(db, match_id))
            if decisions:
                batch.setdefault(game_id, []).append((match_id, decisions))
                report.matches += 1
                report.decisions += len(decisions)
            if sum(len(rows) for rows in batch.values()) >= batch_size:
                flush()
            if on_progress is not None:
                on_progress(done, len(pending))
        flush()
    finally:
        for _, scorer in scorers.values():
            if scorer is not None:
                scorer.close()
    report.seconds = time.perf_counter() - started
    return report


def move_quality_summary(
    db: Database, game: str | None = None, *, player: str | None = None
) -> dict[str, dict[str, Any]]:
    """Per player name: decisions scored, mean loss, best moves (count and share), forfeits.

    With `game`, `mean_loss` is in that game's unit (`unit`). Without it the counts and the
    share of best moves pool every game, `mean_loss` and `unit` are None (units differ), and
    `by_game` holds each game's own figures. Only stored rows count: run
    `score_stored_matches` (or `arena eval move-quality`) first."""
    from arena.store.move_quality import move_quality_totals

    out: dict[str, dict[str, Any]] = {}
    rows = move_quality_totals(db, BEST_TOLERANCE, game=game, player=player)
    for name, game_id, n, mean, best, forfeits, methods in rows:
        entry = out.setdefault(name, {"by_game": {}})
        entry["by_game"][game_id] = {
            "decisions": n,
            "mean_loss": mean,
            "best_moves": best or 0,
            "best_share": (best or 0) / n if n else None,
            "forfeits": forfeits or 0,
            "unit": UNITS.get(game_id),
            "method": ", ".join(sorted(methods.split(","))),
        }
    for entry in out.values():
        per_game = list(entry["by_game"].values())
        n = sum(g["decisions"] for g in per_game)
        best = sum(g["best_moves"] for g in per_game)
        one = per_game[0] if len(per_game) == 1 else None
        entry.update(
            decisions=n,
            mean_loss=one["mean_loss"] if one else None,
            best_moves=best,
            best_share=best / n if n else None,
            forfeits=sum(g["forfeits"] for g in per_game),
            unit=one["unit"] if one else None,
        )
    return out
