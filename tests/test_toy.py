"""Built-in toy tables: determinism, distributional properties, schemas and modes.

Tolerances are 5 standard errors of the statistic for the sample size drawn (fixed seeds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privsynth.errors import InputError
from privsynth.schema import Schema, schema_from_dict, schema_to_dict
from privsynth.toy import (
    FOUR_MODES_CENTRES,
    FOUR_MODES_LABELS,
    TOY,
    Modes,
    funnel_schema,
    gaussian_mixture,
    neal_funnel,
    toy_modes,
    toy_table,
    two_class_four_modes,
)
from privsynth.transforms import Discretizer

N = 4000
Z = 5.0  # standard errors allowed


def _floats(df: pd.DataFrame, *cols: str) -> np.ndarray:
    return np.column_stack([df[c].astype(float).to_numpy() for c in cols])


@pytest.mark.parametrize("name", sorted(TOY))
def test_deterministic_for_a_seed(name: str) -> None:
    a, schema_a = toy_table(name, 200, np.random.default_rng(3))
    b, schema_b = toy_table(name, 200, np.random.default_rng(3))
    c, schema_c = toy_table(name, 50, np.random.default_rng(4))
    pd.testing.assert_frame_equal(a, b)
    assert not a.head(50).equals(c)
    # The schema is public: it does not depend on the draw.
    assert schema_a == schema_b == schema_c
    assert list(a.columns) == list(schema_a.names)


@pytest.mark.parametrize("name", sorted(TOY))
def test_tables_are_text_and_encode(name: str) -> None:
    df, schema = toy_table(name, 500, np.random.default_rng(0))
    assert all(isinstance(v, str) for v in df.to_numpy().ravel())
    encoded, report = Discretizer(schema).encode(df, name)
    for col in schema.names:
        codes = encoded.codes[col]
        assert len(codes) == 500 and codes.min() >= 0 and codes.max() < encoded.domain[col]
    # Numbers parse back to the exact floats drawn (no rounding in the text).
    num = [c.name for c in schema.columns if c.kind == "continuous"]
    again = toy_table(name, 500, np.random.default_rng(0))[0]
    assert np.array_equal(_floats(df, *num), _floats(again, *num))
    if name == "funnel":
        clipped = sum(report.changes.get("x1", {}).values())
        assert clipped == int((np.abs(_floats(df, "x1")) > 50).sum()) > 0


def test_four_modes_geometry_and_balance() -> None:
    df, schema = two_class_four_modes(N, np.random.default_rng(11))
    assert schema.label == "label" and schema.names == ("x", "y", "label")
    xy = _floats(df, "x", "y")
    labels = df["label"].to_numpy(dtype=object)
    share = np.mean(labels == "1")
    assert abs(share - 0.5) < Z * np.sqrt(0.25 / N)
    # Modes are implied by the geometry: the quadrant; the label is the XOR of the signs.
    mode = Modes(("x", "y"), FOUR_MODES_CENTRES, FOUR_MODES_LABELS, "label").nearest(xy)
    for j, centre in enumerate(FOUR_MODES_CENTRES):
        pts = xy[mode == j]
        assert abs(len(pts) / N - 0.25) < Z * np.sqrt(0.25 * 0.75 / N)
        se = 0.5 / np.sqrt(len(pts))
        assert np.all(np.abs(pts.mean(axis=0) - centre) < Z * se)
        assert np.all(np.abs(pts.std(axis=0, ddof=1) - 0.5) < Z * 0.5 / np.sqrt(2 * len(pts)))
    # A point crosses an axis with probability about 6e-5 (4 sd), so nearly all agree.
    assert np.mean((labels == "1") == (np.sign(xy[:, 0]) != np.sign(xy[:, 1]))) > 0.999


def test_funnel_moments_and_heavy_tails() -> None:
    df, schema = neal_funnel(N, np.random.default_rng(12), dims=3)
    assert schema.names == ("v", "x1", "x2") and schema.label is None
    assert all(c.on_out_of_range == "clip" for c in schema.columns)
    v = _floats(df, "v")[:, 0]
    assert abs(v.mean()) < Z * 3 / np.sqrt(N)
    assert abs(v.std(ddof=1) - 3) < Z * 3 / np.sqrt(2 * N)
    for col in ("x1", "x2"):
        x = _floats(df, col)[:, 0]
        # Given v, x * exp(-v/2) is standard normal.
        z = x * np.exp(-v / 2)
        assert abs(z.mean()) < Z / np.sqrt(N)
        assert abs(z.var(ddof=1) - 1) < Z * np.sqrt(2 / N)
        kurtosis = np.mean((x - x.mean()) ** 4) / np.var(x) ** 2
        assert kurtosis > 20  # a normal has 3
    edges = schema["x1"].bin_edges()
    assert edges[0] == -50 and edges[-1] == 50 and np.all(np.diff(edges) > 0)
    assert np.diff(edges).min() < 0.5 < 10 < np.diff(edges).max()


@pytest.mark.parametrize("dims", [1, 2])
def test_mixture_weights_and_centres(dims: int) -> None:
    k = 3
    df, schema = gaussian_mixture(N, np.random.default_rng(13), k=k, dims=dims)
    cols = ("x",) if dims == 1 else ("x", "y")
    assert schema.names == (*cols, "component") and schema.label == "component"
    comp = df["component"].astype(int).to_numpy()
    weights = np.array([3, 2, 1]) / 6
    points = _floats(df, *cols)
    modes = toy_modes(schema)
    assert modes is not None and modes.columns == cols and modes.labels == ("0", "1", "2")
    for j in range(k):
        share = np.mean(comp == j)
        assert abs(share - weights[j]) < Z * np.sqrt(weights[j] * (1 - weights[j]) / N)
        pts = points[comp == j]
        assert np.all(np.abs(pts.mean(axis=0) - modes.centres[j]) < Z * 0.75 / np.sqrt(len(pts)))


def test_modes_from_schema_survive_serialisation() -> None:
    _, schema = toy_table("four_modes", 10, np.random.default_rng(0))
    again = schema_from_dict(schema_to_dict(schema))
    assert toy_modes(again) == toy_modes(schema)
    assert toy_modes(schema).labels == FOUR_MODES_LABELS
    mix = toy_table("mixture", 10, np.random.default_rng(0), k=4, dims=2)[1]
    assert len(toy_modes(schema_from_dict(schema_to_dict(mix))).centres) == 4
    assert toy_modes(funnel_schema()) is None
    assert toy_modes(Schema(schema.columns, label="label")) is None


def test_bad_arguments_are_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="unknown toy table"):
        toy_table("spiral", 10, rng)
    with pytest.raises(InputError, match="positive integer"):
        toy_table("four_modes", 0, rng)
    with pytest.raises(InputError, match="Generator"):
        toy_table("four_modes", 10, 0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="dims"):
        neal_funnel(10, rng, dims=1)
    with pytest.raises(InputError, match="k must be"):
        gaussian_mixture(10, rng, k=1)
