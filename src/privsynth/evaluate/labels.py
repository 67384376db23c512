"""Label accuracy on toy tables with known modes: do synthetic labels match the geometry?

Each point is assigned to the nearest mode centre (Euclidean, over the mode columns, on the
parsed values); it counts as correct when its label is the label that mode carries. The share
of correct synthetic points is the label accuracy; the same share on the real rows is the
reference (near 1 for ``four_modes``, below 1 where modes overlap, as in ``mixture``). A
generator that keeps the points but loses their relation to the label scores about the share of
the most common label among nearby modes (1/2 for ``four_modes`` with random labels).

Not private: computed on the real rows too, for the data owner. Rows that cannot be scored (a
missing coordinate, a label that is missing or not among the declared values) are left out and
counted per table, never dropped silently. Only schemas that declare modes (the built-in toy
tables, see :func:`privsynth.toy.toy_modes`) are scored; for others the result says why not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from privsynth.evaluate.inputs import Prepared, PreparedTable
from privsynth.schema.columns import CategoricalColumn, Schema
from privsynth.toy import Modes, toy_modes

NOTE = (
    "not private: computed on the real rows too. Each point is assigned to the nearest mode "
    "centre; label accuracy is the share of points whose label is that mode's label. The real "
    "rows give the reference; rows with a missing coordinate or an undeclared/missing label are "
    "left out and counted"
)


@dataclass(frozen=True)
class TableLabelAccuracy:
    """Label accuracy of one table; ``accuracy`` is None (with ``reason``) if nothing is scored."""

    n_scored: int
    accuracy: float | None
    excluded: Mapping[str, int] = field(default_factory=dict)
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        out: dict[str, Any] = {"accuracy": self.accuracy, "n_scored": self.n_scored}
        out["excluded"] = dict(self.excluded)
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class LabelAccuracy:
    """Label accuracy of every table ("real" is the reference), or why it was skipped."""

    skipped: str | None = None
    modes: Modes | None = None
    tables: Mapping[str, TableLabelAccuracy] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the modes and, per table, accuracy, rows scored and rows left out."""
        if self.skipped or self.modes is None:
            return {"note": NOTE, "skipped": self.skipped or "skipped: no modes"}
        m = self.modes
        return {
            "note": NOTE,
            "label": m.label,
            "mode_columns": list(m.columns),
            "modes": [
                {"centre": list(c), "label": lab}
                for c, lab in zip(m.centres, m.labels, strict=True)
            ],
            "tables": {name: t.to_dict() for name, t in self.tables.items()},
        }


def _why_not(schema: Schema, modes: Modes) -> str | None:
    for name in (*modes.columns, modes.label):
        if name not in schema.names:
            return f"skipped: the schema has no column {name!r} named by the modes"
    label = schema[modes.label]
    if not isinstance(label, CategoricalColumn):
        return f"skipped: label column {modes.label!r} is {label.kind}, not categorical"
    for name in modes.columns:
        if isinstance(schema[name], CategoricalColumn):
            return f"skipped: mode column {name!r} is categorical, not numeric"
    unknown = sorted(set(modes.labels) - set(label.values))
    if unknown:
        return f"skipped: mode labels {unknown} are not declared values of {modes.label!r}"
    if len(modes.centres) == 0 or len(modes.centres) != len(modes.labels):
        return "skipped: the modes need one label per centre and at least one centre"
    return None


def _score(table: PreparedTable, modes: Modes, values: tuple[str, ...]) -> TableLabelAccuracy:
    points = np.column_stack([table.values[c] for c in modes.columns])
    codes = table.codes[modes.label]
    no_point = np.isnan(points).any(axis=1)
    no_label = codes >= len(values)  # "other" or missing code
    keep = ~no_point & ~no_label
    excluded = {
        "missing_coordinate": int(no_point.sum()),
        "label_missing_or_undeclared": int((no_label & ~no_point).sum()),
    }
    n = int(keep.sum())
    if n == 0:
        return TableLabelAccuracy(0, None, excluded, "no row with both coordinates and a label")
    expected = np.asarray(modes.labels, dtype=object)[modes.nearest(points[keep])]
    actual = np.asarray(values, dtype=object)[codes[keep]]
    return TableLabelAccuracy(n, float(np.mean(expected == actual)), excluded)


def label_accuracy(prepared: Prepared, modes: Modes | None = None) -> LabelAccuracy:
    """Label accuracy of every prepared table against ``modes`` (default: the schema's toy modes).

    Skipped, with the reason, when no modes are given and the schema is not a toy schema with
    modes, or when the modes do not fit the schema.
    """
    schema = prepared.schema
    modes = modes if modes is not None else toy_modes(schema)
    if modes is None:
        return LabelAccuracy(
            skipped="skipped: the schema declares no mode centres (only built-in toy tables do)"
        )
    why = _why_not(schema, modes)
    if why:
        return LabelAccuracy(skipped=why, modes=modes)
    values = schema[modes.label].values
    tables = {name: _score(t, modes, values) for name, t in prepared.tables.items()}
    return LabelAccuracy(modes=modes, tables=tables)
