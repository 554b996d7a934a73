"""Rules text for OpenSpiel's games as arena games (`games.openspiel_games`): hand-written for
the games a language model can play well (they describe OpenSpiel's default parameters), a
payoff table for small one-shot games, and a generic description built from the game's type
for the rest."""

from __future__ import annotations

from collections import Counter
from typing import Any


def _pyspiel() -> Any:
    """pyspiel, imported when an OpenSpiel game is first asked for (never by `import games`)."""
    import pyspiel

    return pyspiel


def action_names(state: Any, actor: int, ids: list[int]) -> dict[str, int]:
    """`{name: action id}` for `ids`: the game's `action_to_string` with whitespace collapsed;
    a name that several ids share gets ` #<id>` (deterministic), an empty one `action <id>`."""
    raw = [" ".join(state.action_to_string(actor, a).split()) or f"action {a}" for a in ids]
    counts = Counter(raw)
    return {(f"{n} #{a}" if counts[n] > 1 else n): a for n, a in zip(raw, ids)}


# --- rules for language models ---------------------------------------------------------------------
# Hand-written for games a model can play well; they describe OpenSpiel's default parameters.
RULES: dict[str, str] = {
    "tic_tac_toe": """\
Tic-tac-toe on a 3x3 grid (OpenSpiel's tic_tac_toe). Player 0 plays x and moves first, player 1
plays o. The board is shown as three lines, top row first ('.' is empty).
A move is your mark and a free square as (row,column), rows and columns numbered 0-2 from the
top-left corner: x(0,0) is the top-left corner, x(1,1) the centre, x(2,2) the bottom-right
(player 1 writes o(1,1)). Three of your marks in a row, column or diagonal wins (+1, the loser
-1); a full board without a line is a draw (0).""",
    "connect_four": """\
Connect Four on a board of 6 rows and 7 columns, shown top row first ('.' is empty). Player 0
plays x and moves first, player 1 plays o. On your turn drop a disc into a column that is not
full; it falls to the lowest empty cell. A move is your mark and the column number, columns 0-6
from left to right: x3 drops an x into the middle column. Four of your discs in a line
(horizontal, vertical or diagonal) wins (+1, the loser -1); a full board is a draw (0).""",
    "nim": """\
Nim, misere version, with four piles of 1, 3, 5 and 7 objects. The view reads '(p): a b c d':
the player to move, then the objects left in piles 1 to 4. On your turn take one or more
objects from a single pile. A move is written 'pile:P, take:N;' with piles numbered from 1:
'pile:4, take:3;' takes three objects from the fourth pile. The player who takes the last
object loses (the winner gets +1, the loser -1).""",
    "breakthrough": """\
Breakthrough on an 8x8 board, shown row 8 first with columns a-h. Player 0 plays black (b),
starting on rows 7 and 8 and moving down the board; player 1 plays white (w), starting on rows
1 and 2 and moving up. Black moves first. On your turn move one of your pieces one square
straight forward or diagonally forward. A straight move needs an empty square; a diagonal move
goes to an empty square or captures the opponent's piece there (a capture ends with *).
You win (+1, the loser -1) by reaching the far row (black: row 1, white: row 8) or by capturing
every opponent piece. A move is the from-square then the to-square: a7a6, or e5d6* to capture.""",
    "kuhn_poker": """\
Kuhn poker for two players. The deck has three cards: 0 = Jack, 1 = Queen, 2 = King (the King
is highest). Each player antes 1 chip and gets one private card; the third card is not used.
Player 0 acts first. The moves are Pass and Bet. With no bet to answer, Pass checks and Bet
puts 1 more chip in; facing a bet, Bet calls (puts 1 chip in) and Pass folds (the bettor takes
the pot). Two passes, or a bet and a call, end in a showdown: the higher card takes the pot.
Your view is your card followed by the moves so far, p for Pass and b for Bet: '2pb' means you
hold the King, the first player passed and the second bet. You win or lose 1 chip (the ante)
or 2 (ante and bet).""",
    "leduc_poker": """\
Leduc hold'em for two players. Six cards: two suits of Jack, Queen and King, numbered 0-5
(0-1 are Jacks, 2-3 Queens, 4-5 Kings). Each player antes 1 chip and gets one private card;
after the first betting round one public card is dealt, then a second betting round follows.
The moves are Fold, Call (a check when there is nothing to call) and Raise; each round allows
at most two raises, of 2 chips in round 1 and 4 chips in round 2. At the showdown a player
whose card pairs the public card wins; otherwise the higher rank wins; equal ranks split the
pot. Your view lists your private card, the round, the pot, the chips each player has left,
the public card once dealt, and each round's actions (0 fold, 1 call, 2 raise).""",
    "liars_dice": """\
Liar's dice for two players with one six-sided die each. Each player rolls secretly. Players
take turns bidding: a bid 'q-f' claims that at least q of all the dice show face f, and 6s are
wild (they count as every face). Each bid must be higher than the last: more dice, or as many
dice and a higher face. Instead of bidding you may call 'Liar' on the last bid: the dice are
shown; if the bid was true the caller loses, otherwise the bidder loses (+1 to the winner, -1
to the loser). Your view is your die followed by the bids so far: '4 2-2' means you rolled a 4
and the last bid is two 2s.""",
    "pig": """\
Pig, a dice game for two players: the first to reach 100 points wins (+1, the loser -1). On
your turn roll a six-sided die as often as you like: each roll adds its value to your turn
total, but a roll of 1 ends your turn and loses the turn total. 'stop' adds your turn total to
your score and passes the turn. The moves are roll and stop. Your view shows both scores, the
turn total and the player to move.""",
    "goofspiel": """\
Goofspiel for two players. Each player holds the cards 1 to 13. Each round a point card (1-13,
in random order) is revealed and both players bid one card from their hand at the same time:
you never see the other bid before yours. The higher bid wins the point card's value; equal
bids win nothing. Bid cards are used up. After 13 rounds the player with more points wins (+1,
the loser -1, a tie 0). A bid is written '[P0]Bid: 7' (player 1 writes '[P1]Bid: 7'). Your
view shows the point cards so far, both hands, each round's winner and the points.""",
    "othello": """\
Othello (Reversi) on an 8x8 board, columns a-h and rows 1-8 as printed. Player 0 is Black (x)
and moves first, player 1 is White (o). Place a disc on an empty square so that one or more
straight lines of the opponent's discs lie between it and another of your discs; those discs
turn to your colour. A move is a square such as d3; with no such square your only move is
pass. The game ends when neither player can move: more discs wins (+1, the loser -1), equal
counts draw (0).""",
    "first_sealed_auction": """\
A first-price sealed-bid auction for two players. Chance gives each player a private value
from 1 to 10 that the other never sees. Each player then bids once, below their value, without
seeing the other bid. The higher bid wins the item and pays its bid: the winner's return is
value minus bid, the loser's 0 (chance breaks ties). A bid is written 'Player 0 bid: 3' (player
1 writes 'Player 1 bid: 3'). Your view is 'pN val V': your seat and your value.""",
}

