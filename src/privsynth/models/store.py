"""Model folders: ``manifest.json`` (schema, generator config, ledger, versions, checksums)
plus ``arrays.safetensors`` (every numeric array and network weight; safetensors is a flat
header plus raw buffers, so loading cannot execute code the way a pickle can).

Writing goes to a temporary sibling folder that is renamed into place, so a failure leaves no
partial model. Loading verifies the format, every checksum and every array named by the
manifest, so a corrupted or truncated folder is refused with one line naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from privsynth.errors import ModelFileError

FORMAT = "privsynth-model"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
ARRAYS = "arrays.safetensors"


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model depends on (recorded for reproducibility)."""
    out = {}
    for name in ("privsynth", "numpy", "pandas", "scipy", "scikit-learn", "safetensors", "torch"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    if "privsynth" not in out:
        from privsynth import __version__

        out["privsynth"] = __version__
    return out


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_model_folder(
    path: str | Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray]
) -> None:
    """Write a model folder atomically; ``path`` must not exist or be an empty folder."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ModelFileError(f"{path}: output exists and is not an empty folder; choose a new path")
    from safetensors.numpy import save

    for name, arr in arrays.items():
        if np.asarray(arr).dtype.kind not in "biuf":
            raise ModelFileError(
                f"array {name!r} has dtype {np.asarray(arr).dtype}; model files hold numbers only"
            )
    blob = save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
    full = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": library_versions(),
        **manifest,
        "arrays": {
            "file": ARRAYS,
            "sha256": _sha256(blob),
            "names": sorted(arrays),
        },
    }
    text = json.dumps(full, indent=2, sort_keys=False, allow_nan=False) + "\n"
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=parent))
    try:
        (tmp / ARRAYS).write_bytes(blob)
        (tmp / MANIFEST).write_text(text, encoding="utf-8")
        if path.exists():
            path.rmdir()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_model_folder(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify a model folder; returns the manifest and the arrays."""
    path = Path(path)
    if not path.is_dir():
        raise ModelFileError(f"{path}: model folder not found")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise ModelFileError(f"{mpath}: missing manifest (not a privsynth model folder?)")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{mpath}: corrupted manifest ({exc.__class__.__name__}: {exc})"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{mpath}: not a privsynth model manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{mpath}: format_version {manifest.get('format_version')!r} is not supported "
            f"(this privsynth reads {FORMAT_VERSION})"
        )
    info = manifest.get("arrays")
    if not isinstance(info, dict) or not {"file", "sha256", "names"} <= set(info):
        raise ModelFileError(f"{mpath}: manifest lacks the 'arrays' section")
    apath = path / str(info["file"])
    if apath.parent != path or not apath.is_file():
        raise ModelFileError(f"{apath}: arrays file missing")
    blob = apath.read_bytes()
    if _sha256(blob) != info["sha256"]:
        raise ModelFileError(f"{apath}: checksum mismatch (corrupted or truncated model file)")
    from safetensors.numpy import load

    try:
        arrays = load(blob)
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise ModelFileError(f"{apath}: unreadable arrays ({exc})") from None
    missing = set(info["names"]) - set(arrays)
    if missing:
        raise ModelFileError(f"{apath}: arrays {sorted(missing)} named in the manifest are missing")
    return manifest, arrays
