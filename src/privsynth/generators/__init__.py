"""Generators by name, and model loading by ``model_type``.

``REGISTRY`` is a plain dict from name to generator class, or to a ``"module:Class"`` path for
generators whose dependencies (torch) are imported only when one is used; :func:`register`
refuses to overwrite silently. :func:`load_model` rebuilds a fitted model from its saved state.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from privsynth.errors import InputError
from privsynth.estimation import GraphicalModel
from privsynth.generators.aim import AIM
from privsynth.generators.base import FittedModel, Generator
from privsynth.generators.independent import Independent
from privsynth.generators.mst import MST

REGISTRY: dict[str, type | str] = {}
MODEL_TYPES: dict[str, type | str] = {
    GraphicalModel.model_type: GraphicalModel,
    "neural": "privsynth.generators.neural.model:NeuralModel",
    "flow": "privsynth.generators.neural.flow_model:FlowModel",
    "pca-mixture": "privsynth.generators.pca_model:PCAMixtureModel",
}


def _resolve(entry: type | str) -> type:
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        return getattr(importlib.import_module(module), attr)
    return entry


def generator_class(name: str) -> type:
    """The class registered under ``name`` (imported on first use)."""
    if name not in REGISTRY:
        raise InputError(
            f"unknown generator {name!r}; choose one of: {', '.join(sorted(REGISTRY))}"
        )
    return _resolve(REGISTRY[name])


def register(name: str, cls: type | str) -> None:
    """Add a generator class under ``name``; raises ValueError if the name is taken."""
    if name in REGISTRY and REGISTRY[name] is not cls:
        raise ValueError(f"generator {name!r} is already registered as {REGISTRY[name]!r}")
    REGISTRY[name] = cls


for _cls in (Independent, MST, AIM):
    register(_cls.name, _cls)
for _name, _path in {
    "dpgan": "privsynth.generators.neural.dpgan:DPGAN",
    "dpgan-laplace": "privsynth.generators.neural.dpgan:DPGANLaplace",
    "dpcvae": "privsynth.generators.neural.dpcvae:DPCVAE",
    "dpvae-mixture": "privsynth.generators.neural.mixture:DPVAEMixture",
    "pategan": "privsynth.generators.neural.pategan:PATEGAN",
    "dpflow": "privsynth.generators.neural.dpflow:DPFlow",
    "dppca": "privsynth.generators.pca_mixture:DPPCAMixture",
}.items():
    register(_name, _path)


def get_generator(name: str, **params: Any) -> Generator:
    """An instance of the generator called ``name`` with ``params`` as hyperparameters."""
    cls = generator_class(name)
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise InputError(f"generator {name!r}: bad parameters {sorted(params)} ({exc})") from None


def load_model(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> FittedModel:
    """Rebuild a fitted model from ``to_state`` output, dispatching on ``meta['model_type']``."""
    kind = meta.get("model_type")
    if kind not in MODEL_TYPES:
        raise ValueError(f"unknown model_type {kind!r}; known: {', '.join(sorted(MODEL_TYPES))}")
    return _resolve(MODEL_TYPES[kind]).from_state(meta, arrays)


__all__ = [
    "AIM",
    "MST",
    "REGISTRY",
    "FittedModel",
    "Generator",
    "Independent",
    "generator_class",
    "get_generator",
    "load_model",
    "register",
]
