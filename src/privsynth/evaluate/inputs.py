"""Bring real, synthetic and test tables onto the schema's public discretization, once.

Every table goes through the same :class:`Discretizer`, so real and synthetic rows land in the
same bins. Typed frames (as :meth:`Discretizer.decode` returns them) are turned into text first,
missing values becoming the schema's first missing marker, because the Discretizer parses text.

A column the schema declares non-nullable may still hold missing values in a synthetic table
(a generator that is not marginal-based can produce them). Refusing would lose every metric, and
dropping those rows would hide them, so the evaluation widens such a column with one extra
"missing" code for all tables alike and reports how many values fell into it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from privsynth.domain import Domain
from privsynth.errors import InputError
from privsynth.schema.columns import CategoricalColumn, Column, DatetimeColumn, Schema
from privsynth.tables import check_columns
from privsynth.transforms.discretize import Discretizer


@dataclass(frozen=True)
class PreparedTable:
    """One table in codes over the shared domain, plus parsed values of its numeric columns.

    ``values`` holds floats (datetimes as seconds since the epoch) with NaN where missing, for
    numeric and datetime columns only; ``missing`` counts missing values per column.
    """

    name: str
    codes: Mapping[str, np.ndarray]
    values: Mapping[str, np.ndarray]
    missing: Mapping[str, int]
    changes: Mapping[str, Mapping[str, int]]

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(next(iter(self.codes.values())))


@dataclass(frozen=True)
class Prepared:
    """All tables of one evaluation over one domain, and the columns widened to hold missing."""

    schema: Schema
    domain: Domain
    tables: Mapping[str, PreparedTable]
    widened: Mapping[str, Mapping[str, int]]


def as_text(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Text version of a (possibly typed) frame, missing values as the first missing marker."""
    marker = schema.missing_values[0] if schema.missing_values else None
    out = {}
    for name in schema.names:
        series = df[name]
        missing = series.isna().to_numpy()
        if pd.api.types.is_datetime64_any_dtype(series):
            # ISO text keeps sub-second precision and parses back unambiguously.
            text = series.dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
        else:
            text = series.astype(str)
        text = text.astype(object).to_numpy(copy=True)
        text[missing] = marker
        out[name] = pd.Series(text, index=df.index, dtype=object)
    return pd.DataFrame(out, index=df.index)


def _is_missing(series: pd.Series, schema: Schema) -> np.ndarray:
    return series.isna().to_numpy() | series.isin(schema.missing_values).to_numpy()


def _parse_values(series: pd.Series, missing: np.ndarray, col: Column) -> np.ndarray:
    values = np.full(len(series), np.nan)
    present = series[~missing]
    if isinstance(col, DatetimeColumn):
        parsed = pd.to_datetime(present, errors="coerce", format="mixed")
        values[~missing] = (parsed - pd.Timestamp(0)).dt.total_seconds().to_numpy(dtype=float)
        return values
    try:
        values[~missing] = present.to_numpy(dtype=object).astype(float)
    except ValueError:
        # float() is stricter than the Discretizer's pd.to_numeric on some spellings.
        values[~missing] = pd.to_numeric(present, errors="coerce").to_numpy(dtype=float)
    return values


def prepare(frames: Mapping[str, pd.DataFrame], schema: Schema) -> Prepared:
    """Encode every frame (``{"real": df, "synthetic": df, ...}``) over one shared domain.

    Raises :class:`InputError` for a table without rows or with columns that do not match the
    schema, and for values the schema refuses (as the Discretizer does).
    """
    texts = {}
    for name, df in frames.items():
        if len(df) == 0:
            raise InputError(f"{name}: the table has no rows; nothing to evaluate")
        texts[name] = as_text(check_columns(df, schema, name), schema).reset_index(drop=True)
    masks = {
        name: {c: _is_missing(text[c], schema) for c in schema.names}
        for name, text in texts.items()
    }
    widened: dict[str, dict[str, int]] = {}
    columns = []
    for col in schema.columns:
        counts = {name: int(m[col.name].sum()) for name, m in masks.items()}
        if not col.nullable and any(counts.values()):
            widened[col.name] = counts
            col = replace(col, nullable=True)
        columns.append(col)
    eval_schema = replace(schema, columns=tuple(columns)) if widened else schema
    discretizer = Discretizer(eval_schema)
    tables = {}
    for name, text in texts.items():
        encoded, report = discretizer.encode(text, name)
        values = {
            col.name: _parse_values(text[col.name], masks[name][col.name], col)
            for col in eval_schema.columns
            if not isinstance(col, CategoricalColumn)
        }
        missing = {c: int(masks[name][c].sum()) for c in schema.names}
        tables[name] = PreparedTable(
            name,
            dict(encoded.codes),
            values,
            missing,
            {k: dict(v) for k, v in report.changes.items()},
        )
    return Prepared(eval_schema, discretizer.domain, tables, widened)
