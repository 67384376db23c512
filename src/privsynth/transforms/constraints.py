"""Schema rules compiled to code-level constraints over the :class:`Discretizer`'s domain.

Each rule becomes a boolean ``allowed`` table over the product of its columns' codes. A
categorical code is one value, so its cells are decided exactly. A numeric code is a bin (an
interval of values, as the decoder draws them), so a comparison is decided per bin or bin
pair: entirely allowed, entirely forbidden, or *partial* (some values inside the bins break the
rule). Partial cells stay allowed at code level and are marked in ``partial``: decoding must
then draw values inside those bins that respect the rule (:mod:`privsynth.enforce`).

Conditions are combined with three-valued logic (every value / some value / no value), which is
exact for a single condition and may call a cell partial when several conditions on one bin
only jointly rule it out; such cells are caught at value level and resampled.

A cell in which any column of the rule is missing is allowed: rules do not apply to missing
values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from privsynth.errors import InputError, SchemaError
from privsynth.schema.columns import CategoricalColumn, DatetimeColumn, Schema
from privsynth.schema.rules import Atom, Rule, datetime_seconds
from privsynth.transforms.discretize import Discretizer


@dataclass(frozen=True)
class Constraint:
    """A rule over the codes of ``attrs`` (domain order): ``allowed[cell]`` is False on cells
    no row may take; ``partial[cell]`` marks allowed cells where some values break the rule."""

    rule: Rule
    attrs: tuple[str, ...]
    allowed: np.ndarray
    partial: np.ndarray


@dataclass(frozen=True)
class _Cells:
    """What values each code of one column stands for."""

    labels: np.ndarray | None  # categorical: the value of each code (None when missing)
    lo: np.ndarray  # numeric: smallest value of the bin
    hi: np.ndarray  # numeric: supremum of the bin's values
    closed: np.ndarray  # numeric: whether ``hi`` itself can be drawn
    missing: np.ndarray


def _cells(schema: Schema, disc: Discretizer, name: str) -> _Cells:
    col = schema[name]
    size = disc.domain[name]
    missing = np.zeros(size, dtype=bool)
    if col.nullable:
        missing[-1] = True
    if isinstance(col, CategoricalColumn):
        labels = [*col.values, *([col.other_label] if col.on_unknown == "other" else [])]
        labels += [None] * col.nullable
        empty = np.zeros(size)
        return _Cells(np.array(labels, dtype=object), empty, empty, empty.astype(bool), missing)
    num = col.numeric() if isinstance(col, DatetimeColumn) else col
    edges = num.bin_edges()
    lo_e, hi_e = edges[:-1], edges[1:]
    if num.kind == "integer":
        # The decoder's integer range of each bin.
        lo = np.maximum(np.ceil(lo_e), num.lower)
        hi = np.minimum(np.where(hi_e == edges[-1], np.floor(hi_e), np.ceil(hi_e) - 1), num.upper)
        hi = np.maximum(hi, lo)
        closed = np.ones(lo.size, dtype=bool)
    else:
        # Uniform on [lo, hi), then clipped into the bounds (which can reach ``upper``).
        lo = np.clip(lo_e, num.lower, num.upper)
        hi = np.clip(hi_e, num.lower, num.upper)
        closed = (hi_e > num.upper) | (hi == lo)
    pad = np.full(size - lo.size, np.nan)
    closed = np.concatenate([closed, np.ones(pad.size, dtype=bool)])
    return _Cells(None, np.concatenate([lo, pad]), np.concatenate([hi, pad]), closed, missing)


def _along(values: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = values.size
    return values.reshape(shape)


Interval = tuple[np.ndarray, np.ndarray, np.ndarray]


def _compare(op: str, x: Interval, y: Interval) -> tuple[np.ndarray, np.ndarray]:
    """(every value satisfies, some value satisfies) for ``x op y`` over interval cells."""
    if op in (">", ">="):
        return _compare({">": "<", ">=": "<="}[op], y, x)
    (lx, hx, cx), (ly, hy, cy) = x, y
    with np.errstate(invalid="ignore"):
        if op == "<":
            every = (hx < ly) | ((hx == ly) & ~cx)
            none = lx >= hy
        elif op == "<=":
            every = hx <= ly
            none = (lx > hy) | ((lx == hy) & ~cy)
        else:
            every = (lx == hx) & (ly == hy) & (lx == ly)
            none = (hx < ly) | (hy < lx) | ((hx == ly) & ~cx) | ((hy == lx) & ~cy)
            if op == "!=":
                return none, ~every
    return every, ~none


def _atom(
    atom: Atom, schema: Schema, cells: Mapping[str, _Cells], axes: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    nd = len(axes)
    c = cells[atom.column]
    ax = axes[atom.column]
    if c.labels is not None:
        hit = np.isin(c.labels, np.array(atom.values, dtype=object))
        hit = _along(hit if atom.op == "in" else ~hit, ax, nd)
        return hit, hit
    x = tuple(_along(v, ax, nd) for v in (c.lo, c.hi, c.closed))
    if atom.other is not None:
        o = cells[atom.other]
        y = tuple(_along(v, axes[atom.other], nd) for v in (o.lo, o.hi, o.closed))
    else:
        (value,) = atom.values
        if isinstance(schema[atom.column], DatetimeColumn):
            value = datetime_seconds(str(value))
        y = (np.array(float(value)), np.array(float(value)), np.array(True))
    return _compare(atom.op, x, y)  # type: ignore[arg-type]


def _conjunction(
    atoms: Sequence[Atom],
    schema: Schema,
    cells: Mapping[str, _Cells],
    axes: Mapping[str, int],
    shape: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    every = np.ones(shape, dtype=bool)
    some = np.ones(shape, dtype=bool)
    for atom in atoms:
        e, s = _atom(atom, schema, cells, axes)
        every, some = every & e, some & s
    return every, some


def compile_rule(rule: Rule, schema: Schema, disc: Discretizer | None = None) -> Constraint:
    """The code-level constraint of one rule."""
    disc = disc or Discretizer(schema)
    order = disc.domain.attributes
    attrs = tuple(sorted(rule.attributes, key=order.index))
    axes = {a: i for i, a in enumerate(attrs)}
    cells = {a: _cells(schema, disc, a) for a in attrs}
    shape = disc.domain.shape(attrs)
    if rule.kind == "combinations":
        ok_every = np.zeros(shape, dtype=bool)
        ok_some = np.zeros(shape, dtype=bool)
        for combo in rule.combos:
            atoms = [
                Atom(col, "in" if isinstance(v, str) else "==", (v,))
                for col, v in zip(rule.columns, combo, strict=True)
            ]
            e, s = _conjunction(atoms, schema, cells, axes, shape)
            ok_every, ok_some = ok_every | e, ok_some | s
        surely, maybe = ~ok_some, ~ok_every
    else:
        when_every, when_some = _conjunction(rule.when, schema, cells, axes, shape)
        if rule.kind == "forbid":
            then_every = then_some = np.zeros(shape, dtype=bool)
        else:
            then_every, then_some = _conjunction(rule.then, schema, cells, axes, shape)
        surely = when_every & ~then_some
        maybe = when_some & ~then_every
    missing = np.zeros(shape, dtype=bool)
    for a in attrs:
        missing = missing | _along(cells[a].missing, axes[a], len(attrs))
    surely, maybe = surely & ~missing, maybe & ~missing
    return Constraint(rule, attrs, ~surely, maybe & ~surely)


def compile_rules(schema: Schema, disc: Discretizer | None = None) -> tuple[Constraint, ...]:
    """Every rule of the schema compiled; refuses rules that leave no allowed cell."""
    disc = disc or Discretizer(schema)
    out = []
    for rule in schema.rules:
        con = compile_rule(rule, schema, disc)
        if not con.allowed.any():
            raise SchemaError(f"rule {rule.text()!r} forbids every possible row")
        out.append(con)
    _check_jointly_satisfiable(out, disc)
    return tuple(out)


def _check_jointly_satisfiable(constraints: Sequence[Constraint], disc: Discretizer) -> None:
    """Refuse rules that together leave no allowed row (exact, by junction-tree inference)."""
    from privsynth.estimation.markov import MarkovModel

    factors: dict[tuple[str, ...], np.ndarray] = {}
    for con in constraints:
        with np.errstate(divide="ignore"):
            log = np.log(con.allowed.astype(float))
        factors[con.attrs] = factors.get(con.attrs, 0.0) + log
    if len(factors) > 1 and not np.isfinite(MarkovModel(disc.domain, factors, 1.0).log_partition()):
        shown = "; ".join(c.rule.text() for c in constraints)
        raise SchemaError(f"the rules together forbid every possible row ({shown})")


def code_violations(
    constraints: Sequence[Constraint], codes: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Rows (of a code table) that fall into a cell some constraint forbids."""
    n = len(next(iter(codes.values()))) if codes else 0
    bad = np.zeros(n, dtype=bool)
    for con in constraints:
        index = tuple(np.asarray(codes[a], dtype=np.int64) for a in con.attrs)
        bad |= ~con.allowed[index]
    return bad


def check_where(
    constraints: Sequence[Constraint], where: Mapping[str, Sequence[int]], shown: str
) -> None:
    """Refuse a ``where`` condition that a single rule rules out entirely."""
    for con in constraints:
        table = con.allowed
        for axis, attr in enumerate(con.attrs):
            if attr in where:
                keep = np.zeros(table.shape[axis], dtype=bool)
                keep[np.asarray(list(where[attr]), dtype=np.int64)] = True
                table = np.compress(keep, table, axis=axis)
        if not table.any():
            raise InputError(f"where {shown}: rule {con.rule.text()!r} forbids every such row")
