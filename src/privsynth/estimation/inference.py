"""Exact marginal inference on a junction tree (Shafer-Shenoy message passing in log space).

:func:`calibrate` turns log-potentials into normalised maximal-clique marginals. Any other
marginal is then read off those: by summing within one clique when a clique holds it, or by
eliminating over the smallest subtree that covers it (the calibrated tree factorises the joint
as a root marginal times conditionals of each clique given its separator).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from privsynth.estimation.junction import JunctionTree
from privsynth.estimation.tables import (
    Attrs,
    canonical,
    contract,
    expand,
    logsumexp_to,
    multiply,
    sum_to,
)

Factor = tuple[Attrs, np.ndarray]


def clique_log_potentials(tree: JunctionTree, factors: Sequence[Factor]) -> list[np.ndarray]:
    """Sum each log-factor into the smallest maximal clique holding it."""
    pots = [np.zeros(tuple(tree.sizes[a] for a in c)) for c in tree.cliques]
    for attrs, values in factors:
        i = tree.containing(attrs)
        if i is None:
            raise ValueError(f"factor over {attrs} fits in no clique of the junction tree")
        pots[i] += expand(values, attrs, tree.cliques[i], tree.sizes)
    return pots


@dataclass
class Calibrated:
    """Maximal-clique marginals of a model (probabilities; each clique sums to one).

    ``log_partition`` is minus infinity when the potentials give every configuration zero
    weight (for instance after conditioning on an impossible event).
    """

    tree: JunctionTree
    marginals: list[np.ndarray]
    log_partition: float
    _cache: dict[Attrs, np.ndarray] = field(default_factory=dict, repr=False)

    def project(self, attrs: Sequence[int]) -> np.ndarray:
        """Probability table over ``attrs`` (axes in domain order).

        Results are cached, and a query is answered from the smallest cached table or clique
        that holds it, so asking for many overlapping marginals costs little more than one.
        """
        q = canonical(attrs)
        if q in self._cache:
            return self._cache[q]
        tree = self.tree
        if not q:
            return np.array(1.0)
        source: tuple[Attrs, np.ndarray] | None = None
        home = tree.containing(q)
        if home is not None:
            source = (tree.cliques[home], self.marginals[home])
        need = set(q)
        for attrs_c, table in self._cache.items():
            if need <= set(attrs_c) and (source is None or table.size < source[1].size):
                source = (attrs_c, table)
        if source is not None:
            out = sum_to(source[1], source[0], q)
        else:
            by_component: dict[int, list[int]] = {}
            for a in q:
                comp = tree.component[tree.containing((a,))]  # type: ignore[index]
                by_component.setdefault(comp, []).append(a)
            out, out_attrs = np.array(1.0), ()
            for part in by_component.values():
                table = self._project_connected(tuple(part))
                out, out_attrs = multiply(out, out_attrs, table, tuple(part), tree.sizes)
            out = np.ascontiguousarray(out)
        self._cache[q] = out
        return out

    def _project_connected(self, q: Attrs) -> np.ndarray:
        """Marginal over attributes of one connected component, by subtree elimination."""
        tree = self.tree
        home = tree.containing(q)
        if home is not None:
            return sum_to(self.marginals[home], tree.cliques[home], q)
        reps = []
        for a in q:
            holders = [i for i, c in enumerate(tree.cliques) if a in c]
            reps.append(max(holders, key=lambda i: (len(set(q) & set(tree.cliques[i])), -i)))
        root = reps[0]
        parent = {root: -1}
        frontier = [root]
        while frontier:
            nxt = []
            for node in frontier:
                for nb in tree.neighbors[node]:
                    if nb not in parent:
                        parent[nb] = node
                        nxt.append(nb)
            frontier = nxt
        keep = {root}
        for r in reps:
            while r not in keep:
                keep.add(r)
                r = parent[r]
        # Drop leaves whose query attributes their parent also holds (running intersection).
        changed = True
        while changed:
            changed = False
            for node in sorted(keep):
                kids = [k for k in keep if parent.get(k) == node]
                if node != root and not kids:
                    mine = set(q) & set(tree.cliques[node])
                    if mine <= set(tree.cliques[parent[node]]):
                        keep.discard(node)
                        changed = True
        children: dict[int, list[int]] = {n: [] for n in keep}
        for n in keep:
            if n != root:
                children[parent[n]].append(n)

        # The calibrated tree factorises as the root's marginal times each other node's
        # conditional given its parent; only attributes shared with a neighbour in the subtree
        # or asked for matter, so each node contributes a small summed-out table.
        operands: list[tuple[np.ndarray, Attrs]] = []
        for node in keep:
            clique = set(tree.cliques[node])
            needed = set(q)
            sep: Attrs = ()
            if node != root:
                sep = canonical(clique & set(tree.cliques[parent[node]]))
                needed |= set(sep)
            for child in children[node]:
                needed |= clique & set(tree.cliques[child])
            relevant = canonical(clique & needed)
            table = self.project(relevant)
            if node != root:
                denom = expand(sum_to(table, relevant, sep), sep, relevant, tree.sizes)
                with np.errstate(divide="ignore", invalid="ignore"):
                    table = np.where(denom > 0, table / denom, 0.0)
            operands.append((table, relevant))
        return contract(operands, q)


def calibrate(tree: JunctionTree, factors: Sequence[Factor]) -> Calibrated:
    """Exact maximal-clique marginals of the model with the given log-factors.

    Messages towards each component's root are log-sum-exps (Shafer-Shenoy). Going back out, a
    clique's full belief is exponentiated once, and each message to a child divides the
    child's own message back out (HUGIN) on the small separator table, falling back to a fresh
    log-sum-exp where that division is unsafe (a separator value the child rules out).
    """
    pots = clique_log_potentials(tree, factors)
    cliques, sizes = tree.cliques, tree.sizes
    seps = {
        (i, j): canonical(set(cliques[i]) & set(cliques[j]))
        for i in range(len(cliques))
        for j in tree.neighbors[i]
    }
    messages: dict[tuple[int, int], np.ndarray] = {}

    def incoming(i: int, skip: int = -1) -> np.ndarray:
        belief = pots[i]
        for k in tree.neighbors[i]:
            if k != skip and (k, i) in messages:
                belief = belief + expand(messages[(k, i)], seps[(k, i)], cliques[i], sizes)
        return belief

    marginals: list[np.ndarray | None] = [None] * len(cliques)
    log_z: list[float] = [0.0] * len(cliques)

    def finish(i: int) -> None:
        belief = incoming(i)
        top = float(belief.max())
        if not np.isfinite(top):
            marginals[i], log_z[i] = np.zeros_like(belief), -np.inf
            return
        weights = np.exp(belief - top)
        mass = float(weights.sum())
        marginals[i], log_z[i] = weights / mass, top + float(np.log(mass))

    for i, j in tree.schedule:
        if marginals[i] is None and all((k, i) in messages for k in tree.neighbors[i]):
            finish(i)
        probs = marginals[i]
        back = messages.get((j, i))
        if probs is not None and back is not None:
            shift = back.max()
            scale = np.exp(shift - back) if np.isfinite(shift) else None
            if scale is not None and np.all(np.isfinite(scale)) and scale.max() < 1e250:
                sep = seps[(i, j)]
                summed = sum_to(probs * expand(scale, sep, cliques[i], sizes), cliques[i], sep)
                with np.errstate(divide="ignore"):
                    messages[(i, j)] = np.log(summed) + log_z[i] - shift
                continue
        messages[(i, j)] = logsumexp_to(incoming(i, skip=j), cliques[i], seps[(i, j)])
    for i in range(len(cliques)):
        if marginals[i] is None:
            finish(i)
    log_partition = 0.0
    seen: set[int] = set()
    for i in range(len(cliques)):
        if tree.component[i] not in seen:
            seen.add(tree.component[i])
            log_partition += log_z[i]
    return Calibrated(tree, [m for m in marginals if m is not None], log_partition)
