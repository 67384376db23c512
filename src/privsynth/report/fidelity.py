"""The fidelity section: how closely the synthetic table's distributions follow the real one's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from privsynth.report import figures
from privsynth.report.html import Section, esc, explain, fmt, note, table

EXPLANATION = (
    "Fidelity asks whether the synthetic data look like the real data in aggregate. Each "
    "score compares the share of rows in the same public bins; 0 means identical and 1 means "
    "completely different. Marginals compare every single column, every pair and every triple "
    "of columns; associations compare how strongly columns move together. Good fidelity does "
    "not mean anyone's record was copied: the privacy guarantee above bounds that."
)

KEYS = ("marginals", "columns", "correlations", "detection", "wasserstein")


def _marginals(data: Mapping[str, Any]) -> str:
    rows = []
    for order, entry in data.get("orders", {}).items():
        worst = entry.get("worst") or {}
        rows.append(
            [
                f"{esc(order)}-way",
                esc(fmt(entry.get("n_marginals"))),
                esc(fmt(entry.get("mean_tvd"))),
                esc(fmt(entry.get("median_tvd"))),
                esc(fmt(worst.get("tvd"))),
                esc(" × ".join(worst.get("columns", [])) or entry.get("reason", "")),
            ]
        )
    every = data.get("all_orders")
    if isinstance(every, Mapping):
        rows.append(
            [
                "<b>all</b>",
                esc(fmt(every.get("n_marginals"))),
                esc(fmt(every.get("mean_tvd"))),
                "",
                "",
                "",
            ]
        )
    head = ["order", "marginals", "mean TVD", "median TVD", "worst TVD", "worst marginal"]
    return (
        "<h3>Marginals (total variation distance over public bins)</h3>"
        + table(head, rows, numeric_from=1, numeric_to=5)
        + (note(data["note"]) if "note" in data else "")
    )


def _wasserstein_of(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """Per-column Wasserstein scores wherever the evaluation put them (absent: empty)."""
    for holder in (evaluation.get("wasserstein"), evaluation.get("columns", {}).get("wasserstein")):
        if isinstance(holder, Mapping) and isinstance(holder.get("per_column"), Mapping):
            return {k: v.get("wasserstein") for k, v in holder["per_column"].items()}
    per_column = evaluation.get("columns", {}).get("per_column", {})
    return {k: v["wasserstein"] for k, v in per_column.items() if "wasserstein" in v}


def _columns(evaluation: Mapping[str, Any]) -> str:
    data = evaluation["columns"]
    wasser = _wasserstein_of(evaluation)
    head = ["column", "kind", "TVD", "KS"] + (["Wasserstein"] if wasser else [])
    head += ["missing (real)", "missing (synthetic)"]
    rows, notes = [], []
    for name, c in data.get("per_column", {}).items():
        missing = c.get("missing", {})
        row = [esc(name), esc(c.get("kind", "")), esc(fmt(c.get("tvd")))]
        row.append(esc(fmt(c.get("ks"))) if "ks" in c else "—")
        if wasser:
            row.append(esc(fmt(wasser[name])) if name in wasser else "—")
        row += [esc(fmt(missing.get("real"))), esc(fmt(missing.get("synthetic")))]
        rows.append(row)
        if c.get("ks_reason"):
            notes.append(f"{name}: KS not available: {c['ks_reason']}")
    mean = ["<b>mean</b>", "", esc(fmt(data.get("mean_tvd"))), esc(fmt(data.get("mean_ks")))]
    if wasser:
        values = [v for v in wasser.values() if isinstance(v, int | float)]
        mean.append(esc(fmt(sum(values) / len(values))) if values else "n/a")
    rows.append([*mean, "", ""])
    return (
        "<h3>Columns</h3>"
        + table(head, rows, numeric_from=2)
        + "".join(note(n) for n in notes)
        + (note(data["note"]) if "note" in data else "")
    )


def _correlations(data: Mapping[str, Any]) -> str:
    names = {
        "pearson": "Pearson (numeric columns)",
        "cramers_v": "Cramér's V (categorical columns)",
    }
    rows = []
    for key, d in data.items():
        if not isinstance(d, Mapping):
            continue
        worst = d.get("worst_pair") or {}
        pair = " × ".join(worst.get("columns", []))
        if pair:
            pair += f" (real {fmt(worst.get('real'))}, synthetic {fmt(worst.get('synthetic'))})"
        rows.append(
            [
                esc(names.get(key, key)),
                esc(fmt(d.get("n_pairs"))),
                esc(fmt(d.get("mean_abs_diff"))),
                esc(fmt(d.get("max_abs_diff"))),
                esc(pair or d.get("reason", "")),
            ]
        )
    head = ["measure", "pairs", "mean |real − synthetic|", "max", "worst pair"]
    return (
        "<h3>Pairwise association</h3>"
        + table(head, rows, numeric_from=1, numeric_to=4)
        + (note(data["note"]) if "note" in data else "")
    )


def _detection(data: Mapping[str, Any]) -> str:
    text = (
        "A classifier is trained to tell real rows from synthetic ones. A ROC AUC of 0.5 means it "
        "cannot tell them apart; 1.0 means every synthetic row is recognisable."
    )
    if "skipped" in data:
        return "<h3>Detection</h3>" + note(f"skipped: {data['skipped']}")
    rows = [
        ["ROC AUC", esc(fmt(data.get("roc_auc")))],
        ["standard error", esc(fmt(data.get("roc_auc_se")))],
        ["detection score", esc(fmt(data.get("detection_score")))],
        ["classifier", esc(data.get("classifier", ""))],
    ]
    return (
        "<h3>Detection (can a classifier tell real from synthetic?)</h3>"
        + table(["", "value"], rows, cls="kv")
        + note(text)
    )


def _distribution_plots(distributions: Mapping[str, Mapping[str, Any]]) -> str:
    charts = []
    for name, d in distributions.items():
        svg = figures.bar_chart(
            d["bins"],
            {"real": d["real"], "synthetic": d["synthetic"]},
            title=f"{name} ({d['kind']})",
            colors=(figures.REAL, figures.SYNTHETIC),
        )
        charts.append(f'<div class="cell">{svg}</div>')
    return (
        "<h3>Distributions per column (share of rows in each public bin)</h3>"
        f'<div class="grid">{"".join(charts)}</div>'
    )


def _association_plots(assoc: Mapping[str, Any]) -> str:
    labels = assoc["columns"]
    panels = [
        ("real", "Real data"),
        ("synthetic", "Synthetic data"),
        ("abs_difference", "|real − synthetic|"),
    ]
    charts = "".join(
        f'<div class="cell">{figures.heatmap(labels, assoc[key], title=title)}</div>'
        for key, title in panels
    )
    return (
        "<h3>Associations between columns (Cramér's V over public bins)</h3>"
        f'<div class="grid grid3">{charts}</div>'
        + note(
            "0 = the two columns are unrelated, 1 = one determines the other; grey cells are "
            "undefined (a column holding a single value). Numeric columns are compared through "
            "their bins."
        )
    )


def fidelity_section(
    evaluation: Mapping[str, Any],
    distributions: Mapping[str, Mapping[str, Any]] | None,
    associations: Mapping[str, Any] | None,
) -> Section | None:
    """The section, or None when the evaluation holds no fidelity scores and no plot data."""
    parts = []
    if isinstance(evaluation.get("marginals"), Mapping):
        parts.append(_marginals(evaluation["marginals"]))
    if isinstance(evaluation.get("columns"), Mapping):
        parts.append(_columns(evaluation))
    if isinstance(evaluation.get("correlations"), Mapping):
        parts.append(_correlations(evaluation["correlations"]))
    if isinstance(evaluation.get("detection"), Mapping):
        parts.append(_detection(evaluation["detection"]))
    if distributions:
        parts.append(_distribution_plots(distributions))
    if associations and associations.get("columns"):
        parts.append(_association_plots(associations))
    if not parts:
        return None
    return Section("fidelity", "Fidelity", explain(EXPLANATION) + "".join(parts))
