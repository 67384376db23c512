"""The privacy guarantee and the full ledger of a fit (``Ledger.to_dict()``), as HTML.

The ledger is part of the DP release (it describes the mechanisms, not the data), so this
section is not labelled as computed on real data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from privsynth.report.html import Section, esc, explain, fmt, is_scalar, mapping_table, table

EXPLANATION = (
    "Differential privacy limits how much any single person's record can change what is "
    "published. Epsilon (ε) measures that limit: smaller is stronger protection. Delta (δ) is a "
    "tiny probability that the limit does not hold, and should be far below one in the number "
    "of people in the data. Every step that read the private data is listed below with its "
    "cost; the total is not a plain sum but a tighter composition of all steps, computed by the "
    "privacy accountant."
)

_SUMMARY = (
    ("epsilon_spent", "ε spent (the guarantee)"),
    ("epsilon_budget", "ε budget"),
    ("delta", "δ"),
    ("composition", "composition (accounting method)"),
    ("rho_spent", "ρ spent (zCDP)"),
    ("rho_budget", "ρ budget (zCDP)"),
    ("delta_reserved", "δ reserved for approximate steps"),
)


def guarantee(ledger: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``{"epsilon", "delta", "epsilon_budget"}`` from a ledger dict, or None without one."""
    if not isinstance(ledger, Mapping):
        return None
    return {
        "epsilon": ledger.get("epsilon_spent"),
        "delta": ledger.get("delta"),
        "epsilon_budget": ledger.get("epsilon_budget"),
    }


def guarantee_html(ledger: Mapping[str, Any] | None) -> str:
    """The prominent (ε, δ) statement of the header."""
    g = guarantee(ledger)
    if g is None:
        return (
            '<div class="guarantee none">No privacy ledger given: the privacy guarantee of the '
            "synthetic data is not stated in this report (pass the model folder).</div>"
        )
    budget = (
        f' <span class="muted">(budget ε = {esc(fmt(g["epsilon_budget"]))})</span>'
        if g["epsilon_budget"] is not None
        else ""
    )
    return (
        '<div class="guarantee"><span class="label">Privacy guarantee</span> '
        f'<span class="big">(ε = {esc(fmt(g["epsilon"]))}, δ = {esc(fmt(g["delta"]))})</span>'
        f"-differential privacy{budget}</div>"
    )


def _parameters(event: Any) -> str:
    if not isinstance(event, Mapping):
        return esc(fmt(event))
    return ", ".join(
        f"{esc(k)} = {esc(fmt(v))}" for k, v in event.items() if k != "kind" and is_scalar(v)
    )


def ledger_section(ledger: Mapping[str, Any]) -> Section:
    """The budget summary, the delta reservations and every entry of the ledger."""
    summary = [[label, esc(fmt(ledger[key]))] for key, label in _SUMMARY if key in ledger]
    parts = [explain(EXPLANATION), table(["", "value"], summary, cls="kv")]
    reservations = ledger.get("reservations") or []
    if reservations:
        parts.append("<h3>Delta reserved</h3>")
        parts.append(
            table(
                ["label", "δ"],
                [
                    [esc(r.get("label", "")), esc(fmt(r.get("delta")))]
                    for r in reservations
                    if isinstance(r, Mapping)
                ],
            )
        )
    entries = ledger.get("entries") or []
    rows = []
    for i, e in enumerate(entries, start=1):
        if not isinstance(e, Mapping):
            continue
        event = e.get("event", {})
        kind = event.get("kind", "") if isinstance(event, Mapping) else ""
        rows.append(
            [
                str(i),
                esc(e.get("label", "")),
                esc(kind),
                _parameters(event),
                esc(fmt(e.get("rho"))),
            ]
        )
    count = f"{len(rows)} {'entry' if len(rows) == 1 else 'entries'}"
    parts.append(f"<h3>Every privacy cost paid ({count})</h3>")
    parts.append(
        '<div class="scroll">'
        + table(["#", "step", "mechanism", "parameters", "ρ (zCDP cost)"], rows, numeric_from=4)
        + "</div>"
    )
    known = {k for k, _ in _SUMMARY} | {"reservations", "entries"}
    extra = {k: v for k, v in ledger.items() if k not in known}
    if extra:
        parts.append("<h3>Other ledger fields</h3>" + mapping_table(extra))
    return Section("ledger", "Privacy ledger", "".join(parts), real_data=False)
