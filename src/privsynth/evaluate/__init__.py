"""Evaluation of synthetic data against the real data (results are NOT private).

``evaluate(real, synth, schema)`` scores marginal fidelity (every 1-, 2- and 3-way marginal),
per-column distributions, pairwise association and machine-learning efficacy, and returns an
:class:`EvaluationResult` with ``to_dict``, ``to_table`` and ``to_rich``.
"""

from privsynth.evaluate.columns import ks_statistic
from privsynth.evaluate.evaluation import evaluate
from privsynth.evaluate.marginals import marginal_tvds, tvd_counts
from privsynth.evaluate.report import PRIVACY, EvaluationResult

__all__ = ["PRIVACY", "EvaluationResult", "evaluate", "ks_statistic", "marginal_tvds", "tvd_counts"]
