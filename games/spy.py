"""Who is the spy: everyone but one shares a secret word; clues and a vote find the odd one out.

Chance first picks a pair of similar words and which of the two the civilians get
(`pair 17 a`: pair 17, civilians get its first word; nobody sees this outcome). Then one chance
node per seat deals that seat its word (`seat 2 gets: coffee`), seen only by that seat. Exactly
one seat gets the other word of the pair: seat i gets it with probability 1/(n - i) while no
spy has been dealt, so the spy's seat is uniform. Nobody is told their role.

Then `clue_rounds` rounds of clues, seats in order (`clue: hot drink`, one line of 1..60
characters that does not contain the player's own word), then one vote each, seats in order
(`vote: 3`). Votes stay hidden until everyone has voted; the seat with the most votes is out, a
tie puts nobody out. The civilians win as a team if the spy is out, otherwise the spy wins.
Payoffs are zero-sum: the winning side shares +1, the losing side -1 (a civilian's share is
1/(n-1)).

The word list is package data (`games/data/spy_words.json`); pair indices appear in histories,
so the list is append-only.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

from games.core import (
    CHANCE,
    TERMINAL,
    Game,
    GameParamError,
    IllegalActionError,
    Parsed,
    State,
    replay,
)
from games.parsing import drop_listings, format_moves, marker_error, normalize, read_reply

MAX_CLUE_CHARS = 60
_STRIP = " \t\r\n.,;:!?*`'\"()[]{}<>_~"
# A clue runs to the end of its line or to the next clue marker on it.
_CLUE_RE = re.compile(
    r"\bclue[ \t]{0,3}(?::|=|\bis\b[ \t]{0,3}:?)\s{0,20}([^\n]*?)(?=\bclue[ \t]{0,3}[:=]|\n|$)",
    re.IGNORECASE,
)
# Read on lower-cased text with its whitespace collapsed: each optional space is one character,
# which keeps the pattern linear.
_VOTE_RE = re.compile(
    r"\bvot(?:e|es|ing)\b ?(?:(?:for|against|on|to eliminate) ?)?[:=\-]? ?"
    r"(?:player|seat|p)? ?#? ?(\d{1,6})(?!\d)"
)
# A clue or a vote by itself: an item of an echoed list of moves.
_SPY_MOVE_RE = re.compile(r"(?:clue|vote) ?[:=].{0,60}|(?:player |seat |p)?#?\d{1,6}")
# A seat in a final answer ("3", "player 2", "#1"): every number counts, so "1 or 2" is two.
_SEAT_RE = re.compile(r"(?<![\w.])(?:(?:player|seat|p) ?)?#?(\d{1,6})(?![\w.])")
_IRREGULAR_PLURALS = {"mouse": "mice", "foot": "feet", "tooth": "teeth", "goose": "geese"}


class WordList(NamedTuple):
    """The spy word list: pairs of similar words and clue associations for every word."""

    pairs: tuple[tuple[str, str], ...]
    associations: dict[str, tuple[str, ...]]


@lru_cache(maxsize=1)
def word_list() -> WordList:
    """The word list shipped with the package (loaded once)."""
    raw = json.loads(resources.files("games").joinpath("data/spy_words.json").read_text("utf-8"))
    pairs = tuple((a, b) for a, b in raw["pairs"])
    assoc = {w: tuple(clues) for w, clues in raw["associations"].items()}
    return WordList(pairs, assoc)


def forbidden_forms(word: str) -> set[str]:
    """Spellings of `word` a clue may not contain: the word (so also -s/-es plurals and longer
    words built on it), its -ies/-ves/irregular plural, and the singular of a plural word."""
    word = word.lower()
    forms = {word}
    if len(word) > 2 and word.endswith("y") and word[-2] not in "aeiou":
        forms.add(word[:-1] + "ies")
    if word.endswith("fe"):
        forms.add(word[:-2] + "ves")
    elif word.endswith("f"):
        forms.add(word[:-1] + "ves")
    if word in _IRREGULAR_PLURALS:
        forms.add(_IRREGULAR_PLURALS[word])
    if len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us")):
        forms.add(word[:-1])
    return forms


def clue_error(clue: str, word: str) -> str | None:
    """Why `clue` is not allowed for a player holding `word` (None when it is allowed)."""
    low = clue.lower()
    for form in sorted(forbidden_forms(word), key=len):
        if form in low:
            return (
                f"your clue contains your own word ('{form}' in '{clue}'); "
                "describe it without saying it, not even inside another word"
            )
    return None


def clean_clue(text: str) -> tuple[str | None, str | None]:
    """The canonical clue text (lower case, one line, trimmed) or `(None, reason)`."""
    clue = " ".join(text.split()).strip(_STRIP).lower()
    if not clue:
        return None, "the clue is empty; write e.g. 'clue: hot drink'"
    if len(clue) > MAX_CLUE_CHARS:
        return None, f"the clue is {len(clue)} characters long; at most {MAX_CLUE_CHARS}"
    err = marker_error(clue, "clue")
    if err is not None:
        return None, err
    return clue, None


def _votes_text(text: str) -> str:
    """The distinct votes `text` names, for an error message."""
    seats = {int(s) for s in _VOTE_RE.findall(" ".join(text.lower().split()))}
    seats = seats or {int(s) for s in _SEAT_RE.findall(normalize(text))}
    return ", ".join(f"vote: {s}" for s in sorted(seats))


def _is_spy_move(text: str) -> bool:
    """Whether `text` by itself is a clue or a vote (an item of a list of moves)."""
    return _SPY_MOVE_RE.fullmatch(normalize(text)) is not None


class SpyState(State):
    __slots__ = ("game", "hist", "pair", "civ", "spy_word", "words", "spy", "clues", "votes")

    def __init__(self, game: Spy) -> None:
        self.game = game
        self.hist: list[str] = []
        self.pair = -1
        self.civ = ""  # the civilians' word
        self.spy_word = ""
        self.words: list[str] = []  # dealt words, by seat
        self.spy = -1  # the spy's seat once dealt
        self.clues: list[tuple[int, str]] = []
        self.votes: list[int] = []  # target of each seat, in seat order

    # --- the contract --------------------------------------------------------------------
    def current_player(self) -> int:
        g = self.game
        t = len(self.hist) - g.num_players - 1
        if t < 0:
            return CHANCE
        if t < g.num_clues:
            return t % g.num_players
        t -= g.num_clues
        return t if t < g.num_players else TERMINAL

    def chance_outcomes(self) -> list[tuple[str, float]]:
        k = len(self.hist)
        n = self.game.num_players
        if k == 0:
            return list(self.game.pair_outcomes)
        if k > n:
            return []
        seat = k - 1
        civ = (f"seat {seat} gets: {self.civ}", 1.0)
        if self.spy >= 0:
            return [civ]
        p_spy = 1.0 / (n - seat)
        spy = (f"seat {seat} gets: {self.spy_word}", p_spy)
        return [spy] if p_spy >= 1.0 else [(civ[0], 1.0 - p_spy), spy]

    def legal_actions(self) -> list[str]:
        p = self.current_player()
        if p < 0:
            return []
        if len(self.clues) < self.game.num_clues:
            return list(self.game.menu_clues(self.words[p]))
        return [f"vote: {k}" for k in range(self.game.num_players) if k != p]

    def check(self, action: str) -> str | None:
        """Why the canonical `action` is not allowed for the seat to move (None when it is)."""
        p = self.current_player()
        if p < 0:
            return "no move is possible now: it is not a player's turn"
        n = self.game.num_players
        if len(self.clues) < self.game.num_clues:
            if not action.startswith("clue: "):
                return "it is your turn to give a clue: write 'clue: <a few words>'"
            clue, err = clean_clue(action[6:])
            if clue is None:
                return err
            return clue_error(clue, self.words[p])
        m = re.fullmatch(r"vote: (0|[1-9]\d{0,2})", action)
        if m is None:
            return "it is your turn to vote: write 'vote: <player number>'"
        target = int(m.group(1))
        if target == p:
            return "you cannot vote for yourself"
        if target >= n:
            return f"there is no player {target}; players are numbered 0 to {n - 1}"
        return None

    def apply(self, action: str) -> None:
        if not isinstance(action, str):
            raise IllegalActionError(f"{action!r} is not a move")
        p = self.current_player()
        if p == CHANCE:
            self._deal(action)
            return
        if p == TERMINAL:
            raise IllegalActionError(f"the game is over; {action!r} cannot be played")
        clue_turn = len(self.clues) < self.game.num_clues
        if not (clue_turn and action in self.game.menu_clue_set(self.words[p])):
            # Anything off the menu is validated by the parser: it must parse to itself.
            parsed = self.game.parse_action(self, action)
            if parsed.action != action:
                reason = parsed.error or f"not canonical (it parses as {parsed.action!r})"
                raise IllegalActionError(f"illegal spy move {action!r}: {reason}")
        if clue_turn:
            self.clues.append((p, action[6:]))
        else:
            self.votes.append(int(action[6:]))
        self.hist.append(action)

    def _deal(self, action: str) -> None:
        if len(self.hist) == 0:
            found = self.game.pair_lookup.get(action)
            if found is None:
                raise IllegalActionError(f"{action!r} is not a chance outcome here")
            self.pair, self.civ, self.spy_word = found
        else:
            if action not in dict(self.chance_outcomes()):
                raise IllegalActionError(f"{action!r} is not a chance outcome here")
            word = action.split(": ", 1)[1]
            if word == self.spy_word:
                self.spy = len(self.words)
            self.words.append(word)
        self.hist.append(action)

    def eliminated(self) -> int:
        """The seat voted out once everyone has voted; -1 on a tie (or before the vote ends)."""
        n = self.game.num_players
        if len(self.votes) < n:
            return -1
        counts = [0] * n
        for target in self.votes:
            counts[target] += 1
        top = max(counts)
        return counts.index(top) if counts.count(top) == 1 else -1

    def returns(self) -> list[float]:
        n = self.game.num_players
        if self.current_player() != TERMINAL:
            return [0.0] * n
        sign = 1.0 if self.eliminated() == self.spy else -1.0  # +1: the civilians win
        share = sign / (n - 1)
        return [-sign if seat == self.spy else share for seat in range(n)]

    def teams(self) -> list[int]:
        """The civilians are team 0, the spy team 1."""
        return [1 if seat == self.spy else 0 for seat in range(self.game.num_players)]

    def clone(self) -> SpyState:
        other = SpyState.__new__(SpyState)
        other.game = self.game
        other.hist = self.hist[:]
        other.pair = self.pair
        other.civ = self.civ
        other.spy_word = self.spy_word
        other.words = self.words[:]
        other.spy = self.spy
        other.clues = self.clues[:]
        other.votes = self.votes[:]
        return other

    def history(self) -> list[str]:
        return list(self.hist)

    def public_history(self) -> list[str]:
        n = self.game.num_players
        public = []
        for k, action in enumerate(self.hist):
            if k == 0:
                public.append("pair ?")
            elif k <= n:
                public.append(f"seat {k - 1} gets: ?")
            elif action.startswith("vote: ") and not self.is_terminal():
                public.append("vote: ?")
            else:
                public.append(action)
        return public

    def information_state(self, player: int) -> str:
        if self.current_player() == TERMINAL:  # everything is revealed at the end
            return f"{player}|end|" + "\x1f".join(self.hist)
        word = self.words[player] if player < len(self.words) else "-"
        own_vote = self.votes[player] if player < len(self.votes) else "-"
        clues = "\x1f".join(f"{seat}:{clue}" for seat, clue in self.clues)
        return f"{player}|{len(self.hist)}|{word}|{own_vote}|{clues}"

    def indistinguishable_states(self, player: int) -> list[State]:
        if self.current_player() == TERMINAL or not self.hist:
            return []  # at the end the spy and every vote are revealed
        g = self.game
        n = g.num_players
        dealt = min(len(self.hist), n + 1)
        configs: list[tuple[int, int, int]] = []  # (pair, civilians' side 0/1, spy seat)
        side = 0 if g.word_pairs[self.pair][0] == self.civ else 1
        spy = self.spy if self.spy >= 0 else n  # n: the spy is not dealt yet
        if player < len(self.words):
            # The player knows its word, not its role: the spy may sit anywhere, itself included.
            for seat in range(n):
                civ_side = side if (seat == player) == (player == self.spy) else 1 - side
                configs.append((self.pair, civ_side, seat))
        else:
            # Its word is not dealt yet: the pair, the roles and earlier deals are all unknown.
            npairs = len(g.word_pairs)
            for shift in (1, npairs // 2):
                configs.append(((self.pair + shift) % npairs, side, spy))
            configs.append((self.pair, 1 - side, spy))
            configs += [(self.pair, side, seat) for seat in range(dealt - 1)]
        swaps = []
        seen = {tuple(self.hist[:dealt])}
        for cfg in configs:
            prefix = g.deal_actions(*cfg)[:dealt]
            if tuple(prefix) not in seen:
                seen.add(tuple(prefix))
                swaps.append({k: a for k, a in enumerate(prefix) if a != self.hist[k]})
        # Cast votes of other seats are secret until the vote ends.
        first_vote = n + 1 + g.num_clues
        for seat, target in enumerate(self.votes):
            if seat != player:
                options = [k for k in range(n) if k not in (seat, target)]
                swaps.append({first_vote + seat: f"vote: {options[0]}"})
        found = []
        for swap in swaps[:8]:
            state = replay(g, self.hist, swap)
            if state is not None:
                found.append(state)
        return found

    # --- read-only accessors for boards (a seat's word and vote are secret from the others
    # until the game is over; the clues and the number of votes cast are public) ------------
    def word(self, seat: int) -> str | None:
        """`seat`'s secret word, None before it is dealt. Show it to `seat` only (or to
        everyone once the game is over)."""
        return self.words[seat] if seat < len(self.words) else None

    def clues_given(self) -> list[tuple[int, str]]:
        """(seat, clue) of every clue so far, in order."""
        return list(self.clues)

    def votes_cast(self) -> int:
        """How many seats have voted."""
        return len(self.votes)

    def vote_of(self, seat: int) -> int | None:
        """The seat `seat` voted for, None before it voted. Secret from the other seats until
        everyone has voted (the game is then over)."""
        return self.votes[seat] if seat < len(self.votes) else None

    # --- text ----------------------------------------------------------------------------
    def _clue_lines(self, player: int) -> list[str]:
        if not self.clues:
            return ["Clues so far: none yet."]
        n = self.game.num_players
        lines = ["Clues so far:"]
        for i, (seat, clue) in enumerate(self.clues):
            you = " (you)" if seat == player else ""
            lines.append(f"  round {i // n + 1}, player {seat}{you}: {clue}")
        return lines

    def observation(self, player: int) -> str:
        g = self.game
        n = g.num_players
        lines = [f"Who is the spy? You are player {player} of {n} (players 0 to {n - 1})."]
        if player < len(self.words):
            lines.append(f"Your secret word: {self.words[player]}")
        else:
            lines.append("Your word has not been dealt yet.")
        lines.append(
            "All players but one share the same word; the spy has a different, related word. "
            "Nobody is told their role: you may be the spy."
        )
        p = self.current_player()
        if p == CHANCE:
            return "\n".join(lines)
        lines += self._clue_lines(player)
        if len(self.clues) < g.num_clues:
            rnd = len(self.clues) // n + 1
            if p != player:
                lines.append(f"Round {rnd} of {g.clue_rounds}: it is player {p}'s turn to clue.")
                return "\n".join(lines)
            legal = self.legal_actions()
            lines += [
                f"Round {rnd} of {g.clue_rounds}: it is your turn to give a clue.",
                "Write one line: clue: <words> (at most 60 characters, without your word, "
                "not even inside another word or as a plural).",
                f"Suggested clues: {format_moves(legal)}",
            ]
            return "\n".join(lines)
        cast = len(self.votes)
        if p == TERMINAL:
            return "\n".join(lines + self._result_lines(player))
        lines.append(f"Voting: {cast} of {n} players have voted; votes stay secret until all have.")
        if player < cast:
            lines.append(f"Your vote: player {self.votes[player]}.")
        if p == player:
            lines.append(
                "It is your turn to vote for the player you think is the spy. "
                f"Write: vote: <player number>. Legal moves: {format_moves(self.legal_actions())}"
            )
        else:
            lines.append(f"It is player {p}'s turn to vote.")
        return "\n".join(lines)

    def _result_lines(self, player: int) -> list[str]:
        n = self.game.num_players
        votes = ", ".join(f"player {s} -> player {t}" for s, t in enumerate(self.votes))
        out = self.eliminated()
        lines = [f"Votes: {votes}."]
        if out < 0:
            lines.append("The vote is tied: nobody is out.")
        else:
            lines.append(f"Player {out} got the most votes and is out.")
        lines.append(
            f"The spy was player {self.spy} (word: {self.spy_word}); "
            f"the civilians' word was {self.civ}."
        )
        civ_win = out == self.spy
        lines.append("The civilians win." if civ_win else "The spy wins.")
        lines.append(f"Your result: {self.returns()[player]:+.3f} (of {n} players).")
        return lines

    def __str__(self) -> str:
        # A neutral view: public clues and the vote count only.
        lines = self._clue_lines(-1)
        if self.votes:
            lines.append(f"{len(self.votes)} vote(s) cast.")
        return "\n".join(lines)


RULES = """\
Who is the spy? {n} players, numbered 0 to {last}. Every player gets a secret word. All but one
get the same word; one player, the spy, gets a different but related word (for example coffee
and tea). Nobody is told their role, so you do not know whether you are the spy.
There are {rounds} round(s) of clues. In each round every player, in seat order, gives one
clue about their word: one line of 1 to 60 characters, written as
  clue: <words>
