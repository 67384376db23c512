"""Junction trees: the structure that makes inference in a graphical model exact and cheap.

The graph joins every pair of attributes that share a factor. We triangulate it by greedy
variable elimination (always eliminate the attribute whose neighbourhood table is smallest),
keep the maximal elimination cliques, and connect them by a maximum-weight spanning forest on
separator sizes. The elimination order doubles as the sampling order: sampled in reverse, each
attribute depends only on its elimination neighbours, which all lie in one maximal clique.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from privsynth.estimation.tables import Attrs, canonical


@dataclass(frozen=True)
class JunctionTree:
    """Maximal cliques (sorted attribute indices) joined into a forest, with an elimination order.

    ``parents[v]`` are the attributes that ``v`` is conditioned on when sampling, and
    ``home[v]`` indexes a maximal clique holding ``v`` and its parents.
    """

    sizes: tuple[int, ...]
    cliques: tuple[Attrs, ...]
    neighbors: tuple[tuple[int, ...], ...]
    order: tuple[int, ...]
    parents: tuple[Attrs, ...]
    home: tuple[int, ...]
    schedule: tuple[tuple[int, int], ...]
    component: tuple[int, ...]

    def clique_size(self, i: int) -> int:
        """Number of cells of maximal clique ``i``."""
        return math.prod(self.sizes[a] for a in self.cliques[i])

    def containing(self, attrs: Attrs) -> int | None:
        """The smallest maximal clique containing every attribute in ``attrs``, if any."""
        need = set(attrs)
        best = [i for i, c in enumerate(self.cliques) if need <= set(c)]
        return min(best, key=self.clique_size) if best else None


def _eliminate(sizes: Sequence[int], cliques: Sequence[Attrs]) -> tuple[list[int], list[Attrs]]:
    """Greedy min-size elimination; returns the order and each attribute's elimination clique."""
    d = len(sizes)
    adj: list[set[int]] = [set() for _ in range(d)]
    for cl in cliques:
        for a in cl:
            adj[a].update(cl)
            adj[a].discard(a)
    remaining = set(range(d))
    order: list[int] = []
    elim: list[Attrs] = [()] * d

    def cost(u: int) -> int:
        return sizes[u] * math.prod(sizes[w] for w in adj[u])

    while remaining:
        v = min(remaining, key=lambda u: (cost(u), u))
        nbrs = adj[v]
        elim[v] = canonical((v, *nbrs))
        for a in nbrs:
            adj[a].update(nbrs)
            adj[a].discard(a)
            adj[a].discard(v)
        remaining.remove(v)
        order.append(v)
    return order, elim


def _maximal(cliques: Sequence[Attrs]) -> list[Attrs]:
    unique = sorted(set(cliques), key=lambda c: (-len(c), c))
    out: list[Attrs] = []
    for c in unique:
        if not any(set(c) <= set(o) for o in out):
            out.append(c)
    return sorted(out)


def model_size_mb(sizes: Sequence[int], cliques: Sequence[Sequence[int]]) -> float:
    """Megabytes of float64 tables over the maximal cliques of the junction tree."""
    _, elim = _eliminate(sizes, [canonical(c) for c in cliques])
    cells = sum(math.prod(sizes[a] for a in c) for c in _maximal(elim))
    return cells * 8 / 2**20


def build_junction_tree(sizes: Sequence[int], cliques: Sequence[Sequence[int]]) -> JunctionTree:
    """Junction tree over all attributes (those in no clique become singleton cliques)."""
    sizes = tuple(int(s) for s in sizes)
    order, elim = _eliminate(sizes, [canonical(c) for c in cliques])
    maximal = _maximal(elim)
    m = len(maximal)

    # Kruskal on separator sizes: a maximum spanning forest of the clique graph of a chordal
    # graph is a junction tree (running intersection holds).
    root = list(range(m))

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    pairs = []
    for i in range(m):
        for j in range(i + 1, m):
            w = len(set(maximal[i]) & set(maximal[j]))
            if w:
                pairs.append((-w, i, j))
    adjacency: list[list[int]] = [[] for _ in range(m)]
    for _, i, j in sorted(pairs):
        ri, rj = find(i), find(j)
        if ri != rj:
            root[ri] = rj
            adjacency[i].append(j)
            adjacency[j].append(i)

    component = [-1] * m
    schedule_up: list[tuple[int, int]] = []
    schedule_down: list[tuple[int, int]] = []
    for start in range(m):
        if component[start] >= 0:
            continue
        component[start] = start
        bfs = [(start, -1)]
        k = 0
        while k < len(bfs):
            node, parent = bfs[k]
            k += 1
            for nb in sorted(adjacency[node]):
                if nb != parent:
                    component[nb] = start
                    bfs.append((nb, node))
        edges = [(child, parent) for child, parent in bfs if parent >= 0]
        schedule_up.extend(reversed(edges))
        schedule_down.extend((p, c) for c, p in edges)

    home = []
    for v in range(len(sizes)):
        holders = [i for i, c in enumerate(maximal) if set(elim[v]) <= set(c)]
        home.append(min(holders, key=lambda i: math.prod(sizes[a] for a in maximal[i])))
    return JunctionTree(
        sizes=sizes,
        cliques=tuple(maximal),
        neighbors=tuple(tuple(sorted(a)) for a in adjacency),
        order=tuple(order),
        parents=tuple(tuple(a for a in elim[v] if a != v) for v in range(len(sizes))),
        home=tuple(home),
        schedule=tuple(schedule_up + schedule_down),
        component=tuple(component),
    )
