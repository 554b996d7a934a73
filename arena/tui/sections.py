"""The app's sections: the screen each one is, its key and its title (the app builds its modes
and bindings from this, the Help screen its list)."""

from __future__ import annotations

SECTIONS: dict[str, tuple[str, str, str, str]] = {
    # mode: (module, class, key, title)
    "leaderboard": ("leaderboard", "LeaderboardScreen", "l", "Leaderboard"),
    "players": ("players", "PlayersScreen", "p", "Players"),
    "tournament": ("tournament", "TournamentScreen", "t", "Tournament"),
    "play": ("play", "PlayScreen", "g", "Play"),
    "replays": ("replays", "ReplaysScreen", "r", "Replays"),
    "training": ("training", "TrainingScreen", "j", "Training"),
}
