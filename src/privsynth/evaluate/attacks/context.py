"""What every attack gets: the encoded tables, the design, and a cap on synthetic rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from privsynth.evaluate.attacks.encoding import Embedding, Encoded, encode_table
from privsynth.evaluate.attacks.targets import Design
from privsynth.evaluate.inputs import Prepared

MAX_SYNTHETIC = 50_000
"""Most synthetic rows an attack trains or estimates a density on (a seeded sample beyond)."""


@dataclass(frozen=True)
class Scored:
    """Scores of the member and non-member targets (higher = more likely a member)."""

    members: np.ndarray
    nonmembers: np.ndarray
    description: str
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AttackContext:
    """The tables of one attack run, encoded once, and the targets."""

    prepared: Prepared
    design: Design
    seed: int
    real: Encoded
    test: Encoded
    synthetic: Encoded
    embedding: Embedding

    @classmethod
    def build(cls, prepared: Prepared, design: Design, seed: int) -> AttackContext:
        """Encode the real, test and synthetic tables (numbers from their parsed values)."""
        tables = prepared.tables
        test = encode_table(prepared, tables["test"])
        return cls(
            prepared,
            design,
            seed,
            encode_table(prepared, tables["real"]),
            test,
            encode_table(prepared, tables["synthetic"]),
            Embedding.fit(test.take(design.reference)),
        )

    @property
    def members(self) -> Encoded:
        """The member targets."""
        return self.real.take(self.design.members)

    @property
    def nonmembers(self) -> Encoded:
        """The non-member targets."""
        return self.test.take(self.design.nonmembers)

    @property
    def reference(self) -> Encoded:
        """The attacker's reference rows (real, never members, never targets)."""
        return self.test.take(self.design.reference)

    def synthetic_rows(self, stream: int) -> tuple[np.ndarray, dict[str, Any]]:
        """Indices of the synthetic rows an attack uses: all, or a seeded sample of
        :data:`MAX_SYNTHETIC`; and what was used, for the report."""
        n = self.synthetic.n_rows
        if n <= MAX_SYNTHETIC:
            return np.arange(n), {"synthetic_rows_used": n}
        rng = np.random.default_rng([self.seed, 8, stream])
        rows = np.sort(rng.permutation(n)[:MAX_SYNTHETIC])
        return rows, {
            "synthetic_rows_used": MAX_SYNTHETIC,
            "synthetic_rows_cap": (
                f"{n} synthetic rows; a random sample of {MAX_SYNTHETIC} drawn with seed "
                f"{self.seed} was used, {n - MAX_SYNTHETIC} left out"
            ),
        }
