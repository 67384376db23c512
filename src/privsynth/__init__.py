"""privsynth: differentially private synthetic data with an honest privacy ledger.

The flow, visible in the sub-packages: ``schema`` (public metadata) -> ``transforms``
(public, invertible encodings) -> ``measure`` (the only reads of private data, each charged
to the ``privacy`` ledger before noise is drawn) -> ``generators`` (post-processing of noisy
measurements) -> ``models`` (the DP release) -> ``evaluate``.
"""

__version__ = "0.1.0"
