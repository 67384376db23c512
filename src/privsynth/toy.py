"""Built-in toy tables with known structure, for tests, demos and evidence.

Each generator draws ``n`` rows from an explicit ``rng`` and returns the table as text (as
:func:`privsynth.tables.read_table` returns tables: every cell a string, numbers written so
that they parse back to the same float) together with a matching public :class:`Schema`.
Nothing in a schema is read from the draw: bounds, bins and values follow from the
generator's definition alone, so the same schema comes back for every ``n`` and ``rng``.

The schemas of tables with modes (``four_modes``, ``mixture``) record the generator and its
parameters under ``provenance["toy"]``; :func:`toy_modes` rebuilds the mode centres and their
labels from that, which :mod:`privsynth.evaluate.labels` uses to score label accuracy.

- ``four_modes``: 2-D points around four Gaussian modes at (±2, ±2), sd 0.5, equally likely;
  the label is ``"1"`` where the two coordinates of the mode differ in sign and ``"0"``
  where they agree (an XOR: neither coordinate alone predicts it). The mode itself is not
  a column; it is implied by the geometry.
- ``funnel``: Neal's funnel, ``v ~ N(0, 3^2)`` and ``x_i | v ~ N(0, exp(v/2)^2)``; the x
  columns are heavy-tailed and the schema clips them to [-50, 50] (v to [-10, 10]).
- ``mixture``: a mixture of ``k`` Gaussians in 1 or 2 dimensions with a categorical
  ``component`` column (the label) saying which one each row came from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from privsynth.errors import InputError
from privsynth.schema.columns import CategoricalColumn, NumericColumn, Schema

ToyTable = tuple[pd.DataFrame, Schema]

FOUR_MODES_CENTRES: tuple[tuple[float, float], ...] = (
    (-2.0, -2.0),
    (-2.0, 2.0),
    (2.0, -2.0),
    (2.0, 2.0),
)
"""Centres of the four modes of ``four_modes`` (x, y)."""
FOUR_MODES_LABELS: tuple[str, ...] = ("0", "1", "1", "0")
"""The label of each of :data:`FOUR_MODES_CENTRES`: ``"1"`` where the signs differ."""
FOUR_MODES_SD = 0.5
FUNNEL_V_SD = 3.0
MIXTURE_SD = 0.75
MIXTURE_RADIUS = 4.0

_PROVENANCE = {"how": "public", "note": "built-in toy table: schema from the generator alone"}


@dataclass(frozen=True)
class Modes:
    """Mode centres of a toy table over ``columns`` and the label each mode carries."""

    columns: tuple[str, ...]
    centres: tuple[tuple[float, ...], ...]
    labels: tuple[str, ...]
    label: str

    def nearest(self, points: np.ndarray) -> np.ndarray:
        """Index of the nearest centre (Euclidean) for each row of ``points`` (n x columns)."""
        points = np.asarray(points, dtype=float).reshape(-1, len(self.columns))
        centres = np.asarray(self.centres, dtype=float)
        dist = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        return np.argmin(dist, axis=1)


def _check(n: int, rng: np.random.Generator) -> None:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise InputError(f"toy table: n must be a positive integer, got {n!r}")
    if not isinstance(rng, np.random.Generator):
        raise InputError(f"toy table: rng must be a numpy Generator, got {type(rng).__name__}")


def _text(values: np.ndarray) -> np.ndarray:
    """Shortest text that parses back to the same float (numpy's repr of float64)."""
    return np.asarray(values, dtype=np.float64).astype(str)


def _frame(columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(v, dtype=str) for k, v in columns.items()})


def _provenance(toy: str, **params: Any) -> dict[str, Any]:
    return {**_PROVENANCE, "toy": {"name": toy, "params": params}}


def four_modes_schema() -> Schema:
    """The public schema of ``four_modes``: x, y in [-5, 5] (20 bins, clip), label "0"/"1"."""
    return Schema(
        (
            NumericColumn("x", "continuous", -5.0, 5.0, bins=20),
            NumericColumn("y", "continuous", -5.0, 5.0, bins=20),
            CategoricalColumn("label", ("0", "1")),
        ),
        label="label",
        name="toy/four_modes",
        provenance=_provenance("four_modes"),
    )


def two_class_four_modes(n: int, rng: np.random.Generator) -> ToyTable:
    """``n`` points from four equally likely Gaussian modes (sd 0.5), labelled by mode."""
    _check(n, rng)
    mode = rng.integers(0, len(FOUR_MODES_CENTRES), size=n)
    centres = np.asarray(FOUR_MODES_CENTRES)[mode]
    xy = centres + FOUR_MODES_SD * rng.standard_normal((n, 2))
    labels = np.asarray(FOUR_MODES_LABELS)[mode]
    df = _frame({"x": _text(xy[:, 0]), "y": _text(xy[:, 1]), "label": labels})
    return df, four_modes_schema()


def _funnel_edges(upper: float = 50.0, bins: int = 32) -> tuple[float, ...]:
    """Symmetric bin edges evenly spaced in asinh: narrow (about 0.3) near 0, wide in the tails."""
    half = np.arcsinh(upper)
    edges = np.sinh(np.linspace(-half, half, bins + 1))
    edges[0], edges[-1] = -upper, upper
    return tuple(float(e) for e in edges)


