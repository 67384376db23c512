"""The privacy-attack section: simulated membership attacks on the synthetic data.

Input shape: ``{"attacks": {name: {"auc", "auc_ci", "advantage", "advantage_ci", "accuracy",
"privacy_loss", "privacy_loss_ci", "n_members", "n_nonmembers", "evidence", "description",
"roc": {"fpr", "tpr"}}}, "skipped": {name: reason}}``. Missing fields show as "n/a"; unknown
fields are listed generically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from privsynth.report import figures
from privsynth.report.html import (
    Section,
    badge,
    esc,
    explain,
    fmt,
    fmt_ci,
    mapping_table,
    note,
    table,
)

SIMILARITY = "similarity measure, not privacy evidence"

EXPLANATION = (
    "These tests play the attacker. Each one sees only the synthetic data and tries to tell "
    "whether a given person's record was used to build it (a membership attack), using real "
    "records that were used (members) and real records that were not (non-members). An AUC of "
    "0.5 and an advantage of 0 mean the attacker does no better than guessing. Passing these "
    "tests does not prove privacy, because a cleverer attack may exist; the differential-privacy "
    "guarantee above is the proof. A clearly successful attack would contradict it."
)

_SHOWN = {
    "auc",
    "auc_ci",
    "advantage",
    "advantage_ci",
    "accuracy",
    "accuracy_ci",
    "privacy_loss",
    "privacy_loss_ci",
    "n_members",
    "n_nonmembers",
    "evidence",
    "description",
    "roc",
}


def is_similarity(attack: Mapping[str, Any]) -> bool:
    """Whether an attack's ``evidence`` says it is a similarity measure, not privacy evidence."""
    evidence = str(attack.get("evidence", "")).lower()
    return "similarity measure" in evidence or "not privacy evidence" in evidence


def _curve(attack: Mapping[str, Any]) -> tuple[Sequence[float], Sequence[float]] | None:
    roc = attack.get("roc")
    if not isinstance(roc, Mapping):
        return None
    fpr, tpr = roc.get("fpr"), roc.get("tpr")
    ok = isinstance(fpr, Sequence) and isinstance(tpr, Sequence) and len(fpr) == len(tpr) > 1
    if not ok or not all(isinstance(v, int | float) for v in [*fpr, *tpr]):
        return None
    return fpr, tpr


def _with_ci(value: Any, ci: Any) -> str:
    """The value, with its confidence interval on a second, smaller line."""
    text = fmt_ci(value, ci)
    if " [" not in text:
        return esc(text)
    point, interval = text.split(" [", 1)
    return f'{esc(point)}<br><span class="ci">[{esc(interval)}</span>'


def _evidence(attack: Mapping[str, Any]) -> str:
    text = esc(attack.get("evidence", ""))
    if is_similarity(attack):
        same = str(attack.get("evidence", "")).strip().lower() == SIMILARITY
        return badge(SIMILARITY, "similarity") + ("" if same or not text else f"<br>{text}")
    return text


def attacks_section(data: Mapping[str, Any]) -> Section:
    """The results table, the ROC curves, the descriptions and the skipped attacks."""
    attacks = data.get("attacks") if isinstance(data.get("attacks"), Mapping) else {}
    parts = [explain(EXPLANATION)]
    rows, curves, dashed, descriptions, extras = [], {}, [], [], {}
    for name, a in attacks.items():
        if not isinstance(a, Mapping):
            extras[name] = a
            continue
        similarity = is_similarity(a)
        label = f"{name} ({'similarity measure' if similarity else 'attack'})"
        rows.append(
            [
                esc(name),
                _with_ci(a.get("auc"), a.get("auc_ci")),
                _with_ci(a.get("advantage"), a.get("advantage_ci")),
                _with_ci(a.get("accuracy"), a.get("accuracy_ci")),
                _with_ci(a.get("privacy_loss"), a.get("privacy_loss_ci")),
                esc(fmt(a.get("n_members"))),
                esc(fmt(a.get("n_nonmembers"))),
                _evidence(a),
            ]
        )
        curve = _curve(a)
        if curve is not None:
            curves[label] = curve
            if similarity:
                dashed.append(label)
        if a.get("description"):
            descriptions.append(f"<li><b>{esc(name)}</b>: {esc(a['description'])}</li>")
        unknown = {k: v for k, v in a.items() if k not in _SHOWN}
        if unknown:
            extras[name] = unknown
    if rows:
        head = [
            "attack",
            "AUC",
            "advantage",
            "accuracy",
            "empirical privacy loss",
            "members",
            "non-members",
            "evidence",
        ]
        parts.append(table(head, rows, numeric_from=1, numeric_to=7, cls="attacks"))
        parts.append(note("Under each number, in brackets: its 95% confidence interval."))
    else:
        parts.append(note("No attack results were given."))
    if curves:
        chart = figures.roc_chart(curves, title="ROC curves of the attacks", dashed=dashed)
        parts.append(
            f'<div class="cell narrow">{chart}</div>'
            + note(
                "The dashed diagonal is random guessing. A curve close to it means the attacker "
                "learns almost nothing; dashed curves are similarity measures, not attacks."
            )
        )
    if descriptions:
        parts.append(f"<h3>What each test does</h3><ul>{''.join(descriptions)}</ul>")
    skipped = data.get("skipped")
    if isinstance(skipped, Mapping) and skipped:
        items = "".join(f"<li><b>{esc(k)}</b>: {esc(fmt(v))}</li>" for k, v in skipped.items())
        parts.append(f"<h3>Skipped</h3><ul>{items}</ul>")
    if isinstance(data.get("note"), str):
        parts.append(note(data["note"]))
    other = {k: v for k, v in data.items() if k not in ("attacks", "skipped", "note", "privacy")}
    for title, details in (
        ("Further details of each attack", extras),
        ("How the attacks were set up", other),
    ):
        if details:
            parts.append(
                f"<details><summary>{esc(title)}</summary>{mapping_table(details)}</details>"
            )
    return Section("attacks", "Privacy attacks", "".join(parts))
