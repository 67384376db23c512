"""Rows as attack features: Gower-ready columns and a numeric embedding for models and kernels.

Every attack sees the same columns. Categorical columns are their codes over the shared domain
("other" and "missing" being codes of their own). Numeric and datetime columns are scaled to
[0, 1] by the schema's public bounds, from their parsed values (clipped to the bounds) when the
table has them, or from their bin codes as ordinals (bin index / (bins - 1)) for tables that
only exist as codes (shadow synthetic tables); a missing numeric value is NaN here.

The embedding used by the random forests and the kernel density estimates is: each categorical
column one-hot, scaled by 1/sqrt(2) so two different categories are at Euclidean distance 1;
each numeric column standardised with the mean and standard deviation of the attacker's
reference rows, a missing value placed at the mean; and one missing-indicator per numeric
column, scaled by 1/sqrt(2). Missing values are thus never dropped: they are a category of
their own, at a distance from every present value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from privsynth.evaluate.inputs import Prepared, PreparedTable
from privsynth.schema.columns import CategoricalColumn, DatetimeColumn, NumericColumn

_HALF = np.sqrt(0.5)


@dataclass(frozen=True)
class Encoded:
    """Rows of one table: categorical codes (n x c, int) and scaled numbers (n x m, NaN missing)."""

    categorical: np.ndarray
    numeric: np.ndarray
    cat_names: tuple[str, ...]
    cat_sizes: tuple[int, ...]
    num_names: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return self.categorical.shape[0]

    @property
    def n_columns(self) -> int:
        """Number of columns (categorical and numeric)."""
        return len(self.cat_names) + len(self.num_names)

    def take(self, rows: np.ndarray) -> Encoded:
        """The rows ``rows`` (indices), in that order."""
        return Encoded(
            self.categorical[rows],
            self.numeric[rows],
            self.cat_names,
            self.cat_sizes,
            self.num_names,
        )

    def without(self, name: str) -> Encoded:
        """The same rows without column ``name``."""
        cats = [i for i, c in enumerate(self.cat_names) if c != name]
        nums = [i for i, c in enumerate(self.num_names) if c != name]
        return Encoded(
            self.categorical[:, cats],
            self.numeric[:, nums],
            tuple(self.cat_names[i] for i in cats),
            tuple(self.cat_sizes[i] for i in cats),
            tuple(self.num_names[i] for i in nums),
        )

    def one_hot(self) -> np.ndarray:
        """Categorical columns one-hot (n x sum of sizes, 0/1 floats)."""
        out = np.zeros((self.n_rows, sum(self.cat_sizes)))
        offset = 0
        rows = np.arange(self.n_rows)
        for j, size in enumerate(self.cat_sizes):
            out[rows, offset + self.categorical[:, j]] = 1.0
            offset += size
        return out


def _bounds(col: NumericColumn | DatetimeColumn) -> tuple[float, float]:
    num = col.numeric() if isinstance(col, DatetimeColumn) else col
    return float(num.lower), float(num.upper)


def _encode(
    prepared: Prepared, codes: Mapping[str, np.ndarray], values: Mapping[str, np.ndarray] | None
) -> Encoded:
    cats, cat_names, cat_sizes, nums, num_names = [], [], [], [], []
    for col in prepared.schema.columns:
        code = np.asarray(codes[col.name], dtype=np.int64)
        size = prepared.domain[col.name]
        if isinstance(col, CategoricalColumn):
            cats.append(code)
            cat_names.append(col.name)
            cat_sizes.append(size)
            continue
        if values is not None:
            lo, hi = _bounds(col)
            raw = np.asarray(values[col.name], dtype=float)
            scaled = np.clip((raw - lo) / (hi - lo), 0.0, 1.0) if hi > lo else raw * 0.0
        else:
            bins = size - col.nullable
            scaled = code / (bins - 1) if bins > 1 else np.zeros(len(code))
            scaled = np.where(code >= bins, np.nan, scaled)
        nums.append(scaled)
        num_names.append(col.name)
    n = len(next(iter(codes.values())))
    return Encoded(
        np.column_stack(cats) if cats else np.zeros((n, 0), dtype=np.int64),
        np.column_stack(nums) if nums else np.zeros((n, 0)),
        tuple(cat_names),
        tuple(cat_sizes),
        tuple(num_names),
    )


def encode_table(prepared: Prepared, table: PreparedTable) -> Encoded:
    """A prepared table with numeric columns from their parsed values (finest resolution)."""
    return _encode(prepared, table.codes, table.values)


def encode_codes(prepared: Prepared, codes: Mapping[str, np.ndarray]) -> Encoded:
    """A table given only as codes: numeric columns from their bins, as ordinals."""
    return _encode(prepared, codes, None)


@dataclass(frozen=True)
class Embedding:
    """The numeric embedding, standardised with statistics of the attacker's reference rows."""

    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, reference: Encoded) -> Embedding:
        """Means and standard deviations of the present numeric values of ``reference``."""
        m = reference.numeric.shape[1]
        center, scale = np.zeros(m), np.ones(m)
        for j in range(m):
            present = reference.numeric[:, j][~np.isnan(reference.numeric[:, j])]
            if len(present):
                center[j] = present.mean()
                sd = present.std()
                scale[j] = sd if sd > 0 else 1.0
        return cls(center, scale)

    def __call__(self, enc: Encoded) -> np.ndarray:
        """The embedding of ``enc`` (n x dims)."""
        missing = np.isnan(enc.numeric)
        z = (np.where(missing, self.center, enc.numeric) - self.center) / self.scale
        return np.hstack([enc.one_hot() * _HALF, z, missing * _HALF])
