"""The result of an evaluation: JSON-able data, a markdown table and a rich renderable.

Every number here was computed on the real data, so the result is labelled as not private:
it is for the data owner, never for publication next to the synthetic data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from privsynth.evaluate.columns import ColumnFidelity, ColumnWasserstein
from privsynth.evaluate.correlations import CorrelationFidelity
from privsynth.evaluate.detection import Detection
from privsynth.evaluate.efficacy import METRICS, Efficacy
from privsynth.evaluate.labels import LabelAccuracy
from privsynth.evaluate.marginals import MarginalFidelity

PRIVACY = "not private: computed on the real data, for the data owner"


@dataclass(frozen=True)
class Section:
    """One titled table of the text renderings, with footnotes."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


@dataclass(frozen=True)
class EvaluationResult:
    """Fidelity, per-column, correlation and efficacy scores of synthetic against real data."""

    seed: int
    rows: Mapping[str, int | None]
    inputs: Mapping[str, Any]
    marginals: MarginalFidelity
    columns: ColumnFidelity
    correlations: CorrelationFidelity
    efficacy: Efficacy
    wasserstein: ColumnWasserstein | None = None
    detection: Detection | None = None
    label_accuracy: LabelAccuracy | None = None
    attacks: Mapping[str, Any] | None = None

    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """JSON-able data (``full`` adds the TVD of every single marginal)."""
        out: dict[str, Any] = {
            "privacy": PRIVACY,
            "seed": self.seed,
            "rows": dict(self.rows),
            "sampling": (
                "none, except where a part says otherwise (detection balances the classes: "
                "see detection.rows; attacks cap their targets: see attacks)"
            ),
            "inputs": dict(self.inputs),
            "marginals": self.marginals.to_dict(full=full),
            "columns": self.columns.to_dict(),
            "correlations": self.correlations.to_dict(),
            "efficacy": self.efficacy.to_dict(),
        }
        optional = {
            "wasserstein": self.wasserstein,
            "detection": self.detection,
            "label_accuracy": self.label_accuracy,
        }
        for key, part in optional.items():
            if part is not None:
                out[key] = part.to_dict()
        if self.attacks is not None:
            out["attacks"] = dict(self.attacks)
        return out

    def sections(self) -> list[Section]:
        """The content of the text renderings, section by section."""
        data = self.to_dict()
        out = [
            _marginal_section(data["marginals"]),
            _column_section(data["columns"], data.get("wasserstein")),
            _correlation_section(data["correlations"]),
        ]
        if "detection" in data:
            out.append(_detection_section(data["detection"]))
        out.append(_efficacy_section(data["efficacy"]))
        if "label_accuracy" in data and "skipped" not in data["label_accuracy"]:
            out.append(_label_section(data["label_accuracy"]))
        if "attacks" in data:
            out.append(_attack_section(data["attacks"]))
        return out

    def _header(self) -> str:
        rows = ", ".join(f"{k} {v}" for k, v in self.rows.items() if v is not None)
        return f"rows: {rows}; seed {self.seed}; no subsampling"

    def to_table(self) -> str:
        """A markdown report."""
        lines = [f"# Evaluation ({PRIVACY})", "", self._header()]
        for sec in self.sections():
            lines += ["", f"## {sec.title}", ""]
            lines.append("| " + " | ".join(sec.headers) + " |")
            lines.append("|" + "|".join("---" for _ in sec.headers) + "|")
            lines += ["| " + " | ".join(row) + " |" for row in sec.rows]
            if sec.notes:
                lines.append("")
                lines += [f"- {n}" for n in sec.notes]
        return "\n".join(lines)

    def to_rich(self) -> Any:
        """A rich renderable (a group of tables) for terminals."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        parts: list[Any] = [
            Text(f"Evaluation — {PRIVACY}", style="bold yellow"),
            Text(self._header(), style="dim"),
        ]
        for sec in self.sections():
            table = Table(
                title=sec.title,
                title_justify="left",
                caption_justify="left",
                caption="\n".join(sec.notes) or None,
            )
            for i, header in enumerate(sec.headers):
                table.add_column(header, justify="left" if i == 0 else "right")
            for row in sec.rows:
                table.add_row(*row)
            parts.append(table)
        return Group(*parts)


def _marginal_section(data: Mapping[str, Any]) -> Section:
    rows = []
    for order, entry in data["orders"].items():
        worst = entry.get("worst")
        rows.append(
            (
                f"{order}-way",
                str(entry["n_marginals"]),
                _num(entry["mean_tvd"]),
                _num(entry.get("median_tvd")),
                _num(worst["tvd"] if worst else None),
                ", ".join(worst["columns"]) if worst else entry.get("reason", ""),
            )
        )
    every = data["all_orders"]
    rows.append(("all", str(every["n_marginals"]), _num(every["mean_tvd"]), "", "", ""))
    return Section(
        "Marginal fidelity (TVD over public bins, 0 = identical)",
        ("order", "marginals", "mean TVD", "median", "worst TVD", "worst marginal"),
        tuple(rows),
    )


def _column_section(data: Mapping[str, Any], wass: Mapping[str, Any] | None) -> Section:
    per_w = (wass or {}).get("per_column", {})
    rows = [
        (
            name,
            c["kind"],
            _num(c["tvd"]),
            _num(c.get("ks")) if "ks" in c else "",
            _num(per_w[name]["wasserstein"]) if name in per_w else "",
            str(c["missing"]["real"]),
            str(c["missing"]["synthetic"]),
        )
        for name, c in data["per_column"].items()
    ]
    mean_w = _num(wass.get("mean_wasserstein")) if wass else ""
    rows.append(("mean", "", _num(data["mean_tvd"]), _num(data["mean_ks"]), mean_w, "", ""))
    notes = [
        f"{name}: KS n/a: {c['ks_reason']}"
        for name, c in data["per_column"].items()
        if c.get("ks_reason")
    ]
    notes += [f"{name}: W1 n/a: {w['reason']}" for name, w in per_w.items() if w.get("reason")]
    return Section(
        "Columns (TVD of bins; KS and Wasserstein-1 / public range on values, missing values "
        "left out and counted)",
        ("column", "kind", "TVD", "KS", "W1", "missing real", "missing synthetic"),
        tuple(rows),
        tuple(notes),
    )


def _detection_section(data: Mapping[str, Any]) -> Section:
    if "skipped" in data:
        return Section("Detection", ("status",), ((data["skipped"],),))
    used = data["rows"]["used"]
    return Section(
        "Detection (a classifier tells real from synthetic; AUC 0.5 = indistinguishable)",
        ("ROC AUC", "± s.e.", "detection score", "rows used (real / synthetic)"),
        (
            (
                _num(data["roc_auc"]),
                _num(data["roc_auc_se"]),
                _num(data["detection_score"]),
                f"{used['real']} / {used['synthetic']}",
            ),
        ),
        (data["rows"]["balancing"],),
    )


def _label_section(data: Mapping[str, Any]) -> Section:
    rows = tuple(
        (name, _num(t["accuracy"]), str(t["n_scored"]), str(sum(t["excluded"].values())))
        for name, t in data["tables"].items()
    )
    return Section(
        f"Label accuracy on the toy modes (label {data['label']!r})",
        ("table", "label accuracy", "rows scored", "rows left out"),
        rows,
    )


def _interval(ci: Any) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "n/a"


def _attack_section(data: Mapping[str, Any]) -> Section:
    rows = [
        (
            name,
            f"{a['auc']:.3f} {_interval(a.get('auc_ci'))}",
            f"{a['advantage']:.3f} {_interval(a.get('advantage_ci'))}",
            f"{a['privacy_loss']:.3f} {_interval(a.get('privacy_loss_ci'))}",
            f"{a['n_members']} / {a['n_nonmembers']}",
            a.get("evidence", ""),
        )
        for name, a in data.get("attacks", {}).items()
    ]
    notes = [f"{name}: skipped: {why}" for name, why in data.get("skipped", {}).items()]
    return Section(
        "Privacy attacks (AUC 0.5 and privacy loss 0 = the attacker learns nothing)",
        ("attack", "AUC [95% CI]", "advantage", "privacy loss", "targets in / out", "evidence"),
        tuple(rows),
        tuple(notes),
    )


def _correlation_section(data: Mapping[str, Any]) -> Section:
    rows, notes = [], []
    for key in ("pearson", "cramers_v"):
        d = data[key]
        worst = d.get("worst_pair")
        rows.append(
            (
                "Pearson (numeric)" if key == "pearson" else "Cramér's V (categorical)",
                str(d["n_pairs"]),
                _num(d["mean_abs_diff"]),
                _num(d.get("max_abs_diff")),
                " × ".join(worst["columns"]) if worst else d.get("reason", ""),
            )
        )
        for side, pairs in d.get("undefined_set_to_0", {}).items():
            if pairs:
                notes.append(
                    f"{key}: {len(pairs)} pair(s) undefined in {side} (constant), taken as 0"
                )
    return Section(
        "Pairwise association (mean |real − synthetic| over column pairs)",
        ("measure", "pairs", "mean abs diff", "max abs diff", "worst pair"),
        tuple(rows),
        tuple(notes),
    )


def _efficacy_section(data: Mapping[str, Any]) -> Section:
    if "skipped" in data:
        return Section("Machine-learning efficacy", ("status",), ((data["skipped"],),))
    rows, notes = [], []
    for train, tests in data["matrix"].items():
        for test, cell in tests.items():
            t_from, t_on = train.removeprefix("train_"), test.removeprefix("test_")
            rows.append(
                (
                    t_from,
                    t_on,
                    str(cell["n_train"]),
                    str(cell["n_test"]),
                    *(_num(cell[m]) for m in METRICS),
                )
            )
            notes += [
                f"{t_from} → {t_on}: {m}: {why}" for m, why in cell.get("reasons", {}).items()
            ]
    target = f"positive class {data['positive_class']!r}" if data["positive_class"] else "macro"
    notes.insert(0, f"real test rows: {data['splits']['real_test_source']}")
    deltas = data.get("deltas_tested_on_real", {})
    if deltas:
        text = ", ".join(f"{m} {_num(deltas.get(m))}" for m in METRICS)
        notes.insert(1, f"accuracy loss p1 - p2 = {_num(data.get('accuracy_loss'))}")
        notes.insert(2, f"efficacy deltas (trained on synthetic - on real, tested on real): {text}")
    return Section(
        f"Machine-learning efficacy (label {data['label']!r}, {target})",
        ("train on", "test on", "train rows", "test rows", "accuracy", "F1", "F2", "ROC AUC"),
        tuple(rows),
        tuple(notes),
    )
