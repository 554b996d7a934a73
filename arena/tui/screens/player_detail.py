"""A player's detail: ratings history as a plot, its latest evaluations (exploitability at
Kuhn/Leduc poker, from `arena eval`), results by opponent, recent matches."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Sparkline, Static

from arena.tui.safe import literal


class PlayerDetailScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    PlayerDetailScreen { align: center middle; }
    PlayerDetailScreen > Vertical {
        width: 96%; height: 90%; border: round $accent; background: $surface; padding: 0 1;
    }
    PlayerDetailScreen Sparkline { height: 5; margin: 1 0; }
    PlayerDetailScreen Horizontal { height: 1fr; }
    PlayerDetailScreen DataTable { width: 1fr; }
    /* The opponents table has three short columns: the recent matches get the rest, so that
       their result column shows at 80 columns. */
    PlayerDetailScreen #opponents { width: auto; max-width: 50%; margin-right: 2; }
    PlayerDetailScreen #evaluations { height: auto; max-height: 6; margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape", "dismiss", "Close", id="detail.close")]

    def __init__(self, name: str, scope: str | None) -> None:
        super().__init__()
        self.player_name = name
        self.scope = scope

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="title")
            yield Sparkline([], id="history")
            yield Static("", id="range")
            evaluations = DataTable(id="evaluations", cursor_type="none")
            evaluations.can_focus = False  # a few lines to read: focus stays on the opponents
            yield evaluations
            with Horizontal():
                yield DataTable(id="opponents", cursor_type="row")
                yield DataTable(id="recent", cursor_type="row")

    def on_mount(self) -> None:
        from arena.leaderboard import win_rates
        from arena.store.players import get_player
        from arena.store.queries import list_matches
        from arena.store.standings import conservative_rating_history

        db = self.app.db
        row = get_player(db, self.player_name)
        scope = self.scope or "*"
        history = conservative_rating_history(db, row.id, scope)
        title = literal(f"{row.name}  ({row.kind})  {self.scope or 'overall'}", style="bold")
        self.query_one("#title", Static).update(title)
        self.query_one(Sparkline).data = history or [0.0]
        if history:
            self.query_one("#range", Static).update(
                f"conservative rating over {len(history)} rated matches: "
                f"{history[0]:.2f} -> {history[-1]:.2f} (min {min(history):.2f}, max {max(history):.2f})"
            )
        self._show_evaluations(row.id)
        opponents = self.query_one("#opponents", DataTable)
        opponents.add_columns("opponent", "score", "games")
        for other, (rate, n) in sorted(win_rates(db, self.scope).get(row.name, {}).items()):
            opponents.add_row(literal(other), f"{rate:.0%}", n)
        recent = self.query_one("#recent", DataTable)
        recent.add_columns("match", "game", "players", "result")
        matches = list_matches(db, player=row.name, game=self.scope)[-15:]
        for m in reversed(matches):
            seat = m["players"].index(row.name)
            result = m["outcomes"][seat] or m["status"]
            recent.add_row(m["id"], m["game"], literal(" v ".join(m["players"])), result)

    def _show_evaluations(self, player_id: int) -> None:
        """The newest stored evaluation per game (hidden when there is none)."""
        from arena.store.evaluations import latest_evaluations

        table = self.query_one("#evaluations", DataTable)
        rows = latest_evaluations(self.app.db, player_id)
        table.display = bool(rows)
        table.add_columns("game", "measure", "value", "how", "date")
        for e in rows:
            if e.method == "sampled" and e.ci_low is not None and e.ci_high is not None:
                level = e.details.get("confidence") or 0.95
                how = f"sampled, {level:.0%} CI {e.ci_low:.4f} to {e.ci_high:.4f}"
            else:
                how = e.method
            table.add_row(
                literal(e.game), literal(e.metric), f"{e.value:.4f}", how, e.created_at[:10]
            )
