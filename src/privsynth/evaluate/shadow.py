"""The shadow-model attack's generator: the release's own algorithm, refitted.

An attacker who knows the algorithm (Kerckhoffs) can fit it again on data of their own; the
shadow-model attack does so on the evaluation's reference rows. The shadow fit uses the
release's generator, hyperparameters and (epsilon, delta) budget on a fresh, throw-away
ledger: the reference rows are the attacker's data, and the fit releases nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from privsynth.domain import Domain
from privsynth.evaluate.attacks import ShadowFit
from privsynth.marginals.counting import EncodedTable, InMemoryBackend
from privsynth.privacy.ledger import Ledger


def release_shadow(synth: Any) -> ShadowFit:
    """A :data:`ShadowFit` for a table :class:`~privsynth.synthesizer.Synthesizer`."""
    from privsynth.generators import get_generator
    from privsynth.synthesizer import numeric_attributes

    generator = get_generator(synth.generator, **synth.config)
    schema, ledger = synth.schema, synth.ledger
    domain: Domain = synth.model.domain

    def fit(
        codes: Mapping[str, np.ndarray], rng: np.random.Generator, n: int
    ) -> Mapping[str, np.ndarray]:
        table = EncodedTable(domain, {a: np.asarray(codes[a]) for a in domain})
        backend = InMemoryBackend(table, label=schema.label, numeric=numeric_attributes(schema))
        fresh = Ledger(ledger.epsilon_budget, ledger.delta, composition=ledger.composition)
        model = generator.fit(backend, fresh, rng=rng)
        return model.sample(n, rng=rng)

    return fit
