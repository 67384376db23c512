"""Table <-> integer codes, built from the public schema alone.

Categorical values map to their declared index (plus an "other" code and a missing code when
declared); numbers map to public bins and decode to a value drawn uniformly inside their
bin; missing values are a code of their own. Out-of-schema values are clipped or mapped to
"other" as declared and *counted*: the counts are statistics of private data, shown to the
data owner only and never stored in a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from privsynth.domain import Domain
from privsynth.errors import InputError
from privsynth.marginals.counting import EncodedTable, NumericScale
from privsynth.schema.columns import (
    CategoricalColumn,
    Column,
    DatetimeColumn,
    NumericColumn,
    Schema,
)


@dataclass
class EncodeReport:
    """Per-column counts of values changed to fit the schema (not private: data owner only)."""

    changes: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, column: str, what: str, count: int) -> None:
        """Record ``count`` values of ``column`` changed in manner ``what``."""
        if count:
            self.changes.setdefault(column, {})[what] = self.changes.get(column, {}).get(
                what, 0
            ) + int(count)

    @property
    def total(self) -> int:
        """Number of changed cells."""
        return sum(sum(v.values()) for v in self.changes.values())


def _as_numeric(col: Column) -> NumericColumn | None:
    if isinstance(col, DatetimeColumn):
        return col.numeric()
    return col if isinstance(col, NumericColumn) else None


class Discretizer:
    """Encodes a table to codes over a public :class:`Domain` and decodes codes back."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        sizes = {}
        for col in schema.columns:
            if isinstance(col, CategoricalColumn):
                size = len(col.values) + (col.on_unknown == "other")
            else:
                size = len(_as_numeric(col).bin_edges()) - 1
            sizes[col.name] = size + col.nullable
        self.domain = Domain.from_dict(sizes)

    def missing_code(self, name: str) -> int | None:
        """The code that stands for a missing value, if the column is nullable."""
        return self.domain[name] - 1 if self.schema[name].nullable else None

    def encode(
        self, df: pd.DataFrame, source: str | Path = "data"
    ) -> tuple[EncodedTable, EncodeReport]:
        """Encode a string-valued table (columns in schema order)."""
        report = EncodeReport()
        codes = {}
        for col in self.schema.columns:
            raw = df[col.name]
            missing = raw.isna().to_numpy() | raw.isin(self.schema.missing_values).to_numpy()
            if missing.any() and not col.nullable:
                row = int(np.flatnonzero(missing)[0])
                raise InputError(
                    f"{source}: column {col.name!r}: missing value {raw.iloc[row]!r} (row {row + 2}) "
                    "but the schema does not declare it nullable"
                )
            out = np.zeros(len(raw), dtype=np.int64)
            present = ~missing
            if isinstance(col, CategoricalColumn):
                out[present] = self._encode_categorical(col, raw[present], source, report)
            else:
                out[present] = self._encode_numeric(col, raw[present], source, report)
            if col.nullable:
                out[missing] = self.domain[col.name] - 1
                report.add(col.name, "missing", int(missing.sum()))
            codes[col.name] = out
        return EncodedTable(self.domain, codes), report

    def _encode_categorical(
        self, col: CategoricalColumn, raw: pd.Series, source: str | Path, report: EncodeReport
    ) -> np.ndarray:
        index = pd.Index(col.values)
        out = index.get_indexer(raw.astype(str))
        unknown = out < 0
        if unknown.any():
            if col.on_unknown == "error":
                value = raw.iloc[int(np.flatnonzero(unknown)[0])]
                raise InputError(
                    f"{source}: column {col.name!r}: value {value!r} is not among the schema's "
                    f"{len(col.values)} declared values (declare on_unknown: other to map it)"
                )
            out[unknown] = len(col.values)
            report.add(col.name, "mapped_to_other", int(unknown.sum()))
        return out

    def _encode_numeric(
        self, col: Column, raw: pd.Series, source: str | Path, report: EncodeReport
    ) -> np.ndarray:
        num = _as_numeric(col)
        values, bad = _parse(col, raw)
        if bad.any():
            value = raw.iloc[int(np.flatnonzero(bad)[0])]
            raise InputError(
                f"{source}: column {col.name!r}: value {value!r} is not a valid {col.kind}"
            )
        edges = num.bin_edges()
        low, high = values < num.lower, values > num.upper
        if low.any() or high.any():
            if num.on_out_of_range == "error":
                value = raw.iloc[int(np.flatnonzero(low | high)[0])]
                raise InputError(
                    f"{source}: column {col.name!r}: value {value!r} lies outside the declared "
                    f"bounds [{num.lower}, {num.upper}]"
                )
            report.add(col.name, "clipped_low", int(low.sum()))
            report.add(col.name, "clipped_high", int(high.sum()))
            values = np.clip(values, num.lower, num.upper)
        n_bins = len(edges) - 1
        return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, n_bins - 1)

    def numeric_scales(self) -> dict[str, NumericScale]:
        """Public bounds, bin edges and type of every numeric (and datetime) column."""
        out = {}
        for col in self.schema.columns:
            num = _as_numeric(col)
            if num is not None:
                edges = tuple(float(e) for e in num.bin_edges())
                integer = num.kind == "integer"
                out[col.name] = NumericScale(num.lower, num.upper, edges, integer, col.nullable)
        return out

    def numeric_values(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """Parsed numbers of the numeric columns of a table that :meth:`encode` accepted,
        clipped to the declared bounds (datetimes in epoch seconds), NaN where missing."""
        out = {}
        for col in self.schema.columns:
            num = _as_numeric(col)
            if num is None:
                continue
            raw = df[col.name]
            missing = raw.isna().to_numpy() | raw.isin(self.schema.missing_values).to_numpy()
            values = np.full(len(raw), np.nan)
            parsed, _ = _parse(col, raw[~missing])
            values[~missing] = np.clip(parsed, num.lower, num.upper)
            out[col.name] = values
        return out

    def codes_for(self, name: str, values: Sequence[str]) -> list[int]:
        """Codes of categorical ``values`` of column ``name`` (for ``where`` conditions)."""
        if name not in self.schema.names:
            raise InputError(f"--where: column {name!r} is not in the schema")
        col = self.schema[name]
        if not isinstance(col, CategoricalColumn):
            raise InputError(
                f"--where: column {name!r} is {col.kind}; conditions take categorical columns"
            )
        out = []
        for v in values:
            if v in col.values:
                out.append(col.values.index(v))
            elif col.nullable and v in self.schema.missing_values:
                out.append(self.domain[name] - 1)
            else:
                raise InputError(f"--where: column {name!r}: value {v!r} is not a declared value")
        return out

    def decode(
        self,
        codes: dict[str, np.ndarray],
        rng: np.random.Generator,
        values: Mapping[str, np.ndarray] | None = None,
    ) -> pd.DataFrame:
        """Codes back to typed values; numbers uniform within their bin, or, for the numeric
        columns in ``values`` (a model's own real values), those values (clipped to the
        declared bounds, integers rounded; missing where the code says so)."""
        values = values or {}
        data = {}
        for col in self.schema.columns:
            c = np.asarray(codes[col.name], dtype=np.int64)
            missing = (c == self.domain[col.name] - 1) if col.nullable else np.zeros(len(c), bool)
            if isinstance(col, CategoricalColumn):
                labels = np.array(
                    [*col.values, *([col.other_label] if col.on_unknown == "other" else [])]
                    + [None] * col.nullable,
                    dtype=object,
                )
                data[col.name] = pd.Series(labels[c], dtype=object)
                continue
            num = _as_numeric(col)
            edges = num.bin_edges()
            safe = np.where(missing, 0, c)
            lo, hi = edges[safe], edges[safe + 1]
            if col.name in values:
                series = _given(num, values[col.name], missing)
            elif num.kind == "integer":
                lo_i = np.maximum(np.ceil(lo), num.lower)
                hi_i = np.minimum(
                    np.where(hi == edges[-1], np.floor(hi), np.ceil(hi) - 1), num.upper
                )
                hi_i = np.maximum(hi_i, lo_i)
                vals = rng.integers(lo_i.astype(np.int64), hi_i.astype(np.int64) + 1)
                series = pd.Series(vals, dtype="Int64")
            else:
                vals = lo + (hi - lo) * rng.random(len(c))
                vals = np.clip(vals, num.lower, num.upper)
                series = pd.Series(vals, dtype="Float64")
            series[missing] = pd.NA
            if isinstance(col, DatetimeColumn):
                series = pd.to_datetime(series.astype("float64"), unit="s")
            data[col.name] = series
        return pd.DataFrame(data)


def _parse(col: Column, raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Numbers (datetimes: epoch seconds) of present cells, and which cells did not parse."""
    if isinstance(col, DatetimeColumn):
        parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
        return _seconds(parsed), parsed.isna().to_numpy()
    parsed = pd.to_numeric(raw, errors="coerce")
    return parsed.to_numpy(dtype=float, na_value=0.0), parsed.isna().to_numpy()


def _given(num: NumericColumn, vals: np.ndarray, missing: np.ndarray) -> pd.Series:
    """A model's real values as a typed column: clipped to the bounds, integers rounded."""
    vals = np.clip(np.nan_to_num(np.asarray(vals, dtype=float)), num.lower, num.upper)
    if num.kind == "integer":
        lo, hi = np.ceil(num.lower), np.floor(num.upper)
        series = pd.Series(np.clip(np.rint(vals), lo, hi).astype(np.int64), dtype="Int64")
    else:
        series = pd.Series(vals, dtype="Float64")
    series[missing] = pd.NA
    return series


def _seconds(parsed: pd.Series) -> np.ndarray:
    filled = parsed.fillna(pd.Timestamp(0))
    return (filled - pd.Timestamp(0)).dt.total_seconds().to_numpy(dtype=float)
