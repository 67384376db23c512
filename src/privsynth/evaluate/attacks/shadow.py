"""The shadow-model attack: learn from generators fitted on rows whose membership is known.

The attacker's reference rows (from the holdout, never targets) play the private table
:data:`SHADOWS` times: each time a seeded half of them are shadow members, the generator is
fitted on those (``shadow``, the same generator as the release's, on codes) and asked for as
many rows per training row as the release has; the other half are shadow non-members. Every
reference row gets features measuring how the shadow release sits around it, and a logistic
regression learns shadow membership from them; applied to the features of the targets
measured on the real release, its log-odds are the scores.

Features (Gower distances on codes, numeric bins as ordinals, since a shadow release is codes
only; the real release is measured the same way): log distance to the nearest, second nearest
and mean of the :data:`K_NEAREST` nearest synthetic rows, log(1 + the number of synthetic rows
within distance 1 / (number of columns)), and whether an exact copy exists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from privsynth.errors import InputError
from privsynth.evaluate.attacks.context import AttackContext, Scored
from privsynth.evaluate.attacks.encoding import Encoded, encode_codes
from privsynth.evaluate.attacks.gower import neighbourhood
from privsynth.evaluate.inputs import Prepared

ShadowFit = Callable[[Mapping[str, np.ndarray], np.random.Generator, int], Mapping[str, np.ndarray]]
"""Fit the release's generator on a table of codes and return ``n`` synthetic rows as codes:
``shadow(codes, rng, n) -> {column: codes}`` over ``prepared.domain``."""

SHADOWS = 3
K_NEAREST = 5
FEATURES = (
    "log_distance_nearest",
    "log_distance_second_nearest",
    f"log_mean_distance_{K_NEAREST}_nearest",
    "log1p_rows_within_radius",
    "exact_copy",
)
# Keeps log(distance) finite for exact copies; below any nonzero Gower distance on codes
# of a table with fewer than 10 000 bins per column.
_EPS = 1e-6

DESCRIPTION = (
    "shadow models: the same generator fitted on real reference rows with known membership "
    "(held out, never targets) teaches a classifier how a release sits around its training "
    "rows (distances to the closest synthetic rows, rows nearby, exact copies); the classifier "
    "then scores the targets on the real release"
)


def _checked(out: Any, prepared: Prepared, n: int, k: int) -> dict[str, np.ndarray]:
    where = f"shadow generator (shadow model {k})"
    if not isinstance(out, Mapping):
        raise InputError(
            f"{where}: must return a mapping of column to codes, got {type(out).__name__}"
        )
    checked = {}
    for name in prepared.domain:
        if name not in out:
            raise InputError(f"{where}: column {name!r} is missing from its output")
        codes = np.asarray(out[name])
        if codes.shape != (n,):
            raise InputError(
                f"{where}: column {name!r}: expected {n} codes, got shape {codes.shape}"
            )
        if codes.dtype.kind not in "iu" and not np.array_equal(codes, np.round(codes)):
            raise InputError(f"{where}: column {name!r}: codes must be integers")
        codes = codes.astype(np.int64)
        size = prepared.domain[name]
        if n and (codes.min() < 0 or codes.max() >= size):
            raise InputError(f"{where}: column {name!r}: codes must lie in 0..{size - 1}")
        checked[name] = codes
    return checked


def features(query: Encoded, release: Encoded) -> np.ndarray:
    """The :data:`FEATURES` of each ``query`` row measured on ``release`` (n x 5)."""
    near, within = neighbourhood(query, release, K_NEAREST, 1.0 / max(query.n_columns, 1))
    second = near[:, min(1, near.shape[1] - 1)]
    return np.column_stack(
        [
            np.log(near[:, 0] + _EPS),
            np.log(second + _EPS),
            np.log(near.mean(axis=1) + _EPS),
            np.log1p(within),
            (near[:, 0] == 0).astype(float),
        ]
    )


def shadow_attack(ctx: AttackContext, shadow: ShadowFit) -> Scored:
    """Scores of the member and non-member targets under the shadow-model attack."""
    prepared, design = ctx.prepared, ctx.design
    test_codes = {c: np.asarray(v) for c, v in prepared.tables["test"].codes.items()}
    reference_codes = {c: v[design.reference] for c, v in test_codes.items()}
    reference = encode_codes(prepared, reference_codes)
    n_ref = reference.n_rows
    n_in = n_ref // 2
    per_row = prepared.tables["synthetic"].n_rows / prepared.tables["real"].n_rows
    n_release = max(1, round(n_in * per_row))
    xs, ys = [], []
    for k in range(SHADOWS):
        order = np.random.default_rng([ctx.seed, 4, k]).permutation(n_ref)
        inside = np.sort(order[:n_in])
        fitted = shadow(
            {c: v[inside].copy() for c, v in reference_codes.items()},
            np.random.default_rng([ctx.seed, 5, k]),
            n_release,
        )
        release = encode_codes(prepared, _checked(fitted, prepared, n_release, k))
        xs.append(features(reference, release))
        label = np.zeros(n_ref, dtype=np.int64)
        label[inside] = 1
        ys.append(label)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    model.fit(np.vstack(xs), np.concatenate(ys))
    release = encode_codes(prepared, prepared.tables["synthetic"].codes)

    def score(table: str, rows: np.ndarray) -> np.ndarray:
        codes = {c: np.asarray(v)[rows] for c, v in prepared.tables[table].codes.items()}
        return model.decision_function(features(encode_codes(prepared, codes), release))

    return Scored(
        score("real", design.members),
        score("test", design.nonmembers),
        DESCRIPTION,
        {
            "shadows": SHADOWS,
            "shadow_training_rows": n_in,
            "shadow_holdout_rows": n_ref - n_in,
            "shadow_synthetic_rows": n_release,
            "attack_training_records": SHADOWS * n_ref,
            "features": list(FEATURES),
            "attack_model": (
                "sklearn StandardScaler + LogisticRegression(C=1.0), trained on every reference "
                "row of every shadow model, labelled by shadow membership"
            ),
        },
    )
