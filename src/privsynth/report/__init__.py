"""One self-contained HTML report of a synthetic data release, with the same numbers as JSON.

``build_report`` lays out the privacy guarantee and ledger, fidelity, utility, privacy attacks,
an audit and image samples, each with a plain-language explanation. Sections computed on the
real data are labelled as not private: the report is for the data owner.
"""

from privsynth.report.build import build_report, jsonable
from privsynth.report.html import NOT_PRIVATE

__all__ = ["NOT_PRIVATE", "build_report", "jsonable"]
