"""`ReplayView`: step through a stored match move by move.

Shows the board at each point (rebuilt by the game's rules in `replay_steps`), the mover, and
for every attempt of the move the prompt (the messages) and the raw reply; illegal attempts are
highlighted and carry their error. A model's reasoning is shown apart from its answer, folded
(a collapsed section: click it, or `f` folds and unfolds every one of the move). Every stored string goes through `literal`: replies, prompts,
names and even board text (negotiation and spy boards quote what the models wrote).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Collapsible, Static

from arena.tui.safe import literal
from arena.tui.widgets.replay_steps import AttemptView, Replay, Step


def _title(replay: Replay) -> Text:
    players = " v ".join(replay.players)
    params = " ".join(f"{k}={v}" for k, v in sorted(replay.params.items()))
    text = Text(f"match {replay.match_id} · {replay.game} ", style="bold")
    if params:
        text.append_text(literal(f"({params}) "))
    text.append_text(literal(players))
    text.append(f" · {replay.status}")
    if replay.result:
        text.append(" · ")
        text.append_text(literal(replay.result))  # it quotes the players' names
    if replay.error:
        text.append(" · ")
        text.append_text(literal(replay.error))
    return text


def _move_line(step: Step, total: int) -> Text:
    text = Text(f"move {step.index}/{total}", style="bold")
    if step.seat is None:
        text.append("  initial position")
        return text
    text.append("  ")
    text.append_text(literal(step.mover))
    text.append(" played " if step.seat >= 0 else ": ")
    text.append_text(literal(step.action or "", style="bold"))
    if step.forced:
        text.append("  (random legal move after the last illegal attempt)")
    return text


def _prompt_text(messages: list[dict[str, str]] | None) -> Text:
    if not messages:
        return Text("prompt: none (not a model)", style="dim")
    text = Text(f"prompt ({len(messages)} messages)\n", style="bold")
    for message in messages:
        text.append_text(literal(f"[{message.get('role', '?')}]", style="italic"))
        text.append("\n")
        text.append_text(literal(message.get("content", "")))
        text.append("\n")
    text.rstrip()
    return text


def _header(a: AttemptView) -> Text:
    verdict = "legal" if a.legal else "ILLEGAL"
    text = Text(f"attempt {a.number + 1} · {verdict}", style="bold")
    if a.parsed:
        text.append(" → ")
        text.append_text(literal(a.parsed))
    if a.latency_s is not None:
        text.append(f" · {a.latency_s:.3f} s")
    return text


def _policy(policy: dict[str, float]) -> Text:
    top = sorted(policy.items(), key=lambda kv: -kv[1])[:6]
    text = Text("policy: ", style="dim")
    text.append_text(literal(", ".join(f"{a} {p:.2f}" for a, p in top), style="dim"))
    return text


def _reasoning_title(reasoning: str) -> str:
    lines = reasoning.count("\n") + 1
    return f"reasoning ({lines} line{'s' if lines != 1 else ''}, {len(reasoning)} characters)"


class AttemptPanel(Vertical):
    """One attempt: verdict, error (illegal only), the reasoning folded, the answer (the raw
    reply when there is no reasoning), prompt."""

    def __init__(self, attempt: AttemptView) -> None:
        super().__init__(classes="attempt " + ("legal" if attempt.legal else "illegal"))
        self.attempt = attempt

    def compose(self) -> ComposeResult:
        a = self.attempt
        yield Static(_header(a), classes="attempt-header")
        if not a.legal:
            yield Static(literal(a.error or "illegal"), classes="attempt-error")
        if a.reasoning:
            yield Collapsible(
                Static(literal(a.reasoning), classes="attempt-reasoning-text"),
                title=_reasoning_title(a.reasoning),
                collapsed=True,
                classes="attempt-reasoning",
            )
            yield Static("answer", classes="attempt-label")
            yield Static(literal(a.answer), classes="attempt-reply")
        else:
            if a.prompt is not None:  # a model's raw reply, as opposed to a bot's chosen action
                yield Static("raw reply", classes="attempt-label")
            yield Static(literal(a.reply), classes="attempt-reply")
        if a.policy:
            yield Static(_policy(a.policy), classes="attempt-policy")
        yield Static(_prompt_text(a.prompt), classes="attempt-prompt")


class ReplayView(Vertical, can_focus=True):
    """A match, one move at a time: n/→ next, b/← previous, home/end, v toggles prompts, f
    unfolds or folds the reasoning."""

    DEFAULT_CSS = """
    ReplayView { height: 1fr; }
    ReplayView:focus { background-tint: $foreground 0%; }
    ReplayView #replay-title { height: auto; max-height: 2; margin: 0 1; }
    ReplayView #replay-move { height: 1; margin: 0 1; color: $accent; }
    ReplayView #replay-note { height: auto; margin: 0 1; color: $warning; }
    ReplayView #replay-body { height: 1fr; width: 100%; }
    ReplayView #replay-board-pane { width: 2fr; min-width: 20; border: round $primary; }
    ReplayView #replay-attempts { width: 3fr; border: round $primary; }
    ReplayView .attempt { height: auto; margin: 0 0 1 0; padding: 0 1;
        border-left: thick $success; }
    ReplayView .attempt.illegal { border-left: thick $error; background: $error 10%; }
    ReplayView .attempt-header { text-style: bold; }
    ReplayView .illegal .attempt-header { color: $error; }
    ReplayView .attempt-error { color: $error; }
    ReplayView .attempt-label { color: $text-muted; text-style: italic; }
    ReplayView .attempt-reply { background: $boost; }
    ReplayView .attempt-prompt { color: $text-muted; }
    ReplayView .attempt-reasoning { margin: 0; padding: 0; border-top: none;
        background: $boost; }
    ReplayView .attempt-reasoning-text { color: $text-muted; }
    ReplayView.-hide-prompts .attempt-prompt { display: none; }
    ReplayView .replay-empty { color: $text-muted; }
    """
    BINDINGS = [
        Binding("n,right", "step(1)", "Next", id="replay.next", tooltip="Next move"),
        Binding("b,left", "step(-1)", "Prev", id="replay.previous", tooltip="Previous move"),
        Binding("home", "jump(0)", "Start", id="replay.start", tooltip="Initial position"),
        Binding("end", "jump(-1)", "End", id="replay.end", tooltip="Final position"),
        Binding(
            "v", "toggle_prompts", "Prompts", id="replay.prompts", tooltip="Show or hide prompts"
        ),
        Binding(
            "f",
            "toggle_reasoning",
            "Reasoning",
            id="replay.reasoning",
            tooltip="Unfold or fold the models' reasoning of this move",
        ),
        Binding("down", "scroll_attempts(1)", "Scroll", show=False, id="replay.scroll_down"),
        Binding("up", "scroll_attempts(-1)", "Scroll", show=False, id="replay.scroll_up"),
        Binding("pagedown", "page_attempts(1)", show=False, id="replay.page_down"),
        Binding("pageup", "page_attempts(-1)", show=False, id="replay.page_up"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.replay: Replay | None = None
        self.index = 0

    def compose(self) -> ComposeResult:
        yield Static(id="replay-title")
        yield Static(id="replay-move")
        yield Static(id="replay-note")
        with Horizontal(id="replay-body"):
            with VerticalScroll(id="replay-board-pane", can_focus=False):
                yield Static(id="replay-board")
            yield VerticalScroll(id="replay-attempts", can_focus=False)

    async def load(self, replay: Replay, index: int = 0) -> None:
        """Show `replay` from move `index` (the attribute goes down; nothing goes up)."""
        self.replay = replay
        self.query_one("#replay-title", Static).update(_title(replay))
        note = self.query_one("#replay-note", Static)
        note.update(literal(replay.rebuild_error or ""))
        note.display = replay.rebuild_error is not None
        await self.show(index)

    @property
    def step(self) -> Step | None:
        return None if self.replay is None else self.replay.steps[self.index]

    async def show(self, index: int) -> None:
        """Move to step `index` (clamped): board, mover and attempts of that move."""
        if self.replay is None:
            return
        self.index = max(0, min(index, self.replay.num_moves))
        step = self.replay.steps[self.index]
        self.query_one("#replay-move", Static).update(_move_line(step, self.replay.num_moves))
        self.query_one("#replay-board", Static).update(literal(step.board))
        pane = self.query_one("#replay-attempts", VerticalScroll)
        await pane.remove_children()
        if step.attempts:
            await pane.mount_all(AttemptPanel(a) for a in step.attempts)
        else:
            why = "the initial position" if step.seat is None else "no attempts recorded"
            if step.seat is not None and step.seat < 0:
                why = "a chance move"
            await pane.mount(Static(why, classes="replay-empty"))
        pane.scroll_home(animate=False)

    async def action_step(self, delta: int) -> None:
        await self.show(self.index + delta)

    async def action_jump(self, index: int) -> None:
        if self.replay is not None:
            await self.show(self.replay.num_moves if index < 0 else index)

    def action_toggle_prompts(self) -> None:
        self.toggle_class("-hide-prompts")

    def action_toggle_reasoning(self) -> None:
        """Unfold every folded reasoning of the move shown, or fold them all when all are open."""
        folds = list(self.query(".attempt-reasoning").results(Collapsible))
        unfold = any(c.collapsed for c in folds)
        for fold in folds:
            fold.collapsed = not unfold

    def action_scroll_attempts(self, lines: int) -> None:
        pane = self.query_one("#replay-attempts", VerticalScroll)
        pane.scroll_relative(y=lines, animate=False)

    def action_page_attempts(self, direction: int) -> None:
        pane = self.query_one("#replay-attempts", VerticalScroll)
        pane.scroll_relative(y=direction * max(1, pane.size.height - 1), animate=False)