MAX_TABLE_ACTIONS = 4
"""One-shot games whose players have at most this many actions get their payoff table."""


def payoff_table(spiel_game: Any, base_type: Any) -> str | None:
    """The payoff table of a one-shot two-player game with few actions, as text (else None).
    `base_type` is the game's own type (`spiel_game` may be its turn-based form)."""
    one_shot = base_type.information == _pyspiel().GameType.Information.ONE_SHOT
    if not one_shot or spiel_game.num_players() != 2:
        return None
    root = spiel_game.new_initial_state()
    if root.is_chance_node():
        return None
    mine = action_names(root, 0, root.legal_actions(0))
    if len(mine) > MAX_TABLE_ACTIONS:
        return None
    rows = []
    for name0, a0 in mine.items():
        after = root.child(a0)
        theirs = action_names(after, 1, after.legal_actions(1))
        if len(theirs) > MAX_TABLE_ACTIONS:
            return None
        for name1, a1 in theirs.items():
            r = after.child(a1).returns()
            rows.append(f"- player 0 {name0}, player 1 {name1}: returns {r[0]:g} and {r[1]:g}")
    return "\n".join(rows)


def generic_rules(game: Any) -> str:
    """Rules built from OpenSpiel's type information, for games without hand-written ones."""
    gt_ = _pyspiel().GameType
    gt = game.base_type
    n = game.num_players
    lines = [f"{gt.long_name}, a game from OpenSpiel (`{game.spiel_name}`), for {n} player(s)."]
    if game.simultaneous:
        lines.append(
            "The players move at the same time: here they move in turn, and no player sees the "
            "moves of the others in the same round before choosing."
        )
    if game.chance:
        lines.append("Chance events (cards dealt, dice rolled) happen during the game.")
    if gt.information == gt_.Information.PERFECT_INFORMATION and not game.simultaneous:
        lines.append("Everything is visible to every player.")
    else:
        lines.append("Some information is hidden: you see only what your seat may know.")
    utility = {
        gt_.Utility.ZERO_SUM: "what one player wins, the others lose (zero-sum)",
        gt_.Utility.CONSTANT_SUM: "the returns always add up to the same total",
        gt_.Utility.IDENTICAL: "all players get the same return: they play as one team",
    }.get(gt.utility, "each player has its own return")
    lines.append(f"At the end every player gets a return; {utility}.")
    table = payoff_table(game.spiel_game, gt)
    if table:
        lines += ["Each player chooses one action; the returns are:", table]
    else:
        lines.append(
            "Your view is OpenSpiel's own text for your seat; moves are OpenSpiel's action "
            "names. These rules are generic: the game is meant for bots (a language model may "
            "play, but nothing here explains the notation)."
        )
    return "\n".join(lines)
