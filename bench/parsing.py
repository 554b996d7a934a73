"""How long every game's `parse_action` takes on hostile 1 MB replies.

    python bench/parsing.py [--size 1000000] [--runs 3] [--limit-ms 50] [--game ID ...]

For each game (a real mid-game state: `games.make(id)`, then a few seeded legal moves) and each
kind of hostile reply (long runs of answer markers, digits, brackets, `\\boxed{`, an unclosed
`<think>`, repeated legal moves, nested quotes, whitespace, one very long line, mixed unicode,
...) built at `--size` characters, the table shows the median time of `parse_action` over
`--runs` runs and the ratio to one linear pass over the same text (`text.lower()` and
`text.split()`, measured in the same run, so figures stay comparable on a noisy machine).
Exits 1 when any parse takes longer than `--limit-ms`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import games  # noqa: E402
from games import CHANCE, TERMINAL, sample_chance  # noqa: E402

# (label, game id, parameters, moves to play before parsing): one mid-game state each.
POSITIONS = [
    ("tictactoe", "tictactoe", {}, 3),
    ("connect_four", "connect_four", {}, 6),
    ("kuhn_poker", "kuhn_poker", {}, 1),
    ("leduc_poker", "leduc_poker", {}, 2),
    ("liars_dice", "liars_dice", {}, 2),
    ("prisoners_dilemma", "prisoners_dilemma", {}, 4),
    ("prisoners_dilemma/messages", "prisoners_dilemma", {"messages": True}, 3),
    ("negotiation", "negotiation", {}, 3),
    ("spy/clues", "spy", {}, 3),
    ("spy/votes", "spy", {}, 8),
    ("chess", "chess", {}, 12),
]


def mid_game(game_id: str, params: dict, moves: int, seed: int = 7) -> games.State:
    """A state of `game_id` after `moves` seeded random moves (chance sampled), at a player's
    turn."""
    for attempt in range(100):
        rng = random.Random(seed + attempt)
        state = games.make(game_id, **params).new_initial_state()
        played = 0
        while True:
            player = state.current_player()
            if player == TERMINAL:
                break
            if player == CHANCE:
                state.apply(sample_chance(state, rng))
                continue
            if played == moves:
                return state
            state.apply(rng.choice(state.legal_actions()))
            played += 1
    raise RuntimeError(f"no mid-game state of {game_id} after {moves} moves")


def distinct_tokens(legal: list[str], size: int, seed: int = 0) -> str:
    """`size` characters of many different move-like tokens (squares, SAN, UCI, numbers, bids,
    words) mixed with legal moves: the most work per character a parser can be given."""
    rng = random.Random(seed)
    files, ranks = "abcdefgh", "12345678"
    pieces: list[str] = []
    length = 0
    while length < size:
        square = rng.choice(files) + rng.choice(ranks)
        token = rng.choice(
            [
                rng.choice("KQRBN") + rng.choice(["", rng.choice(files)]) + square,
                rng.choice(files) + rng.choice(ranks) + square,
                f"bid {rng.randint(0, 30)} {rng.randint(0, 9)}",
                str(rng.randint(0, 99)),
                rng.choice(legal),
                rng.choice(["check", "raise", "column", "vote:", "clue:", "offer:", "or"]),
            ]
        )
        pieces.append(token)
        length += len(token) + 1
    return " ".join(pieces)[:size]


def hostile_replies(legal: list[str], size: int) -> dict[str, str]:
    """Each kind of hostile reply, `size` characters long, naming moves of `legal`."""
    one = legal[0]
    two = legal[1] if len(legal) > 1 else legal[0]
    # Replies whose last part is read in full: a long final answer, and a long visible text
    # after a huge reasoning block.
    tokens = distinct_tokens(legal, 15_500)

    def fill(unit: str, tail: str = "") -> str:
        body = unit * (size // max(1, len(unit)) + 1)
        return body[: size - len(tail)] + tail

    return {
        "final-answer run": fill("Final answer: "),
        "answer:answer:": fill("answer:"),
        "markers + answer": fill("The final answer is: ", f"\nFinal answer: {one}"),
        "digits": fill("1234567890"),
        "brackets [[[": fill("[[[["),
        "\\boxed{ run": fill("\\boxed{"),
        "unclosed <think>": "<think>" + fill("let me think. ")[7:],
        "<think></think> run": fill("<think>x</think>"),
        "</think> run": fill("</think>y"),
        "<answer> run": fill("<answer>"),
        "same move": fill(f"{one} "),
        "two moves": fill(f"{one} {two} "),
        "move list echo": fill("Legal moves: " + ", ".join(legal[:20]) + "\n"),
        "nested quotes": fill("\"'`\"'`(["),
        "whitespace": fill(" \n\t \r\n  "),
        "one long line": fill("word "),
        "long line + move": fill("so many words ", f"\n{one}"),
        "mixed unicode": fill("héllo İstanbul 你好 🙂 ß\u200b "),
        "long final answer": fill("so many words ", f"\nFinal answer: {tokens}"),
        "think + many moves": "<think>" + fill("hmm ", f"</think>\n{tokens}")[7:],
        "many moves + answer": fill(tokens + "\n", f"\nFinal answer: {one}"),
    }


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="characters per reply")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--limit-ms", type=float, default=50.0, help="the bar per parse")
    parser.add_argument("--game", action="append", help="only these labels (repeatable)")
    args = parser.parse_args(argv)

    print(f"{'game':<28}{'input':<22}{'parse ms':>10}{'pass ms':>10}{'ratio':>8}  result")
    worst: tuple[float, str, str, float] = (0.0, "", "", 0.0)
    failed = 0
    for label, game_id, params, moves in POSITIONS:
        if args.game and label not in args.game and game_id not in args.game:
            continue
        state = mid_game(game_id, params, moves)
        game = state.game
        for kind, text in hostile_replies(state.legal_actions(), args.size).items():
            parsed = game.parse_action(state, text)  # warm-up, and the result shown
            ms = median_ms(lambda g=game, s=state, t=text: g.parse_action(s, t), args.runs)
            base = median_ms(lambda t=text: (t.lower(), t.split()), args.runs)
            ratio = ms / base if base > 0 else float("inf")
            shown = f"-> {parsed.action}" if parsed.ok else "refused"
            flag = "" if ms <= args.limit_ms else "  OVER"
            failed += ms > args.limit_ms
            print(f"{label:<28}{kind:<22}{ms:>10.2f}{base:>10.2f}{ratio:>8.2f}  {shown[:28]}{flag}")
            if ms > worst[0]:
                worst = (ms, label, kind, ratio)
    ms, label, kind, ratio = worst
    print(f"\nworst: {ms:.2f} ms ({label}, {kind}; {ratio:.2f}x one linear pass)")
    if failed:
        print(f"{failed} parse(s) over {args.limit_ms:g} ms")
        return 1
    print(f"every parse under {args.limit_ms:g} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
