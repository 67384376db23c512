"""A saved model holds no training row and no pickle, for every registered generator."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import fast_params
from safetensors.numpy import load_file

from privsynth.generators import REGISTRY, generator_class
from privsynth.synthesizer import Synthesizer, fit_table

# Image-only generators (dppca) have their model-file checks in their own tests.
TABLE_GENERATORS = [
    n for n in sorted(REGISTRY) if getattr(generator_class(n), "supports_tables", True)
]


@pytest.fixture(scope="module", params=TABLE_GENERATORS)
def saved(request, tmp_path_factory, adult_small, adult_schema):
    rows = adult_small.iloc[:1500].reset_index(drop=True)
    synth, _ = fit_table(
        rows,
        adult_schema,
        generator=request.param,
        epsilon=50.0,
        delta=1e-9,
        rng=np.random.default_rng(0),
        params=fast_params(request.param),
    )
    path = tmp_path_factory.mktemp(request.param) / "model"
    synth.save(path)
    return rows, path


def _contents(path) -> tuple[str, list[np.ndarray]]:
    manifest = (path / "manifest.json").read_text()
    blob = (path / "arrays.safetensors").read_bytes()
    # safetensors layout: 8-byte little-endian header length, JSON header, raw buffers.
    header_len = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + header_len])
    assert all(
        v["dtype"] in {"F32", "F64", "I64", "I32", "U8", "BOOL", "I8", "I16", "U16", "F16"}
        for k, v in header.items()
        if k != "__metadata__"
    )
    assert b"\x80\x04" not in blob[:2]  # not a pickle stream
    arrays = list(load_file(str(path / "arrays.safetensors")).values())
    return manifest, arrays


def test_no_pickle_and_only_numeric_arrays(saved):
    _, path = saved
    _, arrays = _contents(path)
    for arr in arrays:
        assert arr.dtype.kind in "biuf", arr.dtype
    assert b"pickle" not in (path / "manifest.json").read_bytes()


def test_no_training_row_inside(saved):
    rows, path = saved
    manifest, arrays = _contents(path)
    text = json.dumps(json.loads(manifest))
    n, d = rows.shape
    # No row, written out as text in any usual separator, appears in the manifest.
    for sep in (",", ", ", "\t", " ", "|"):
        for row in rows.itertuples(index=False):
            assert sep.join(row) not in text
    # Values that identify rows (the high-cardinality fnlwgt) are not in the manifest.
    fnlwgt = set(rows["fnlwgt"])
    hits = [v for v in fnlwgt if f'"{v}"' in text or f" {v}," in text]
    assert not hits, hits[:5]
    # No array has a row dimension, and no array holds the row-level code matrix.
    for arr in arrays:
        assert n not in arr.shape, arr.shape
    fn = rows["fnlwgt"].astype(float).to_numpy()
    for arr in arrays:
        if arr.size >= 50:
            assert np.isin(fn, arr.ravel()).mean() < 0.01


def test_model_samples_after_the_data_is_gone(saved):
    _, path = saved
    out = Synthesizer.load(path).sample(200, rng=np.random.default_rng(1))
    assert len(out) == 200
