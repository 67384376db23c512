"""Generators by name, and model loading by ``model_type``.

``REGISTRY`` is a plain dict from name to generator class; :func:`register` refuses to overwrite
silently. :func:`load_model` rebuilds a fitted model from its saved state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from privsynth.errors import InputError
from privsynth.estimation import GraphicalModel
from privsynth.generators.aim import AIM
from privsynth.generators.base import FittedModel, Generator
from privsynth.generators.independent import Independent
from privsynth.generators.mst import MST

REGISTRY: dict[str, type] = {}
MODEL_TYPES: dict[str, type] = {GraphicalModel.model_type: GraphicalModel}


def register(name: str, cls: type) -> None:
    """Add a generator class under ``name``; raises ValueError if the name is taken."""
    if name in REGISTRY and REGISTRY[name] is not cls:
        raise ValueError(f"generator {name!r} is already registered as {REGISTRY[name].__name__}")
    REGISTRY[name] = cls


for _cls in (Independent, MST, AIM):
    register(_cls.name, _cls)


def get_generator(name: str, **params: Any) -> Generator:
    """An instance of the generator called ``name`` with ``params`` as hyperparameters."""
    if name not in REGISTRY:
        raise InputError(
            f"unknown generator {name!r}; choose one of: {', '.join(sorted(REGISTRY))}"
        )
    try:
        return REGISTRY[name](**params)
    except TypeError as exc:
        raise InputError(f"generator {name!r}: bad parameters {sorted(params)} ({exc})") from None


def load_model(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> FittedModel:
    """Rebuild a fitted model from ``to_state`` output, dispatching on ``meta['model_type']``."""
    kind = meta.get("model_type")
    if kind not in MODEL_TYPES:
        raise ValueError(f"unknown model_type {kind!r}; known: {', '.join(sorted(MODEL_TYPES))}")
    return MODEL_TYPES[kind].from_state(meta, arrays)


__all__ = [
    "AIM",
    "MST",
    "REGISTRY",
    "FittedModel",
    "Generator",
    "Independent",
    "get_generator",
    "load_model",
    "register",
]
