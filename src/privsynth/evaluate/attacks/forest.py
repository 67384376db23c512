"""The one attacker model used where an attack must be able to memorise rows: a random forest.

Fully grown trees (one row per leaf allowed), each grown on every training row (no bootstrap;
the trees differ by the features tried at each split), reproduce their training rows: a model
trained on a synthetic table that copies members recognises those members with certainty; on
synthetic rows drawn independently of the members it has nothing to recognise. Hyperparameters are fixed
(:data:`FOREST`), ``random_state`` is the seed and it runs on one thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier

FOREST: Mapping[str, Any] = {
    "n_estimators": 100,
    "min_samples_leaf": 1,
    "max_features": "sqrt",
    "bootstrap": False,
    "class_weight": "balanced",
}


def forest(seed: int) -> RandomForestClassifier:
    """A fresh forest with the fixed hyperparameters."""
    return RandomForestClassifier(random_state=seed, n_jobs=1, **FOREST)


def describe(seed: int) -> str:
    """The model, for the report."""
    params = ", ".join(f"{k}={v!r}" for k, v in FOREST.items())
    return f"sklearn RandomForestClassifier({params}, random_state={seed})"


def class_probability(
    model: RandomForestClassifier, x: np.ndarray, classes: np.ndarray
) -> np.ndarray:
    """Probability the model gives each row's class in ``classes`` (0 for classes never seen)."""
    proba = model.predict_proba(x)
    index = {int(c): j for j, c in enumerate(model.classes_)}
    out = np.zeros(len(x))
    for c in np.unique(classes):
        j = index.get(int(c))
        if j is not None:
            pick = classes == c
            out[pick] = proba[pick, j]
    return out
