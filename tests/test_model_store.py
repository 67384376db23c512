"""Model folders: atomic writes, no pickle, and refusal of corrupted or truncated folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from privsynth.errors import ModelFileError
from privsynth.models import load_model_folder, save_model_folder


def _save(path):
    arrays = {"potential_0": np.arange(6.0).reshape(2, 3), "mapping": np.array([0, 0, 1])}
    save_model_folder(path, {"model": {"model_type": "test"}}, arrays)
    return arrays


def test_round_trip(tmp_path):
    arrays = _save(tmp_path / "m")
    manifest, loaded = load_model_folder(tmp_path / "m")
    assert manifest["format"] == "privsynth-model" and "numpy" in manifest["versions"]
    assert set(loaded) == set(arrays)
    for k in arrays:
        assert np.array_equal(arrays[k], loaded[k])
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "arrays.safetensors",
        "manifest.json",
    ]


def test_refuses_to_overwrite_and_object_arrays(tmp_path):
    _save(tmp_path / "m")
    with pytest.raises(ModelFileError, match="not an empty folder"):
        _save(tmp_path / "m")
    with pytest.raises(ModelFileError, match="dtype object"):
        save_model_folder(tmp_path / "o", {}, {"x": np.array([{"a": 1}], dtype=object)})
    assert not (tmp_path / "o").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    "damage",
    [
        "truncate",
        "flip",
        "delete_arrays",
        "delete_manifest",
        "garble_manifest",
        "wrong_format",
        "missing_array_name",
    ],
)
def test_damaged_folders_are_refused(tmp_path, damage):
    path = tmp_path / "m"
    _save(path)
    arrays, manifest = path / "arrays.safetensors", path / "manifest.json"
    if damage == "truncate":
        arrays.write_bytes(arrays.read_bytes()[:50])
    elif damage == "flip":
        blob = bytearray(arrays.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        arrays.write_bytes(bytes(blob))
    elif damage == "delete_arrays":
        arrays.unlink()
    elif damage == "delete_manifest":
        manifest.unlink()
    elif damage == "garble_manifest":
        manifest.write_text(manifest.read_text()[:40])
    elif damage == "wrong_format":
        data = json.loads(manifest.read_text())
        data["format_version"] = 99
        manifest.write_text(json.dumps(data))
    elif damage == "missing_array_name":
        data = json.loads(manifest.read_text())
        data["arrays"]["names"].append("ghost")
        manifest.write_text(json.dumps(data))
    with pytest.raises(ModelFileError) as err:
        load_model_folder(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_folder(tmp_path):
    with pytest.raises(ModelFileError, match="model folder not found"):
        load_model_folder(tmp_path / "none")