A clue may not contain your own word, in any case, as a plural, or inside another word.
Be clear enough for players with your word to recognise you, vague enough not to give the word
away: a spy who guesses the other word can blend in.
Then every player, in seat order, votes for another player they suspect, written as
  vote: <player number>
Votes stay secret until everyone has voted. The player with the most votes is out; if several
tie for the most votes, nobody is out.
The civilians win together if the spy is out; otherwise the spy wins. A win is worth +1 and a
loss -1 for each side; the civilians share theirs ({share} each)."""


class Spy(Game):
    id = "spy"
    name = "Who is the spy"
    min_players = 3
    max_players = 6
    chance = True
    hidden_info = True
    free_text = True
    description = "Everyone shares a secret word but one: give clues, then vote out the spy."
    PARAMS = {"num_players": 4, "clue_rounds": 2}
    BOTS = {"heuristic": "games.bots.spy_bot:SpyHeuristic"}

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self.clue_rounds: int = self.params["clue_rounds"]
        self.num_clues = self.clue_rounds * self.num_players
        words = word_list()
        self.word_pairs = words.pairs
        self.associations = words.associations
        p = 1.0 / (2 * len(words.pairs))
        self.pair_outcomes = tuple(
            (f"pair {i} {side}", p) for i in range(len(words.pairs)) for side in "ab"
        )
        self.pair_lookup = {
            f"pair {i} {side}": (i, (a, b)[s], (b, a)[s])
            for i, (a, b) in enumerate(words.pairs)
            for s, side in enumerate("ab")
        }
        self._menus: dict[str, tuple[str, ...]] = {}
        self._menu_sets: dict[str, frozenset[str]] = {}

    def validate_params(self) -> None:
        if not 1 <= self.params["clue_rounds"] <= 5:
            raise GameParamError(f"spy: clue_rounds must be 1..5, got {self.params['clue_rounds']}")

    def menu_clues(self, word: str) -> tuple[str, ...]:
        """The canonical clues offered to a holder of `word`: its associations."""
        menu = self._menus.get(word)
        if menu is None:
            menu = tuple(
                f"clue: {a}"
                for a in self.associations.get(word, ())
                if clue_error(a, word) is None and clean_clue(a)[0] == a
            )
            self._menus[word] = menu
            self._menu_sets[word] = frozenset(menu)
        return menu

    def menu_clue_set(self, word: str) -> frozenset[str]:
        """`menu_clues(word)` as a set, for fast membership tests."""
        if word not in self._menu_sets:
            self.menu_clues(word)
        return self._menu_sets[word]

    def deal_actions(self, pair: int, civ_side: int, spy_seat: int) -> list[str]:
        """The chance outcomes of a whole deal: pair `pair`, civilians get word `civ_side`
        (0 or 1) of it, the spy sits at `spy_seat` (beyond the last seat: not dealt)."""
        words = self.word_pairs[pair]
        civ, spy = words[civ_side], words[1 - civ_side]
        deal = [f"pair {pair} {'ab'[civ_side]}"]
        deal += [f"seat {i} gets: {spy if i == spy_seat else civ}" for i in range(self.num_players)]
        return deal

    def rules(self) -> str:
        n = self.num_players
        return RULES.format(n=n, last=n - 1, rounds=self.clue_rounds, share=f"1/{n - 1}")

    def new_initial_state(self) -> SpyState:
        return SpyState(self)

    def parse_action(self, state: State, text: str) -> Parsed:
        p = state.current_player()
        if p < 0:
            return Parsed.illegal("no move is possible now: it is not a player's turn")
        reply = read_reply(text)
        if reply is None:
            return Parsed.illegal("the reply was empty; " + self._hint(state))
        answer = reply.answer
        # Echoes of the prompt's list of moves ("Legal moves: vote: 1, vote: 2") never count.
        focus, _ = drop_listings(answer if answer is not None else reply.text, _is_spy_move)
        focus = focus.strip()
        last_line = focus[focus.rfind("\n") + 1 :]
        legal = format_moves(state.legal_actions())
        several = "the reply names several moves ({}); give exactly one. Legal moves: " + legal
        if len(state.clues) < self.num_clues:  # type: ignore[attr-defined]
            raws = [m.group(1) for m in _CLUE_RE.finditer(focus)]
            if not raws and answer is None:
                return Parsed.illegal(self._hint(state))
            if len({clean_clue(raw)[0] for raw in raws}) > 1:
                # Several different clues: only one alone on the last line is the choice.
                on_last = _CLUE_RE.findall(last_line) if answer is None else []
                if len(on_last) != 1:
                    shown = ", ".join(f"clue: {clean_clue(raw)[0] or raw}" for raw in raws)
                    return Parsed.illegal(several.format(shown))
                raws = on_last
            clue, err = clean_clue(raws[-1] if raws else focus)
            if clue is None:
                return Parsed.illegal(err)  # type: ignore[arg-type]
            action = "clue: " + clue
        else:
            seats = {int(s) for s in _VOTE_RE.findall(" ".join(focus.lower().split()))}
            if not seats and answer is not None:  # "Final answer: player 2"
                seats = {int(s) for s in _SEAT_RE.findall(normalize(focus))}
            if len(seats) > 1 and answer is None:
                # Several different votes: only one alone on the last line is the choice.
                seats = {int(s) for s in _VOTE_RE.findall(" ".join(last_line.lower().split()))}
                if len(seats) != 1:
                    return Parsed.illegal(several.format(_votes_text(focus)))
            if len(seats) > 1:
                return Parsed.illegal(several.format(_votes_text(focus)))
            if len(seats) != 1:
                return Parsed.illegal(self._hint(state))
            action = f"vote: {seats.pop()}"
        reason = state.check(action)  # type: ignore[attr-defined]
        if reason:
            return Parsed.illegal(f"{reason}; legal moves: {legal}")
        return Parsed.legal(action)

    def _hint(self, state: State) -> str:
        legal = format_moves(state.legal_actions())
        if len(state.clues) < self.num_clues:  # type: ignore[attr-defined]
            return f"write your clue as 'clue: <words>' (one line), e.g. {legal}"
        return f"write your vote as 'vote: <player number>'; legal moves: {legal}"
