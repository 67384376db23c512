"""Column declarations. A schema is public: nothing in it may come from a free look at data."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from privsynth.errors import SchemaError

if TYPE_CHECKING:
    from privsynth.schema.rules import Rule

OTHER = "__other__"


@dataclass(frozen=True)
class CategoricalColumn:
    """A column whose values come from a declared finite set.

    ``on_unknown`` says what happens to a value outside ``values``: ``"other"`` maps it to one
    extra code (decoded as ``other_label``), ``"error"`` refuses the data.
    """

    name: str
    values: tuple[str, ...]
    nullable: bool = False
    on_unknown: Literal["error", "other"] = "error"
    other_label: str = OTHER
    kind: str = field(default="categorical", init=False)

    def __post_init__(self) -> None:
        if not self.values:
            raise SchemaError(f"column {self.name!r}: categorical needs at least one value")
        if len(set(self.values)) != len(self.values):
            dup = next(v for v in self.values if self.values.count(v) > 1)
            raise SchemaError(f"column {self.name!r}: value {dup!r} is declared twice")
        if self.on_unknown not in ("error", "other"):
            raise SchemaError(
                f"column {self.name!r}: on_unknown must be 'error' or 'other', got {self.on_unknown!r}"
            )


@dataclass(frozen=True)
class NumericColumn:
    """An integer or continuous column with public bounds, discretized into bins.

    Bins are either explicit ``edges`` (increasing, from ``lower`` to ``upper``) or ``bins``
    equal-width intervals. Integer columns whose range has at most ``bins`` values get one
    code per value. ``on_out_of_range`` is ``"clip"`` or ``"error"``.
    """

    name: str
    kind: Literal["integer", "continuous"]
    lower: float
    upper: float
    bins: int = 32
    edges: tuple[float, ...] | None = None
    nullable: bool = False
    on_out_of_range: Literal["clip", "error"] = "clip"

    def __post_init__(self) -> None:
        for bound in ("lower", "upper"):
            value = getattr(self, bound)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise SchemaError(
                    f"column {self.name!r}: {bound} must be a finite number, got {value!r}"
                )
        if self.upper < self.lower:
            raise SchemaError(
                f"column {self.name!r}: upper bound {self.upper!r} is below lower bound {self.lower!r}"
            )
        if not isinstance(self.bins, int) or self.bins < 1:
            raise SchemaError(
                f"column {self.name!r}: bins must be a positive integer, got {self.bins!r}"
            )
        if self.on_out_of_range not in ("clip", "error"):
            raise SchemaError(f"column {self.name!r}: on_out_of_range must be 'clip' or 'error'")
        if self.edges is not None:
            e = np.asarray(self.edges, dtype=float)
            if e.size < 2 or np.any(np.diff(e) <= 0) or not np.all(np.isfinite(e)):
                raise SchemaError(
                    f"column {self.name!r}: edges must be at least two increasing finite numbers"
                )
            if e[0] != self.lower or e[-1] != self.upper:
                raise SchemaError(
                    f"column {self.name!r}: edges must start at lower ({self.lower}) and end at upper ({self.upper})"
                )

    def bin_edges(self) -> np.ndarray:
        """Edges of the bins: ``len(edges) - 1`` intervals, the last one closed."""
        if self.edges is not None:
            return np.asarray(self.edges, dtype=float)
        lo, hi = float(self.lower), float(self.upper)
        if self.kind == "integer":
            lo, hi = math.ceil(lo), math.floor(hi)
            n_values = hi - lo + 1
            if n_values <= self.bins:
                return np.arange(lo, hi + 2, dtype=float) - 0.5
            return np.linspace(lo - 0.5, hi + 0.5, self.bins + 1)
        if hi == lo:
            return np.array([lo, hi + 1.0])
        return np.linspace(lo, hi, self.bins + 1)


@dataclass(frozen=True)
class DatetimeColumn:
    """A datetime column with public bounds; binned like a continuous column over epoch seconds."""

    name: str
    lower: str
    upper: str
    bins: int = 32
    nullable: bool = False
    on_out_of_range: Literal["clip", "error"] = "clip"
    kind: str = field(default="datetime", init=False)

    def numeric(self) -> NumericColumn:
        """The equivalent continuous column over seconds since the epoch."""
        import pandas as pd

        try:
            lo = pd.Timestamp(self.lower).timestamp()
            hi = pd.Timestamp(self.upper).timestamp()
        except (ValueError, TypeError) as exc:
            raise SchemaError(
                f"column {self.name!r}: cannot parse datetime bounds: {exc}"
            ) from None
        return NumericColumn(
            self.name,
            "continuous",
            lo,
            hi,
            bins=self.bins,
            nullable=self.nullable,
            on_out_of_range=self.on_out_of_range,
        )


Column = CategoricalColumn | NumericColumn | DatetimeColumn


@dataclass(frozen=True)
class Schema:
    """Ordered public column declarations, an optional label column, missing-value markers,
    and rules every generated row must respect (:mod:`privsynth.schema.rules`)."""

    columns: tuple[Column, ...]
    label: str | None = None
    missing_values: tuple[str, ...] = ("",)
    name: str | None = None
    provenance: dict | None = None
    rules: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if not names:
            raise SchemaError("schema declares no columns")
        seen: set[str] = set()
        for n in names:
            if n in seen:
                raise SchemaError(f"column {n!r} is declared twice in the schema")
            seen.add(n)
        if self.label is not None and self.label not in seen:
            raise SchemaError(f"label column {self.label!r} is not declared in the schema")
        for rule in self.rules:
            unknown = [a for a in rule.attributes if a not in seen]
            if unknown:
                raise SchemaError(f"rule {rule.text()!r}: unknown column {unknown[0]!r}")

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in order."""
        return tuple(c.name for c in self.columns)

    def __getitem__(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)
