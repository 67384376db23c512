"""The manifest shared by every fitted synthesizer: what was released and what it cost.

A release folder holds the data kind (``table`` or ``images``), the generator and its
configuration, the ledger, the model's metadata and any kind-specific sections (the schema for
tables, the class count and image shape for images); the arrays go to safetensors through
:mod:`privsynth.models.store`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from privsynth.errors import ModelFileError
from privsynth.models.store import MANIFEST, load_model_folder, save_model_folder

T = TypeVar("T")


def save_release(
    path: str | Path,
    *,
    data_kind: str,
    generator: str,
    config: dict[str, Any],
    ledger: Any,
    model: Any,
    **sections: Any,
) -> None:
    """Write a model folder for ``model`` (a fitted model with ``to_state``)."""
    meta, arrays = model.to_state()
    manifest = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_kind": data_kind,
        **sections,
        "generator": {"name": generator, "config": config},
        "ledger": ledger.to_dict(),
        "model": meta,
    }
    save_model_folder(path, manifest, arrays)


def read_release(
    path: str | Path,
    data_kind: str,
    build: Callable[[dict[str, Any], dict[str, np.ndarray], str], T],
) -> T:
    """Read a verified model folder of ``data_kind`` and rebuild it with
    ``build(manifest, arrays, where)``; a malformed manifest becomes one ModelFileError line."""
    manifest, arrays = load_model_folder(path)
    where = f"{Path(path) / MANIFEST}"
    kind = manifest.get("data_kind", "table")
    if kind != data_kind:
        raise ModelFileError(
            f"{where}: a model of {kind!r} data, not of {data_kind!r} "
            "(privsynth.images.synthesizer.load_synthesizer reads either)"
        )
    try:
        return build(manifest, arrays, where)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        # RuntimeError: torch's load_state_dict on weights of the wrong shape.
        raise ModelFileError(
            f"{where}: corrupted model ({exc.__class__.__name__}: {exc})"
        ) from None
