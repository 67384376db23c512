"""Contingency tables of encoded data.

Generators never touch rows: they ask a :class:`CountingBackend` for exact counts, and only
the functions in :mod:`privsynth.measure` may call it (each after charging the ledger). An
out-of-core or distributed engine implements the same two members and plugs in unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from privsynth.domain import Domain


@runtime_checkable
class CountingBackend(Protocol):
    """Source of exact marginal counts over a discrete domain."""

    domain: Domain

    def count(self, attrs: Sequence[str]) -> np.ndarray:
        """Exact contingency table over ``attrs`` (shape ``domain.shape(attrs)``, int64)."""
        ...


@dataclass(frozen=True)
class EncodedTable:
    """Private data in integer codes: one array per attribute, codes in ``0..size-1``."""

    domain: Domain
    codes: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        lengths = {len(v) for v in self.codes.values()}
        if len(lengths) > 1:
            raise ValueError("columns differ in length")
        for a in self.domain:
            col = self.codes[a]
            if len(col) and (col.min() < 0 or col.max() >= self.domain[a]):
                raise ValueError(f"column {a!r}: codes outside 0..{self.domain[a] - 1}")

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(next(iter(self.codes.values()))) if self.codes else 0

    def matrix(self, attrs: Sequence[str] | None = None) -> np.ndarray:
        """Codes as an (n_rows, len(attrs)) integer matrix."""
        attrs = list(self.domain.attributes if attrs is None else attrs)
        return (
            np.column_stack([self.codes[a] for a in attrs])
            if attrs
            else np.empty((self.n_rows, 0), int)
        )


def contingency(codes: Sequence[np.ndarray], shape: Sequence[int]) -> np.ndarray:
    """Count the joint occurrences of integer code columns (one bincount of a raveled index)."""
    shape = tuple(int(s) for s in shape)
    if not codes:
        return np.zeros((), dtype=np.int64) + (0 if not shape else 0)
    flat = np.ravel_multi_index(tuple(np.asarray(c, dtype=np.int64) for c in codes), shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).astype(np.int64).reshape(shape)


@dataclass(frozen=True)
class NumericScale:
    """Public facts about a numeric column, from the schema: declared bounds, bin edges
    (``len(edges) - 1`` bins, codes as :class:`~privsynth.transforms.discretize.Discretizer`
    assigns them), whether values are integers, whether the column is nullable."""

    lower: float
    upper: float
    edges: tuple[float, ...]
    integer: bool
    nullable: bool

    def codes(self, values: np.ndarray) -> np.ndarray:
        """Bin codes of ``values`` (NaN: the missing code), as the discretizer assigns them."""
        edges = np.asarray(self.edges, dtype=float)
        n_bins = len(edges) - 1
        v = np.asarray(values, dtype=float)
        missing = np.isnan(v)
        inside = np.clip(np.where(missing, self.lower, v), self.lower, self.upper)
        out = np.clip(np.searchsorted(edges, inside, side="right") - 1, 0, n_bins - 1)
        return np.where(missing, n_bins, out).astype(np.int64)


class InMemoryBackend:
    """Counts an :class:`EncodedTable` held in memory with numpy.

    ``label`` and ``numeric`` are public metadata from the schema (the label column, and the
    attributes whose codes are ordered bins of a number) that neural generators encode by.
    :meth:`rows` hands the codes themselves to :mod:`privsynth.measure` (DP-SGD), nobody else.

    ``values`` optionally holds the parsed numbers of numeric columns (clipped to the declared
    bounds, NaN where missing) and ``scales`` their public :class:`NumericScale`, for generators
    that model numbers as real values; :meth:`numeric_values` hands them to
    :mod:`privsynth.measure` only, like :meth:`rows`.
    """

    def __init__(
        self,
        table: EncodedTable,
        *,
        label: str | None = None,
        numeric: Sequence[str] = (),
        values: Mapping[str, np.ndarray] | None = None,
        scales: Mapping[str, NumericScale] | None = None,
    ) -> None:
        self.domain = table.domain
        self.label = label
        self.numeric = tuple(numeric)
        self._table = table
        values = dict(values or {})
        self.scales: dict[str, NumericScale] = dict(scales or {})
        if set(values) - set(self.scales) or set(values) - set(self.domain.attributes):
            raise ValueError("values need a public scale and a column of the domain each")
        for a, v in values.items():
            if len(v) != table.n_rows:
                raise ValueError(f"values of {a!r}: {len(v)} rows, the table has {table.n_rows}")
        self._values = values

    @property
    def valued(self) -> tuple[str, ...]:
        """Numeric columns whose real values (not only codes) are held, in domain order."""
        return tuple(a for a in self.domain.attributes if a in self._values)

    def rows(self) -> EncodedTable:
        """The private codes (for DP-SGD in :mod:`privsynth.measure` only)."""
        return self._table

    def numeric_values(self) -> Mapping[str, np.ndarray]:
        """The private numbers (for :mod:`privsynth.measure` only)."""
        return self._values

    def count(self, attrs: Sequence[str]) -> np.ndarray:
        """Exact contingency table over ``attrs``."""
        attrs = tuple(attrs)
        if not attrs:
            return np.array(self._table.n_rows, dtype=np.int64)
        return contingency([self._table.codes[a] for a in attrs], self.domain.shape(attrs))
