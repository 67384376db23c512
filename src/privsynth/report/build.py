"""``build_report``: assemble the HTML page and the JSON data from the same numbers.

The inputs are first turned into plain JSON data; the page is then rendered from that data
only, so every number on the page is the number in report.json. A section whose input does
not have the expected shape is shown generically (key/value tables) instead of failing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

import privsynth
from privsynth.errors import InputError
from privsynth.evaluate.inputs import Prepared
from privsynth.evaluate.report import PRIVACY
from privsynth.report import stats
from privsynth.report.attacks import attacks_section
from privsynth.report.fidelity import KEYS as FIDELITY_KEYS
from privsynth.report.fidelity import fidelity_section
from privsynth.report.generic import audit_section, generic_section
from privsynth.report.html import NOT_PRIVATE, Section, esc, note
from privsynth.report.images import images_section
from privsynth.report.ledger import guarantee, guarantee_html, ledger_section
from privsynth.report.page import header_html, render_page
from privsynth.report.quality import IMAGE_KEYS, image_scores_section
from privsynth.report.utility import accuracy_loss, utility_section

DEFAULT_TITLE = "Synthetic data report"
DETAIL_KEYS = ("seed", "rows", "sampling", "inputs")
# Keys of an evaluation that no section shows on its own.
_QUIET = {"privacy", "efficacy", *FIDELITY_KEYS, *DETAIL_KEYS, *IMAGE_KEYS}


def jsonable(value: Any) -> Any:
    """Plain JSON data: numpy values become Python ones, tuples lists, keys text, and
    non-finite floats the strings ``"inf"``, ``"-inf"`` and ``"nan"`` (JSON has no such
    numbers)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    return str(value)


def _safe(
    section_id: str, title: str, data: Any, build: Callable[[], Section | None]
) -> Section | None:
    """``build()``, or the data as generic tables when it does not have the expected shape."""
    try:
        return build()
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        section = generic_section(section_id, title, data)
        warning = note("This section's data did not have the expected layout; shown as given.")
        return Section(section.id, section.title, warning + section.body, section.real_data)


def _figure_data(prepared: Prepared | None) -> dict[str, Any] | None:
    if prepared is None or not {"real", "synthetic"} <= set(prepared.tables):
        return None
    return {
        "privacy": PRIVACY,
        "distributions": stats.column_distributions(prepared),
        "associations": stats.associations(prepared),
    }


def build_report(
    *,
    evaluation: Mapping[str, Any] | None,
    prepared: Prepared | None,
    ledger: Mapping[str, Any] | None,
    attacks: Mapping[str, Any] | None = None,
    audit: Any = None,
    images: Mapping[str, Any] | None = None,
    title: str = DEFAULT_TITLE,
    meta: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The report page (one self-contained HTML document) and its numbers as JSON data.

    ``evaluation`` is ``EvaluationResult.to_dict()`` (or an image evaluation's); ``prepared``
    (the encoded real and synthetic tables) adds the distribution and association plots;
    ``ledger`` is ``Ledger.to_dict()``; ``attacks``, ``audit`` and ``images`` (``{"synthetic":
    ..., "real": ...}`` image arrays) add their sections; ``meta`` names the inputs in the header
    (e.g. ``{"dataset": .., "generator": ..}``); ``extra`` maps more section titles to data shown
    generically. Sections without data are left out. Raises :class:`InputError` for images that
    are not image arrays.
    """
    names = dict(meta or {})
    if prepared is not None and prepared.schema.name and "dataset" not in names:
        names = {"dataset": prepared.schema.name, **names}
    data: dict[str, Any] = {
        "title": title,
        "privacy_label": NOT_PRIVATE,
        "privacy": PRIVACY,
        "made_by": f"privsynth {privsynth.__version__}",
        "meta": jsonable(names),
        "guarantee": jsonable(guarantee(ledger)),
        "ledger": jsonable(ledger),
        "evaluation": jsonable(evaluation),
        "figures": jsonable(_figure_data(prepared)),
        "utility": None,
        "attacks": jsonable(attacks),
        "audit": jsonable(audit),
        "images": None,
        "extra": jsonable(extra),
    }
    sections = _sections(data, images)
    data["sections"] = [s.id for s in sections]
    header = header_html(title, data["meta"], guarantee_html(data["ledger"]))
    footer = esc(f"Made by {data['made_by']}. The same numbers are in the JSON file beside it.")
    return render_page(title, header, sections, footer), data


def _sections(data: dict[str, Any], images: Mapping[str, Any] | None) -> list[Section]:
    """Every section with data, in page order; fills ``data["utility"]`` and ``["images"]``."""
    evaluation = data["evaluation"] if isinstance(data["evaluation"], Mapping) else {}
    figures = data["figures"] or {}
    out: list[Section | None] = []
    if isinstance(data["ledger"], Mapping):
        out.append(
            _safe(
                "ledger", "Privacy ledger", data["ledger"], lambda: ledger_section(data["ledger"])
            )
        )
    out.append(
        _safe(
            "fidelity",
            "Fidelity",
            {k: evaluation[k] for k in FIDELITY_KEYS if k in evaluation},
            lambda: fidelity_section(
                evaluation, figures.get("distributions"), figures.get("associations")
            ),
        )
    )
    efficacy = evaluation.get("efficacy")
    if efficacy is not None:

        def utility() -> Section:
            loss = accuracy_loss(efficacy)
            data["utility"] = {"accuracy_loss": loss}
            return utility_section(efficacy, loss)

        out.append(_safe("utility", "Utility", efficacy, utility))
    if any(k in evaluation for k in IMAGE_KEYS):
        out.append(
            _safe("quality", "Image quality", evaluation, lambda: image_scores_section(evaluation))
        )
    if data["attacks"] is not None:
        out.append(
            _safe(
                "attacks",
                "Privacy attacks",
                data["attacks"],
                lambda: attacks_section(data["attacks"]),
            )
        )
    if data["audit"] is not None:
        out.append(audit_section(data["audit"]))
    if images:
        if not isinstance(images, Mapping):
            raise InputError("images: expected a mapping {'synthetic': ..., 'real': ...}")
        section, summary = images_section(images)
        data["images"] = summary
        out.append(section)
    other = {k: v for k, v in evaluation.items() if k not in _QUIET}
    if other:
        out.append(generic_section("other", "Other evaluation results", other))
    for i, (name, value) in enumerate((data["extra"] or {}).items()):
        out.append(generic_section(f"extra-{i}", str(name), value))
    details = {k: evaluation[k] for k in DETAIL_KEYS if k in evaluation}
    if details:
        out.append(
            generic_section(
                "details",
                "Evaluation details",
                details,
                "How the evaluation was run: rows read, the seed that fixes its randomness, and "
                "how values were fitted to the schema's public bins.",
            )
        )
    return [s for s in out if s is not None]
