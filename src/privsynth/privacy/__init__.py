"""Privacy accounting: cost as data (events), one ledger that spends it, a persistent store."""

from privsynth.privacy.events import ExponentialEvent, GaussianEvent, LaplaceEvent, PrivacyEvent
from privsynth.privacy.ledger import Ledger

__all__ = ["ExponentialEvent", "GaussianEvent", "LaplaceEvent", "Ledger", "PrivacyEvent"]
