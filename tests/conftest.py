"""Shared fixtures: small real tables from the bundled Adult data and the shared datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from privsynth.cli.demo import bundled_adult
from privsynth.schema import load_schema
from privsynth.tables import read_table

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def adult_paths() -> tuple[Path, Path]:
    """Bundled Adult CSV (gz) and its schema."""
    return bundled_adult()


@pytest.fixture(scope="session")
def adult_schema(adult_paths):
    """The bundled Adult schema."""
    return load_schema(adult_paths[1])


@pytest.fixture(scope="session")
def adult_df(adult_paths) -> pd.DataFrame:
    """All 32 561 rows of bundled Adult, as strings."""
    return read_table(adult_paths[0])


@pytest.fixture(scope="session")
def adult_small(adult_df) -> pd.DataFrame:
    """A fixed 3 000-row sample of Adult."""
    idx = np.random.default_rng(0).choice(len(adult_df), 3000, replace=False)
    return adult_df.iloc[np.sort(idx)].reset_index(drop=True)


@pytest.fixture
def small_csv(tmp_path, adult_small) -> Path:
    """The 3 000-row sample written as a plain CSV."""
    path = tmp_path / "adult_small.csv"
    adult_small.to_csv(path, index=False)
    return path


# Small settings so the suite stays fast; the algorithms and the privacy accounting are
# unchanged (fewer estimation iterations, fewer epochs and smaller networks only).
FAST_NEURAL: dict[str, dict] = {
    "mst": {"iters": 300},
    "aim": {"round_iters": 30, "final_iters": 300},
    "dpgan": {"epochs": 2, "hidden": [64, 64], "batch_size": 128},
    "dpgan-laplace": {"epochs": 2, "hidden": [64, 64], "batch_size": 128},
    "dpcvae": {"epochs": 2, "batch_size": 128},
    "dpvae-mixture": {"epochs": 2, "batch_size": 128},
    "pategan": {},
    "dpflow": {"epochs": 2, "batch_size": 128, "hidden": [32], "made_hidden": [64], "layers": 2},
}


def fast_params(name: str) -> dict:
    """Hyperparameters that keep a test fit of generator ``name`` quick."""
    return dict(FAST_NEURAL.get(name, {}))
