"""The image-quality section: scores of an image evaluation (TSTR accuracy, fidelity numbers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from privsynth.report import figures
from privsynth.report.html import Section, esc, explain, note, value_html

IMAGE_KEYS = ("data_kind", "tstr", "fidelity", "images", "notes")

EXPLANATION = (
    "A fixed small image classifier is trained on the synthetic images and tested on real ones "
    '("train on synthetic, test on real"): the closer its accuracy is to that of one trained '
    "on real images, the more useful the synthetic images. The fidelity numbers compare the "
    "average real and synthetic image; 0 means identical."
)


def image_scores_section(evaluation: Mapping[str, Any]) -> Section:
    """TSTR accuracy (with a per-class chart), fidelity numbers, counts and notes."""
    parts = [explain(EXPLANATION)]
    tstr = evaluation.get("tstr")
    if isinstance(tstr, Mapping):
        parts.append("<h3>Train on synthetic, test on real</h3>" + value_html(tstr))
        per_class = tstr.get("per_class_accuracy")
        if isinstance(per_class, list) and per_class:
            chart = figures.bar_chart(
                [str(k) for k in range(len(per_class))],
                {"accuracy": [v if isinstance(v, int | float) else None for v in per_class]},
                title="Accuracy per class (real test images)",
                percent=False,
                ymax=1.0,
            )
            parts.append(f'<div class="cell wide">{chart}</div>')
    for key, title in (("fidelity", "Fidelity"), ("images", "Images used")):
        if key in evaluation:
            parts.append(f"<h3>{esc(title)}</h3>" + value_html(evaluation[key]))
    for text in evaluation.get("notes") or []:
        parts.append(note(str(text)))
    return Section("quality", "Image quality", "".join(parts))
