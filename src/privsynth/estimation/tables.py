"""Dense tables over subsets of a domain, with axes always in domain order.

A table over attributes ``attrs`` (sorted domain indices) is a numpy array of shape
``sizes[attrs]``. Keeping one canonical axis order means broadcasting between tables is a
reshape, never a transpose.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import numpy as np

Attrs = tuple[int, ...]
_LETTERS = string.ascii_letters


def canonical(attrs: Sequence[int]) -> Attrs:
    """Sorted, de-duplicated domain indices."""
    return tuple(sorted(set(int(a) for a in attrs)))


def broadcast_shape(attrs: Attrs, target: Attrs, sizes: Sequence[int]) -> tuple[int, ...]:
    """Shape that lets a table over ``attrs`` broadcast against one over ``target``."""
    inside = set(attrs)
    return tuple(int(sizes[a]) if a in inside else 1 for a in target)


def expand(values: np.ndarray, attrs: Attrs, target: Attrs, sizes: Sequence[int]) -> np.ndarray:
    """View a table over ``attrs`` (a subset of ``target``) as broadcastable to ``target``."""
    return values.reshape(broadcast_shape(attrs, target, sizes))


def reduce_axes(values: np.ndarray, axes: Sequence[int], ufunc: np.ufunc = np.add) -> np.ndarray:
    """``ufunc``-reduce ``axes`` one at a time, outermost first.

    numpy's fused multi-axis reductions walk big arrays with poor strides; reducing the
    leading axis first adds contiguous slabs and shrinks the array for the next step, which
    is an order of magnitude faster on large clique tables.
    """
    for shift, axis in enumerate(sorted(axes)):
        values = ufunc.reduce(values, axis=axis - shift)
    return values


def sum_to(values: np.ndarray, attrs: Attrs, keep: Attrs) -> np.ndarray:
    """Sum a table over ``attrs`` down to the subset ``keep``."""
    return reduce_axes(values, [i for i, a in enumerate(attrs) if a not in keep])


def logsumexp_to(values: np.ndarray, attrs: Attrs, keep: Attrs) -> np.ndarray:
    """Log-sum-exp a log-table over ``attrs`` down to ``keep``; all -inf slices give -inf."""
    axes = [i for i, a in enumerate(attrs) if a not in keep]
    if not axes:
        return values
    kept_shape = [1 if i in axes else n for i, n in enumerate(values.shape)]
    top = reduce_axes(values, axes, np.maximum)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(reduce_axes(np.exp(values - top.reshape(kept_shape)), axes))
    return out + top


def multiply(
    a: np.ndarray, a_attrs: Attrs, b: np.ndarray, b_attrs: Attrs, sizes: Sequence[int]
) -> tuple[np.ndarray, Attrs]:
    """Pointwise product of two tables over the union of their attributes."""
    union = canonical(a_attrs + b_attrs)
    out = expand(a, a_attrs, union, sizes) * expand(b, b_attrs, union, sizes)
    return np.broadcast_to(out, tuple(int(sizes[x]) for x in union)), union


def _contract_pair(
    a: np.ndarray, a_attrs: Attrs, b: np.ndarray, b_attrs: Attrs, keep: set[int]
) -> tuple[np.ndarray, Attrs]:
    """Sum over the attributes not in ``keep`` of the product of two tables, as one batched
    matrix product (einsum's generic paths are orders of magnitude slower on big tables)."""
    a = sum_to(a, a_attrs, canonical(x for x in a_attrs if x in keep or x in b_attrs))
    a_attrs = canonical(x for x in a_attrs if x in keep or x in b_attrs)
    b = sum_to(b, b_attrs, canonical(x for x in b_attrs if x in keep or x in a_attrs))
    b_attrs = canonical(x for x in b_attrs if x in keep or x in a_attrs)
    shared = [x for x in a_attrs if x in b_attrs]
    batch = [x for x in shared if x in keep]
    summed = [x for x in shared if x not in keep]
    a_only = [x for x in a_attrs if x not in b_attrs]
    b_only = [x for x in b_attrs if x not in a_attrs]
    a_t = np.transpose(a, [a_attrs.index(x) for x in batch + a_only + summed])
    b_t = np.transpose(b, [b_attrs.index(x) for x in batch + summed + b_only])
    size = dict(zip(a_attrs, a.shape, strict=True)) | dict(zip(b_attrs, b.shape, strict=True))

    def n(attrs: list[int]) -> int:
        return int(np.prod([size[x] for x in attrs], dtype=np.int64))

    out = np.matmul(
        a_t.reshape(n(batch), n(a_only), n(summed)), b_t.reshape(n(batch), n(summed), n(b_only))
    )
    order = batch + a_only + b_only
    out = out.reshape([size[x] for x in order])
    result = canonical(order)
    return np.transpose(out, [order.index(x) for x in result]), result


def contract(operands: Sequence[tuple[np.ndarray, Attrs]], out_attrs: Attrs) -> np.ndarray:
    """Sum over everything but ``out_attrs`` of the product of the tables (all canonical).

    The pairwise order comes from numpy's greedy einsum path (which keeps intermediates
    small); each pair is then contracted as a batched matrix product.
    """
    ops = list(operands)
    attrs_all = canonical(a for _, attrs in ops for a in attrs)
    if len(ops) > 2 and len(attrs_all) <= len(_LETTERS):
        letter = {a: _LETTERS[i] for i, a in enumerate(attrs_all)}
        spec = ",".join("".join(letter[a] for a in attrs) for _, attrs in ops)
        spec += "->" + "".join(letter[a] for a in out_attrs)
        path = np.einsum_path(spec, *(t for t, _ in ops), optimize="greedy")[0][1:]
    else:
        path = [(0, 1)] * (len(ops) - 1)
    for step in path:
        picked = [ops.pop(i) for i in sorted(step, reverse=True)]
        keep = set(out_attrs).union(*(set(attrs) for _, attrs in ops))
        table, attrs = picked[0]
        for k, (other, other_attrs) in enumerate(picked[1:], start=2):
            later = keep.union(*(set(x) for _, x in picked[k:]))
            table, attrs = _contract_pair(table, attrs, other, other_attrs, later)
        ops.append((table, attrs))
    table, attrs = ops[0]
    return sum_to(table, attrs, out_attrs)
