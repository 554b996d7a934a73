"""Exact analysis of small two-player zero-sum games: expected values, best responses and
exploitability of a policy.

A *policy* is a function from a state to `{action: probability}` over the legal actions of the
player to move. It is queried once per (seat, information state), so a policy backed by a
language model is asked exactly once per information set: score every legal action there and
this module tells you how exploitable the model is.

Exploitability = NashConv / 2: half the sum of both seats' best-response values against the
policy (for a zero-sum game the policy's own values cancel). 0 means a Nash equilibrium.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from games.core import CHANCE, TERMINAL, Game, State

Policy = Callable[[State], Mapping[str, float]]

TERMINAL_NODE, CHANCE_NODE, DECISION_NODE = 0, 1, 2


@dataclass
class GameTree:
    """The whole game tree, flattened into parallel lists (node 0 is the root).

    Only for small games (Kuhn: 58 nodes, Leduc: about 10^4): it holds every history.
    """

    game: Game
    kind: list[int] = field(default_factory=list)
    player: list[int] = field(default_factory=list)
    actions: list[list[str]] = field(default_factory=list)
    children: list[list[int]] = field(default_factory=list)
    chance_probs: list[list[float]] = field(default_factory=list)
    returns: list[list[float]] = field(default_factory=list)
    infoset: list[int] = field(default_factory=list)  # index into infoset_keys, -1 if none
    infoset_keys: list[tuple[int, str]] = field(default_factory=list)  # (seat, key)
    infoset_state: list[State] = field(default_factory=list)  # a representative state
    infoset_actions: list[list[str]] = field(default_factory=list)

    @classmethod
    def build(cls, game: Game, max_nodes: int = 2_000_000) -> GameTree:
        if game.num_players != 2:
            raise ValueError(
                f"exact analysis needs a two-player game; {game.id} has {game.num_players}"
            )
        tree = cls(game)
        index: dict[tuple[int, str], int] = {}
        stack: list[tuple[State, int, int]] = []  # (state, parent, child slot)

        def add(state: State) -> int:
            if len(tree.kind) >= max_nodes:
                raise ValueError(f"{game.id} is too large for exact analysis (> {max_nodes} nodes)")
            node = len(tree.kind)
            player = state.current_player()
            tree.player.append(player)
            tree.infoset.append(-1)
            tree.chance_probs.append([])
            tree.returns.append([])
            if player == TERMINAL:
                tree.kind.append(TERMINAL_NODE)
                tree.actions.append([])
                tree.returns[node] = list(state.returns())
            elif player == CHANCE:
                tree.kind.append(CHANCE_NODE)
                outcomes = state.chance_outcomes()
                tree.actions.append([a for a, _ in outcomes])
                tree.chance_probs[node] = [p for _, p in outcomes]
            else:
                tree.kind.append(DECISION_NODE)
                legal = state.legal_actions()
                tree.actions.append(legal)
                key = (player, state.information_state(player))
                slot = index.get(key)
                if slot is None:
                    slot = index[key] = len(tree.infoset_keys)
                    tree.infoset_keys.append(key)
                    tree.infoset_state.append(state.clone())
                    tree.infoset_actions.append(legal)
                elif tree.infoset_actions[slot] != legal:
                    raise ValueError(
                        f"{game.id}: information state {key} has differing legal actions"
                    )
                tree.infoset[node] = slot
            tree.children.append([-1] * len(tree.actions[node]))
            return node

        root_state = game.new_initial_state()
        add(root_state)
        stack.append((root_state, 0, -1))
        while stack:
            state, node, _ = stack.pop()
            for i, action in enumerate(tree.actions[node]):
                child_state = state.clone()
                child_state.apply(action)
                child = add(child_state)
                tree.children[node][i] = child
                if tree.kind[child] != TERMINAL_NODE:
                    stack.append((child_state, child, i))
        return tree

    def num_infosets(self, player: int | None = None) -> int:
        return sum(1 for p, _ in self.infoset_keys if player is None or p == player)

    def tabulate(self, policy: Policy) -> list[list[float]]:
        """Ask `policy` once per information set; probabilities aligned with the legal actions."""
        table = []
        for slot, state in enumerate(self.infoset_state):
            legal = self.infoset_actions[slot]
            probs = policy(state)
            row = [float(probs.get(a, 0.0)) for a in legal]
            unknown = set(probs) - set(legal)
            if any(probs[a] > 0 for a in unknown):
                raise ValueError(f"policy gives probability to illegal actions {sorted(unknown)}")
            total = sum(row)
            if any(p < 0 for p in row) or total <= 0:
                raise ValueError(
                    f"policy at {self.infoset_keys[slot]} is not a distribution: {probs}"
                )
            if abs(total - 1.0) > 1e-4:
                raise ValueError(
                    f"policy at {self.infoset_keys[slot]} sums to {total}, not 1: {dict(probs)}"
                )
            table.append([p / total for p in row])
        return table


def _expected(tree: GameTree, table: list[list[float]]) -> list[float]:
    """Expected returns of both seats when both follow `table`."""
    values: list[list[float] | None] = [None] * len(tree.kind)
    order = _postorder(tree)
    for node in order:
        kind = tree.kind[node]
        if kind == TERMINAL_NODE:
            values[node] = tree.returns[node]
            continue
        probs = tree.chance_probs[node] if kind == CHANCE_NODE else table[tree.infoset[node]]
        acc = [0.0, 0.0]
        for p, child in zip(probs, tree.children[node]):
            if p:
                cv = values[child]
                acc[0] += p * cv[0]
                acc[1] += p * cv[1]
        values[node] = acc
    return values[0]  # type: ignore[return-value]


def _postorder(tree: GameTree) -> list[int]:
    # Children always have larger indices than parents in `build`, so reverse index order works.
    return list(range(len(tree.kind) - 1, -1, -1))


def _best_response_value(tree: GameTree, table: list[list[float]], br: int) -> float:
    """Value for seat `br` of its best response to `table` (used at the other seat's nodes)."""
    n = len(tree.kind)
    # Counterfactual reach of every node: chance x the opponent's policy.
    reach = [0.0] * n
    reach[0] = 1.0
    for node in range(n):
        kind = tree.kind[node]
        if kind == TERMINAL_NODE or reach[node] == 0.0:
            continue
        if kind == CHANCE_NODE:
            probs = tree.chance_probs[node]
        elif tree.player[node] == br:
            probs = None
        else:
            probs = table[tree.infoset[node]]
        r = reach[node]
        for i, child in enumerate(tree.children[node]):
            reach[child] = r if probs is None else r * probs[i]

    # Nodes of each of br's information sets.
    members: dict[int, list[int]] = {}
    for node in range(n):
        if tree.kind[node] == DECISION_NODE and tree.player[node] == br:
            members.setdefault(tree.infoset[node], []).append(node)

    best: dict[int, int] = {}
    value: list[float | None] = [None] * n

    def node_value(node: int) -> float:
        v = value[node]
        if v is not None:
            return v
        kind = tree.kind[node]
        kids = tree.children[node]
        if kind == TERMINAL_NODE:
            v = tree.returns[node][br]
        elif kind == CHANCE_NODE:
            v = sum(p * node_value(c) for p, c in zip(tree.chance_probs[node], kids) if p)
        elif tree.player[node] != br:
            probs = table[tree.infoset[node]]
            v = sum(p * node_value(c) for p, c in zip(probs, kids) if p)
        else:
            slot = tree.infoset[node]
            a = best.get(slot)
            if a is None:
                nodes = members[slot]
                scores = [
                    sum(reach[m] * node_value(tree.children[m][i]) for m in nodes)
                    for i in range(len(kids))
                ]
                a = best[slot] = max(range(len(kids)), key=scores.__getitem__)
            v = node_value(kids[a])
        value[node] = v
        return v

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        return node_value(0)
    finally:
        sys.setrecursionlimit(limit)


@dataclass(frozen=True)
class Exploitability:
    """Best-response values against a policy, and the policy's own expected values."""

    exploitability: float
    nash_conv: float
    best_response_values: tuple[float, float]
    policy_values: tuple[float, float]


def analyse(game: Game | GameTree, policy: Policy) -> Exploitability:
    """Exact best-response analysis of `policy` (used by both seats) in a two-player game."""
    tree = game if isinstance(game, GameTree) else GameTree.build(game)
    table = tree.tabulate(policy)
    on_policy = _expected(tree, table)
    br = (_best_response_value(tree, table, 0), _best_response_value(tree, table, 1))
    nash_conv = (br[0] - on_policy[0]) + (br[1] - on_policy[1])
    return Exploitability(
        exploitability=nash_conv / 2,
        nash_conv=nash_conv,
        best_response_values=br,
        policy_values=(on_policy[0], on_policy[1]),
    )


def exploitability(game: Game | GameTree, policy: Policy) -> float:
    """How much a best responder wins against `policy`, averaged over the two seats."""
    return analyse(game, policy).exploitability


def expected_returns(game: Game | GameTree, policy: Policy) -> list[float]:
    """Exact expected returns when both seats follow `policy`."""
    tree = game if isinstance(game, GameTree) else GameTree.build(game)
    return _expected(tree, tree.tabulate(policy))


def uniform_policy(state: State) -> dict[str, float]:
    """Uniform over the legal actions."""
    legal = state.legal_actions()
    return {a: 1.0 / len(legal) for a in legal}


def tabular_policy(
    table: Mapping[str, Mapping[str, float]], default: Policy = uniform_policy
) -> Policy:
    """A policy from `{information_state: {action: probability}}`; `default` where missing."""

    def policy(state: State) -> Mapping[str, float]:
        key = state.information_state(state.current_player())
        row = table.get(key)
        return row if row is not None else default(state)

    return policy


def average_policy(game: Game | GameTree, policies: Sequence[Policy]) -> Policy:
    """The average strategy of `policies` (each used by both seats): at every information set,
    each policy's probabilities weighted by how often its seat reaches the set by its own moves.
    It plays like drawing one of the policies at random before the game and following it, which
    a plain per-set mean of the probabilities does not (that ignores where each policy goes).
    Information sets that no policy reaches get the plain mean."""
    if not policies:
        raise ValueError("average_policy needs at least one policy")
    tree = game if isinstance(game, GameTree) else GameTree.build(game)
    sizes = [len(a) for a in tree.infoset_actions]
    num = [[0.0] * k for k in sizes]
    den = [0.0] * len(sizes)
    plain = [[0.0] * k for k in sizes]
    for table in (tree.tabulate(p) for p in policies):
        own = _own_reach(tree, table)
        for slot, row in enumerate(table):
            den[slot] += own[slot]
            for a, prob in enumerate(row):
                num[slot][a] += own[slot] * prob
                plain[slot][a] += prob / len(policies)
    rows = {
        key: dict(
            zip(
                tree.infoset_actions[slot],
                [x / den[slot] for x in num[slot]] if den[slot] > 0 else plain[slot],
                strict=True,
            )
        )
        for slot, key in enumerate(tree.infoset_keys)
    }

    def policy(state: State) -> Mapping[str, float]:
        seat = state.current_player()
        return rows[(seat, state.information_state(seat))]

    return policy


def _own_reach(tree: GameTree, table: list[list[float]]) -> list[float]:
    """For every information set, the probability that its seat's own moves lead there."""
    reach: list[tuple[float, float]] = [(1.0, 1.0)] + [(0.0, 0.0)] * (len(tree.kind) - 1)
    own = [-1.0] * len(tree.infoset_keys)
    for node in range(len(tree.kind)):  # parents come before their children
        kind = tree.kind[node]
        if kind == TERMINAL_NODE:
            continue
        r = reach[node]
        if kind == CHANCE_NODE:
            for child in tree.children[node]:
                reach[child] = r
            continue
        slot, seat = tree.infoset[node], tree.player[node]
        if own[slot] < 0:  # perfect recall: the same at every node of the set
            own[slot] = r[seat]
        for prob, child in zip(table[slot], tree.children[node]):
            reach[child] = (r[0] * prob, r[1]) if seat == 0 else (r[0], r[1] * prob)
    return [max(0.0, x) for x in own]


def seat_policy(*policies: Policy) -> Policy:
    """Combine one policy per seat into a single policy (e.g. a model vs the CFR bot)."""

    def policy(state: State) -> Mapping[str, float]:
        return policies[state.current_player()](state)

    return policy
