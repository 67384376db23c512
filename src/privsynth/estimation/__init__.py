"""Estimation: everything between noisy measurements and a samplable model (post-processing).

The flow is ``Observation`` (a noisy marginal, possibly over a compressed domain) ->
:func:`mirror_descent` -> :class:`MarkovModel` (exact junction-tree inference, i.i.d. sampling)
-> :class:`GraphicalModel` (the release: decompression, exact conditioning, state without pickle).
"""

from privsynth.estimation.compression import Compression
from privsynth.estimation.junction import model_size_mb
from privsynth.estimation.markov import MarkovModel
from privsynth.estimation.mirror_descent import mirror_descent
from privsynth.estimation.model import GraphicalModel
from privsynth.estimation.observations import Observation, estimate_total

__all__ = [
    "Compression",
    "GraphicalModel",
    "MarkovModel",
    "Observation",
    "estimate_total",
    "mirror_descent",
    "model_size_mb",
]
