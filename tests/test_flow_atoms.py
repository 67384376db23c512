"""Atoms of dpflow: single-value schema bins become exact point masses, decided by the schema
alone, and the flow fits only the values between them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from privsynth.generators.neural.flow_atoms import (
    atom_bins,
    atom_counts,
    atom_states,
    atom_values,
    without_atoms,
)
from privsynth.marginals.counting import NumericScale
from privsynth.schema.columns import CategoricalColumn, NumericColumn, Schema
from privsynth.synthesizer import Synthesizer, fit_table

torch.set_num_threads(1)

GAIN = NumericScale(0.0, 99999.0, (0, 1, 1000, 5000, 20000, 99999), integer=True, nullable=False)


def test_atoms_come_from_single_value_bins_only():
    assert atom_bins(GAIN) == [0]
    assert atom_values(GAIN).tolist() == [0.0]
    # The last bin includes the upper bound: [4, 5] holds two integers, [5, 5] one.
    assert atom_bins(NumericScale(0, 5, (0, 1, 4, 5), True, False)) == [0]
    assert atom_bins(NumericScale(0, 5, (0, 1, 2, 5, 5), True, False)) == [0, 1, 3]
    assert atom_values(NumericScale(0, 5, (0, 1, 2, 5, 5), True, False)).tolist() == [0, 1, 5]
    # Continuous columns have no atoms, whatever their bins.
    assert atom_bins(NumericScale(0, 5, (0, 1, 2, 5), False, False)) == []
    # Bin codes to states, the missing code (5) outside every atom.
    assert atom_states(np.array([0, 1, 4, 5, 0]), GAIN).tolist() == [1, 0, 0, 0, 1]
    hist = np.array([90.0, 5.0, -2.0, 4.0, 1.0, 7.0])  # 5 bins and a missing count
    assert atom_counts(hist, GAIN).tolist() == [10.0, 90.0]
    assert without_atoms(hist, GAIN).tolist() == [0.0, 5.0, -2.0, 4.0, 1.0]


def zero_inflated(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, Schema]:
    """``gain``: 0 for 85 % of group a and 50 % of group b, else a Pareto(1.2) integer."""
    g = rng.choice(["a", "b"], n, p=[0.6, 0.4])
    zero = rng.random(n) < np.where(g == "a", 0.85, 0.5)
    tail = np.minimum(np.floor(100 * (1 + rng.pareto(1.2, n))), 99999)
    gain = np.where(zero, 0, tail).astype(int)
    df = pd.DataFrame({"g": g, "gain": gain.astype(str)})
    edges = (0, 1, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 99999)
    schema = Schema(
        (
            CategoricalColumn("g", ("a", "b")),
            NumericColumn("gain", "integer", 0, 99999, edges=edges),
        ),
        label="g",
        name="test/zero-inflated",
    )
    return df, schema


@pytest.fixture(scope="module")
def fitted():
    df, schema = zero_inflated(4000, np.random.default_rng(0))
    synth, _ = fit_table(
        df,
        schema,
        generator="dpflow",
        epsilon=20.0,
        delta=1e-6,
        rng=np.random.default_rng(1),
        params={"epochs": 10, "batch_size": 256, "hidden": [32, 32], "layers": 4},
    )
    return df, synth


def test_the_spike_is_an_exact_point_mass_with_its_share_per_group(fitted):
    df, synth = fitted
    assert ("gain", "atom", 2) in synth.model.variables
    n = 20_000
    out = synth.sample(n, rng=np.random.default_rng(2))
    gain = out["gain"].astype(float)
    real = df["gain"].astype(float)
    # The overall share: 4000 real rows (s.e. 0.007), 20 000 synthetic, DP noise of a few
    # rows at epsilon 20: 0.03 is several standard errors.
    assert abs((gain == 0).mean() - (real == 0).mean()) < 0.03
    # The share depends on the group (85 % vs 50 %); 160 DP-SGD steps learn most of that
    # dependence, so require well over half of the real gap.
    share = {k: (gain[out["g"] == k] == 0).mean() for k in ("a", "b")}
    assert share["a"] - share["b"] > 0.2, share
    # Values off the atom are the flow's: positive, spread over the tail, not bin midpoints.
    rest = gain[gain > 0]
    assert rest.min() >= 1 and len(np.unique(rest)) > 500
    # Median of the non-zero part: Pareto(1.2) from 100 has median 100 * 2^(1/1.2) = 178.
    assert 120 < np.median(rest) < 270


def test_model_with_atoms_round_trips(fitted, tmp_path):
    _, synth = fitted
    synth.save(tmp_path / "m")
    again = Synthesizer.load(tmp_path / "m")
    a = synth.sample(500, rng=np.random.default_rng(5))
    b = again.sample(500, rng=np.random.default_rng(5))
    pd.testing.assert_frame_equal(a, b)
