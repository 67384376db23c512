"""The utility section: does a model trained on synthetic data work on real data?"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from privsynth.report import figures
from privsynth.report.html import Section, esc, explain, fmt, mapping_table, note, table

METRICS = (("accuracy", "accuracy"), ("f1", "F1"), ("f2", "F2"), ("roc_auc", "ROC AUC"))

EXPLANATION = (
    "Utility asks whether the synthetic data can stand in for the real data in an analysis. "
    "The same classifier is trained on real and on synthetic rows and tested on real and on "
    "synthetic rows never seen in training. The key comparison is training on synthetic and "
    "testing on real, against training and testing on real: the closer the two, the more "
    "useful the synthetic data. Scores range from 0 to 1; higher is better."
)

_KNOWN = {"matrix", "accuracy_loss", "note", "skipped"}


def _side(key: str) -> str:
    return key.removeprefix("train_").removeprefix("test_")


def accuracy_loss(efficacy: Mapping[str, Any]) -> dict[str, Any] | None:
    """p1 − p2: accuracy trained and tested on real minus trained on synthetic, tested on real.

    p1 and p2 come from the matrix; the loss is the evaluation's own ``accuracy_loss`` when it
    has one, else p1 − p2. None when neither is available.
    """
    p1 = p2 = None
    matrix = efficacy.get("matrix")
    if isinstance(matrix, Mapping):
        p1 = _accuracy(matrix, "train_real")
        p2 = _accuracy(matrix, "train_synthetic")
    given = efficacy.get("accuracy_loss")
    if isinstance(given, Mapping):
        return dict(given)
    if given is None and (p1 is None or p2 is None):
        return None
    return {
        "p1": p1,
        "p2": p2,
        "loss": given if given is not None else p1 - p2,
        "definition": "accuracy(train real, test real) − accuracy(train synthetic, test real)",
    }


def _accuracy(matrix: Mapping[str, Any], train: str) -> float | None:
    cell = (
        matrix.get(train, {}).get("test_real") if isinstance(matrix.get(train), Mapping) else None
    )
    value = cell.get("accuracy") if isinstance(cell, Mapping) else None
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _cells(matrix: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    return [
        (_side(train), _side(test), cell)
        for train, tests in matrix.items()
        if isinstance(tests, Mapping)
        for test, cell in tests.items()
        if isinstance(cell, Mapping)
    ]


def utility_section(efficacy: Mapping[str, Any], loss: Mapping[str, Any] | None) -> Section:
    """The 2×2 train/test matrix as a table and a chart, and the accuracy loss."""
    parts = [explain(EXPLANATION)]
    if "skipped" in efficacy:
        parts.append(note(f"Not computed: {efficacy['skipped']}"))
        return Section("utility", "Utility", "".join(parts))
    cells = _cells(efficacy.get("matrix", {}))
    label = efficacy.get("label")
    if label is not None:
        target = efficacy.get("positive_class")
        how = f"positive class {target!r}" if target is not None else "macro average"
        parts.append(f"<p>Predicting <b>{esc(label)}</b> ({esc(how)}).</p>")
    if loss is not None:
        kind = (
            "good" if isinstance(loss.get("loss"), int | float) and loss["loss"] <= 0.05 else "info"
        )
        parts.append(
            '<div class="callout callout-' + kind + '"><b>Accuracy loss</b> '
            f'<span class="big">{esc(fmt(loss.get("loss")))}</span> = accuracy trained on real '
            f"({esc(fmt(loss.get('p1')))}) − accuracy trained on synthetic "
            f"({esc(fmt(loss.get('p2')))}), both tested on real rows. Near 0 means the synthetic "
            "data lost little for this task.</div>"
        )
    rows, reasons = [], []
    for train, test, cell in cells:
        rows.append(
            [esc(train), esc(test), esc(fmt(cell.get("n_train"))), esc(fmt(cell.get("n_test")))]
            + [esc(fmt(cell.get(m))) for m, _ in METRICS]
        )
        for metric, why in (cell.get("reasons") or {}).items():
            reasons.append(f"train {train} → test {test}: {metric}: {why}")
    head = ["train on", "test on", "train rows", "test rows", *(name for _, name in METRICS)]
    parts.append(table(head, rows, numeric_from=2))
    if cells:
        series = {
            f"train {train} → test {test}": [cell.get(m) for m, _ in METRICS]
            for train, test, cell in cells
        }
        chart = figures.bar_chart(
            [name for _, name in METRICS],
            series,
            title="Scores by training and test data",
            percent=False,
            ymax=1.0,
            width=620,
            height=250,
        )
        parts.append(f'<div class="cell wide">{chart}</div>')
    parts += [note(r) for r in reasons]
    if "note" in efficacy:
        parts.append(note(efficacy["note"]))
    details = {k: v for k, v in efficacy.items() if k not in _KNOWN}
    if details:
        parts.append(
            "<details><summary>Classifier, features and splits</summary>"
            + mapping_table(details)
            + "</details>"
        )
    return Section("utility", "Utility", "".join(parts))