def funnel_schema(dims: int = 2) -> Schema:
    """The public schema of ``funnel``: v in [-10, 10] (32 bins), x1.. in [-50, 50], clipped.

    The x columns have 32 bins evenly spaced in ``asinh(x)``, which follows the funnel's scale
    (chosen from the generator's definition, not from data).
    """
    if not isinstance(dims, int) or dims < 2:
        raise InputError(f"funnel: dims must be an integer >= 2 (v and x1..), got {dims!r}")
    edges = _funnel_edges()
    xs = tuple(
        NumericColumn(f"x{i}", "continuous", -50.0, 50.0, edges=edges, on_out_of_range="clip")
        for i in range(1, dims)
    )
    return Schema(
        (NumericColumn("v", "continuous", -10.0, 10.0, bins=32, on_out_of_range="clip"), *xs),
        name="toy/funnel",
        provenance=_provenance("funnel", dims=dims),
    )


def neal_funnel(n: int, rng: np.random.Generator, dims: int = 2) -> ToyTable:
    """``n`` draws of Neal's funnel in ``dims`` dimensions: columns v, x1 .. x{dims-1}.

    ``v ~ N(0, 3^2)``, ``x_i ~ N(0, exp(v/2)^2)`` independently given v. The table holds the
    raw draws; values beyond the declared bounds are clipped by the schema when encoded.
    """
    schema = funnel_schema(dims)
    _check(n, rng)
    v = FUNNEL_V_SD * rng.standard_normal(n)
    x = np.exp(v / 2)[:, None] * rng.standard_normal((n, dims - 1))
    cols = {"v": _text(v)} | {f"x{i}": _text(x[:, i - 1]) for i in range(1, dims)}
    return _frame(cols), schema


def _mixture_layout(k: int, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres (k x dims) and weights (k) of ``mixture``."""
    if not isinstance(k, int) or k < 2:
        raise InputError(f"mixture: k must be an integer >= 2, got {k!r}")
    if dims not in (1, 2):
        raise InputError(f"mixture: dims must be 1 or 2, got {dims!r}")
    if dims == 1:
        centres = np.linspace(-MIXTURE_RADIUS, MIXTURE_RADIUS, k)[:, None]
    else:
        angle = 2 * np.pi * np.arange(k) / k
        centres = MIXTURE_RADIUS * np.column_stack([np.cos(angle), np.sin(angle)])
    weights = np.arange(k, 0, -1, dtype=float)
    return centres, weights / weights.sum()


def _mixture_columns(dims: int) -> tuple[str, ...]:
    return ("x",) if dims == 1 else ("x", "y")


def mixture_schema(k: int = 3, dims: int = 1) -> Schema:
    """The public schema of ``mixture``: coordinates in [-8, 8] (32 bins, clip), ``component``."""
    _mixture_layout(k, dims)
    coords = tuple(
        NumericColumn(c, "continuous", -8.0, 8.0, bins=32) for c in _mixture_columns(dims)
    )
    return Schema(
        (*coords, CategoricalColumn("component", tuple(str(j) for j in range(k)))),
        label="component",
        name="toy/mixture",
        provenance=_provenance("mixture", k=k, dims=dims),
    )


def gaussian_mixture(n: int, rng: np.random.Generator, k: int = 3, dims: int = 1) -> ToyTable:
    """``n`` draws from a mixture of ``k`` Gaussians (sd 0.75) in ``dims`` (1 or 2) dimensions.

    Centres: evenly spaced on [-4, 4] in 1-D, on the circle of radius 4 in 2-D. Weights are
    proportional to k, k-1, ..., 1 (for k = 3: 1/2, 1/3, 1/6). Columns: x (and y), component.
    """
    schema = mixture_schema(k, dims)
    _check(n, rng)
    centres, weights = _mixture_layout(k, dims)
    component = rng.choice(k, size=n, p=weights)
    points = centres[component] + MIXTURE_SD * rng.standard_normal((n, dims))
    cols = {c: _text(points[:, i]) for i, c in enumerate(_mixture_columns(dims))}
    cols["component"] = component.astype(str)
    return _frame(cols), schema


TOY: dict[str, Callable[..., ToyTable]] = {
    "four_modes": two_class_four_modes,
    "funnel": neal_funnel,
    "mixture": gaussian_mixture,
}
"""The built-in toy generators by name; each is called as ``TOY[name](n, rng, **params)``."""


def toy_table(name: str, n: int, rng: np.random.Generator, **params: Any) -> ToyTable:
    """``n`` rows of the toy table ``name`` (see :data:`TOY`) drawn with ``rng``, and its schema."""
    if name not in TOY:
        raise InputError(f"unknown toy table {name!r}; choose one of {sorted(TOY)}")
    return TOY[name](n, rng, **params)


def toy_modes(schema: Schema) -> Modes | None:
    """The mode centres and labels of a toy table's schema; None for any other schema.

    Read from ``schema.provenance["toy"]`` as the toy schemas record it (``four_modes`` and
    ``mixture``; ``funnel`` has no modes).
    """
    toy = (schema.provenance or {}).get("toy")
    if not isinstance(toy, Mapping):
        return None
    name, params = toy.get("name"), dict(toy.get("params") or {})
    if name == "four_modes":
        return Modes(("x", "y"), FOUR_MODES_CENTRES, FOUR_MODES_LABELS, "label")
    if name == "mixture":
        k, dims = int(params.get("k", 3)), int(params.get("dims", 1))
        centres, _ = _mixture_layout(k, dims)
        return Modes(
            _mixture_columns(dims),
            tuple(tuple(float(c) for c in row) for row in centres),
            tuple(str(j) for j in range(k)),
            "component",
        )
    return None
