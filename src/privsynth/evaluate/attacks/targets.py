"""Who is attacked: member and non-member targets, the attacker's reference rows, resampling.

The "test" table (real rows never used in training) is put in a random order drawn with the
seed and cut in two halves: the first ``n_test // 2`` rows are the attacker's *reference* data
(what every attack may train on, as an attacker with access to the population would), the rest
is the pool of *non-member targets*. Member targets come from the "real" (training) table, in
its own random order. Both classes get the same number of targets,
``min(pool, n_real, max_targets // 2)``: the first rows of each order. No attack ever trains on
a target.

Each target also gets a fold (0 or 1, half of each class in each fold, seeded) for choosing a
decision threshold on one fold and measuring accuracy on the other, and the bootstrap draws
(stratified: members and non-members resampled separately, with replacement) are drawn once,
so every attack is resampled identically and the attacks can be compared pairwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

BOOTSTRAP = 500
"""Number of bootstrap resamples of the targets for the confidence intervals."""
MIN_TARGETS = 10
"""Fewest targets (and reference rows) per class an attack is run with."""


@dataclass(frozen=True)
class Design:
    """Row indices of the targets and the reference data, folds and bootstrap draws."""

    members: np.ndarray
    nonmembers: np.ndarray
    reference: np.ndarray
    member_folds: np.ndarray
    nonmember_folds: np.ndarray
    boot_members: np.ndarray
    boot_nonmembers: np.ndarray
    info: Mapping[str, Any]

    @property
    def n_targets(self) -> int:
        """Targets per class."""
        return len(self.members)


def _folds(n: int, rng: np.random.Generator) -> np.ndarray:
    folds = np.zeros(n, dtype=np.int64)
    folds[rng.permutation(n)[: n // 2]] = 1
    return folds


def design(n_real: int, n_test: int, *, seed: int, max_targets: int) -> Design | str:
    """The attack design, or the reason no attack can be run."""
    n_reference = n_test // 2
    pool = n_test - n_reference
    per_class = min(pool, n_real, max_targets // 2)
    if per_class < MIN_TARGETS or n_reference < MIN_TARGETS:
        return (
            f"skipped: too few rows to attack: need at least {MIN_TARGETS} targets per class and "
            f"{MIN_TARGETS} reference rows (a test table of at least {2 * MIN_TARGETS} rows and "
            f"max_targets >= {2 * MIN_TARGETS}); got {n_real} real rows, {n_test} test rows, "
            f"max_targets={max_targets}"
        )
    test_order = np.random.default_rng([seed, 1, 0]).permutation(n_test)
    real_order = np.random.default_rng([seed, 1, 1]).permutation(n_real)
    reference = np.sort(test_order[:n_reference])
    nonmembers = test_order[n_reference : n_reference + per_class]
    members = real_order[:per_class]
    fold_rng = np.random.default_rng([seed, 2])
    boot_rng = np.random.default_rng([seed, 3])
    info = {
        "max_targets": max_targets,
        "per_class": per_class,
        "real_rows": n_real,
        "test_rows": n_test,
        "reference_rows": n_reference,
        "nonmember_pool": pool,
        "selection": (
            f"the test table was put in a random order (seed {seed}): its first {n_reference} "
            f"rows are the attacker's reference data, the next {per_class} the non-member "
            f"targets; the first {per_class} rows of the real table in a random order are the "
            f"member targets. Per class: min(test rows - reference rows, real rows, "
            f"max_targets // 2) = {per_class}; {pool - per_class} non-member and "
            f"{n_real - per_class} member rows were not used as targets"
        ),
        "bootstrap": f"{BOOTSTRAP} stratified resamples of the targets, seed {seed}",
    }
    return Design(
        members=members,
        nonmembers=nonmembers,
        reference=reference,
        member_folds=_folds(per_class, fold_rng),
        nonmember_folds=_folds(per_class, fold_rng),
        boot_members=boot_rng.integers(0, per_class, size=(BOOTSTRAP, per_class)),
        boot_nonmembers=boot_rng.integers(0, per_class, size=(BOOTSTRAP, per_class)),
        info=info,
    )
