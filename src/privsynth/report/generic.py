"""Sections rendered from data of any shape: the privacy audit and unknown extra results."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from privsynth.report.html import Section, callout, esc, explain, fmt, is_scalar, value_html

AUDIT_EXPLANATION = (
    "A privacy audit tests the training procedure itself: it plants test records and measures "
    "how well they can be detected, which gives a statistical lower bound on the epsilon the "
    "procedure really has. The lower bound must not exceed the claimed epsilon; a lower bound "
    "well below the claim is normal and does not mean the claim is too loose."
)

OTHER_EXPLANATION = "Further results from the evaluation, shown as they were computed."


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def audit_verdict(audit: Mapping[str, Any]) -> str | None:
    """``"consistent"`` or ``"violated"`` when both epsilons are numbers, else None."""
    claimed = _number(audit.get("claimed_epsilon"))
    bound = _number(audit.get("epsilon_lower_bound"))
    if claimed is None or bound is None:
        return None
    return "consistent" if bound <= claimed else "violated"


def audit_section(audit: Any) -> Section:
    """The audit's verdict (when its epsilons are given) and every field as a table."""
    parts = [explain(AUDIT_EXPLANATION)]
    if isinstance(audit, Mapping):
        verdict = audit_verdict(audit)
        claimed, bound = fmt(audit.get("claimed_epsilon")), fmt(audit.get("epsilon_lower_bound"))
        if verdict == "consistent":
            parts.append(
                callout(
                    f"<b>Consistent with the claim</b>: the audit's lower bound ε ≥ "
                    f"{esc(bound)} does not exceed the claimed ε = {esc(claimed)}.",
                    "good",
                )
            )
        elif verdict == "violated":
            parts.append(
                callout(
                    f"<b>The audit contradicts the claim</b>: it shows ε ≥ {esc(bound)}, above "
                    f"the claimed ε = {esc(claimed)}. Do not release this data.",
                    "bad",
                )
            )
    parts.append(value_html(audit))
    return Section("audit", "Privacy audit", "".join(parts))


def generic_section(
    section_id: str, title: str, data: Any, text: str = OTHER_EXPLANATION
) -> Section:
    """Any data as key/value tables under ``title`` (computed on real data, so labelled).

    The keys of a mapping become sub-headings, so each result gets its own table.
    """
    if isinstance(data, Mapping) and data and not all(is_scalar(v) for v in data.values()):
        body = "".join(f"<h3>{esc(k)}</h3>{value_html(v)}" for k, v in data.items())
    else:
        body = value_html(data)
    return Section(section_id, title, explain(text) + body)
