"""The trainer's policy and the player its checkpoint becomes play the same distribution.

The trainer scores each legal action's text after the prompt (`trainer.policy.ActionPolicy`) and
plays softmax(scores / temperature); a checkpoint is registered as a `transformers` player with
decode "score", and the arena asks it for a move through its backend's `score`, as a tournament
does. The distribution that player plays from is what `arena.exploitability` measures: the
reply's policy tempered at the player's temperature. Training, the checkpoint's exploitability
and its ratings all assume these are one policy; this pins that they are, on the tiny real
model, after a real training step and a real save and reload.
"""

from __future__ import annotations

import asyncio
import random

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import games  # noqa: E402
from arena.exploitability import _tempered  # noqa: E402  (the conversion exploitability uses)
from arena.players.base import Turn  # noqa: E402
from arena.players.factory import BackendPool  # noqa: E402
from arena.sessions import players_by_name  # noqa: E402
from arena.store import open_db  # noqa: E402
from arena.train_config import TrainConfig  # noqa: E402
from trainer.run import Trainer, register_checkpoint  # noqa: E402

TOLERANCE = 1e-5


def _decisions(game_id: str, count: int, seed: int) -> list[games.State]:
    """`count` distinct decision states of the game, along seeded random play."""
    game = games.make(game_id)
    rng = random.Random(seed)
    found: dict[str, games.State] = {}
    for _ in range(200):
        state = game.new_initial_state()
        while not state.is_terminal() and len(found) < count:
            player = state.current_player()
            if player < 0:
                outcomes = state.chance_outcomes()
                state.apply(rng.choice(outcomes)[0])
                continue
            found.setdefault(f"{player}|{state.information_state(player)}", state.clone())
            state.apply(rng.choice(state.legal_actions()))
        if len(found) >= count:
            break
    return list(found.values())


def _turn(game: games.Game, state: games.State, match_seed: int) -> Turn:
    """The turn the match loop hands a player at `state` (first attempt)."""
    return Turn(
        game=game,
        state=state.clone(),
        seat=state.current_player(),
        legal_actions=list(state.legal_actions()),
        rng=random.Random(match_seed),
        move_index=0,
        memory={},
        match_seed=match_seed,
    )


@pytest.mark.parametrize(
    ("temperature", "include_rules"), [(1.0, True), (0.5, False)], ids=["t1-rules", "t0.5-short"]
)
def test_the_checkpoint_player_plays_the_trainers_policy(
    tiny_model_dir, tmp_path, temperature, include_rules
):
    config = TrainConfig(
        games=["kuhn_poker"],
        base=str(tiny_model_dir),
        batch_games=4,
        lr=1e-3,
        temperature=temperature,
        include_rules=include_rules,
        device="cpu",
        seed=3,
        name="agree",
    )
    trainer = Trainer(config, tmp_path / "job")
    trainer.train_step()  # the checkpoint is a trained model, not the base
    folder = trainer.save()
    db = open_db(tmp_path / "arena.db")
    name = register_checkpoint(db, "agree", trainer.step, folder, config)
    pool = BackendPool()
    (player,) = players_by_name(db, [name], pool)
    assert player.decode == "score" and player.sampling.temperature == temperature

    loop = asyncio.new_event_loop()  # one loop for the backend's life, as in a tournament
    worst = 0.0
    try:
        for game_id, count in (("kuhn_poker", 12), ("tictactoe", 8)):
            game = games.make(game_id)
            states = _decisions(game_id, count, seed=len(game_id))
            assert len(states) == count
            positions = [trainer.policy.position_for_state(game, s) for s in states]
            trained = trainer.policy.probabilities(positions)
            for i, (state, pos, mine) in enumerate(zip(states, positions, trained, strict=True)):
                reply = loop.run_until_complete(player.act(_turn(game, state, match_seed=i)))
                assert reply.action in pos.actions
                played = _tempered([reply.policy[a] for a in pos.actions], player)
                assert list(pos.actions) == state.legal_actions()
                diff = max(abs(a - b) for a, b in zip(mine, played, strict=True))
                worst = max(worst, diff)
                assert diff < TOLERANCE, (game_id, state.history(), mine, played)
                if len(mine) > 1:  # the agreement is not that of two uniform distributions
                    assert max(mine) - min(mine) > 1e-3, (game_id, mine)
    finally:
        loop.run_until_complete(pool.aclose())
        loop.close()
        trainer.close()
    print(f"max abs difference: {worst:.3g}")
