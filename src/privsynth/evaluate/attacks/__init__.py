"""Privacy attacks on a synthetic release: membership inference (results are NOT private).

``privacy_attacks(prepared, seed=..., shadow=...)`` attacks the "synthetic" table of a
:class:`~privsynth.evaluate.inputs.Prepared` whose "real" table holds the generator's training
rows (members) and whose "test" table holds real rows never used in training (non-members).
Five attacks score the same balanced member and non-member targets (:mod:`.targets`):

- ``classifier`` (:mod:`.classifier`): a model trained to tell synthetic from real reference
  rows;
- ``density_ratio`` (:mod:`.density`): DOMIAS-style synthetic over reference density;
- ``shadow_model`` (:mod:`.shadow`): shadow generators fitted on rows of known membership;
- ``attribute_inference`` (:mod:`.attribute`): confidence in a sensitive value learnt from the
  release;
- ``distance_to_closest_record`` (:mod:`.dcr`): a similarity measure, not privacy evidence.

Each reports ROC AUC, advantage, cross-fitted accuracy and privacy loss with intervals
(:mod:`.metrics`) in an :class:`AttackReport`; ``to_dict()`` gives the JSON shape. A failed
attack is not a proof of privacy; only a differential-privacy guarantee is.
"""

from privsynth.evaluate.attacks.metrics import Summary
from privsynth.evaluate.attacks.result import NOTE, PRIVACY, AttackReport, AttackResult
from privsynth.evaluate.attacks.run import ATTACKS, privacy_attacks
from privsynth.evaluate.attacks.shadow import ShadowFit

__all__ = [
    "ATTACKS",
    "NOTE",
    "PRIVACY",
    "AttackReport",
    "AttackResult",
    "ShadowFit",
    "Summary",
    "privacy_attacks",
]
