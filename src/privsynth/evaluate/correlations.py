"""How well pairwise dependence is kept: Pearson correlation and Cramér's V, real vs synthetic.

Numeric and datetime columns are compared with the Pearson correlation of their values
(pairwise-complete rows, missing values left out). Categorical columns are compared with
Cramér's V of their codes (missing is a category of its own), chosen over Theil's U because it
is symmetric, lies in [0, 1] and reads like a correlation; it is the plain (not
bias-corrected) V, whose small-sample upward bias is alike for real and synthetic tables of
similar size. Each score is the mean absolute difference over all column pairs.

A constant column (or a pair with fewer than two complete rows) has no defined correlation.
It is independent of every other column, so its association is taken as 0; such pairs are
listed rather than dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from privsynth.domain import Domain
from privsynth.evaluate.inputs import PreparedTable
from privsynth.marginals.counting import contingency
from privsynth.schema.columns import CategoricalColumn, Schema


@dataclass(frozen=True)
class AssociationDifference:
    """Mean and largest absolute difference of one association measure over column pairs."""

    measure: str
    columns: tuple[str, ...]
    real: Mapping[tuple[str, str], float]
    synthetic: Mapping[tuple[str, str], float]
    undefined: Mapping[str, tuple[tuple[str, str], ...]]

    def differences(self) -> dict[tuple[str, str], float]:
        """Absolute difference per pair."""
        return {p: abs(self.real[p] - self.synthetic[p]) for p in self.real}

    def to_dict(self) -> dict[str, Any]:
        """Plain data; the mean is None (with a reason) when there are fewer than two columns."""
        out: dict[str, Any] = {"measure": self.measure, "columns": list(self.columns)}
        diffs = self.differences()
        if not diffs:
            out.update(
                n_pairs=0,
                mean_abs_diff=None,
                reason=f"fewer than two such columns ({len(self.columns)})",
            )
            return out
        worst = max(diffs, key=lambda p: diffs[p])
        out.update(
            n_pairs=len(diffs),
            mean_abs_diff=float(np.mean(list(diffs.values()))),
            max_abs_diff=diffs[worst],
            worst_pair={
                "columns": list(worst),
                "real": self.real[worst],
                "synthetic": self.synthetic[worst],
            },
            undefined_set_to_0={k: [list(p) for p in v] for k, v in self.undefined.items()},
        )
        return out


def cramers_v(table: np.ndarray) -> float | None:
    """Cramér's V of a two-way count table; None when a variable takes a single value."""
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    k = min(table.shape)
    if k < 2:
        return None
    n = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(min(1.0, np.sqrt(chi2 / (n * (k - 1)))))


def _pearson(
    values: Mapping[str, np.ndarray], columns: Sequence[str]
) -> dict[tuple[str, str], float | None]:
    frame = pd.DataFrame({c: values[c] for c in columns})
    matrix = frame.corr(method="pearson", min_periods=2)
    return {
        (a, b): None if np.isnan(matrix.loc[a, b]) else float(matrix.loc[a, b])
        for a, b in combinations(columns, 2)
    }


def _cramer(
    codes: Mapping[str, np.ndarray], columns: Sequence[str], domain: Domain
) -> dict[tuple[str, str], float | None]:
    return {
        (a, b): cramers_v(contingency([codes[a], codes[b]], domain.shape([a, b])))
        for a, b in combinations(columns, 2)
    }


def _fill(
    measure: str, columns: Sequence[str], real: Mapping, synth: Mapping
) -> AssociationDifference:
    undefined = {
        "real": tuple(p for p, v in real.items() if v is None),
        "synthetic": tuple(p for p, v in synth.items() if v is None),
    }
    return AssociationDifference(
        measure,
        tuple(columns),
        {p: 0.0 if v is None else v for p, v in real.items()},
        {p: 0.0 if v is None else v for p, v in synth.items()},
        undefined,
    )


@dataclass(frozen=True)
class CorrelationFidelity:
    """Pearson differences of numeric columns and Cramér's V differences of categoricals."""

    pearson: AssociationDifference
    cramers_v: AssociationDifference

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "note": (
                "mean absolute difference, over all column pairs, of the Pearson correlation "
                "(numeric and datetime columns, values, pairwise-complete rows) and of Cramér's "
                "V (categorical columns, missing as a category); a pair whose association is "
                "undefined (a constant column) counts as 0 and is listed"
            ),
            "pearson": self.pearson.to_dict(),
            "cramers_v": self.cramers_v.to_dict(),
        }


def correlation_fidelity(
    schema: Schema, domain: Domain, real: PreparedTable, synth: PreparedTable
) -> CorrelationFidelity:
    """Compare pairwise associations of ``real`` and ``synth``."""
    numeric = [c.name for c in schema.columns if not isinstance(c, CategoricalColumn)]
    categorical = [c.name for c in schema.columns if isinstance(c, CategoricalColumn)]
    pearson = _fill(
        "pearson", numeric, _pearson(real.values, numeric), _pearson(synth.values, numeric)
    )
    cramer = _fill(
        "cramers_v",
        categorical,
        _cramer(real.codes, categorical, domain),
        _cramer(synth.codes, categorical, domain),
    )
    return CorrelationFidelity(pearson, cramer)
