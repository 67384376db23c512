"""Rules learned from private data with DP: combinations that (almost) never occur.

:func:`learn_rules` measures the one-way and two-way marginals of categorical columns through
:func:`~privsynth.measure.marginals.measure_marginals` (charged on the ledger before any noise
is drawn; every marginal has L2 sensitivity 1) and flags a pair of values as a candidate
``forbid`` rule when, from the noisy counts alone:

* the combination is confidently rare: its noisy count plus ``z`` noise deviations is at most
  ``max_fraction`` of the (noisy) number of rows, and
* both values are confidently common on their own: each noisy one-way count minus ``z`` noise
  deviations is at least ``min_side_fraction`` of the rows (so the absence is informative,
  not a small-sample artefact), and
* the combination is far rarer than independence predicts: the upper bound is at most
  ``max_ratio`` times the count expected if the two values were independent (from the noisy
  one-way counts). Without this, a pair of merely uncommon values — rare because both sides
  are, not because they exclude each other — passes the first test by chance among thousands
  of cells.

Candidates are listed strongest evidence first (expected count over upper bound), so a
reviewer, or an automatic "accept the first k", sees the exclusions before the coincidences.

Everything after the measurement is post-processing. Candidates are only suggestions: a rule
enters a schema through :func:`accept_candidates`, marked ``learned`` with its provenance, and
the schema's provenance keeps the ledger that paid for it.

The candidates file also keeps the noisy marginals themselves: a fit can reuse them
(:func:`prior_from_candidates`, ``privsynth fit --reuse``) instead of buying the same counts
again, its ledger then composing both releases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from privsynth.errors import InputError
from privsynth.estimation import Observation, estimate_total
from privsynth.generators.base import gaussian_sigma, remaining_budget
from privsynth.marginals.counting import InMemoryBackend
from privsynth.measure.marginals import Measurement, measure_marginals
from privsynth.measure.prior import PriorRelease
from privsynth.privacy.ledger import Ledger
from privsynth.schema.columns import CategoricalColumn, Schema
from privsynth.schema.rules import Rule, parse_rule
from privsynth.tables import check_columns
from privsynth.transforms.discretize import Discretizer

KIND = "privsynth-rule-candidates"


@dataclass(frozen=True)
class Candidate:
    """A pair of values whose noisy count is confidently small while both values are common."""

    id: int
    columns: tuple[str, str]
    values: tuple[str, str]
    noisy_count: float
    upper_bound: float
    sigma: float
    support: tuple[float, float]
    expected: float

    @property
    def evidence(self) -> float:
        """Expected count under independence over the upper bound (larger: stronger)."""
        return self.expected / max(self.upper_bound, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        """YAML form: the ``forbid`` rule and its noisy support numbers."""
        (a, b), (u, v) = self.columns, self.values
        return {
            "id": self.id,
            "forbid": {a: u, b: v},
            "noisy_count": round(self.noisy_count, 3),
            "upper_bound": round(self.upper_bound, 3),
            "sigma": round(self.sigma, 6),
            "independent_expectation": round(self.expected, 3),
            "noisy_support": {
                f"{a}={u}": round(self.support[0], 3),
                f"{b}={v}": round(self.support[1], 3),
            },
        }


@dataclass(frozen=True)
class Learned:
    """The outcome of :func:`learn_rules`: candidates, the ledger that paid, the settings."""

    candidates: tuple[Candidate, ...]
    ledger: Ledger
    estimated_rows: float
    settings: dict[str, Any]
    measurements: tuple[Measurement, ...] = ()

    def prior(self, source: str) -> PriorRelease:
        """The noisy marginals as a release a fit can reuse."""
        return PriorRelease(self.measurements, self.ledger, source, self.ledger.dataset)

    def to_dict(self, provenance: dict[str, Any] | None = None) -> dict[str, Any]:
        """The candidates file's content."""
        led = self.ledger
        return {
            "kind": KIND,
            **({"provenance": provenance} if provenance else {}),
            "privacy": {
                "epsilon_spent": led.epsilon(),
                "epsilon_budget": led.epsilon_budget,
                "delta": led.delta,
                "rho_spent": led.rho_spent,
            },
            "settings": self.settings,
            "estimated_rows": round(self.estimated_rows, 3),
            "ledger": led.to_dict(),
            "store_dataset": led.dataset,
            "candidates": [c.to_dict() for c in self.candidates],
            "measurements": self.prior("").to_dict(),
        }


def learn_rules(
    df: pd.DataFrame,
    schema: Schema,
    ledger: Ledger,
    rng: np.random.Generator,
    *,
    columns: Sequence[str] | None = None,
    z: float = 3.0,
    max_fraction: float = 0.001,
    min_side_fraction: float = 0.01,
    max_ratio: float = 0.2,
    source: str | Path = "data",
) -> Learned:
    """Spend the ledger's remaining budget on categorical one- and two-way marginals and
    return the candidate ``forbid`` rules (see the module docstring for the criterion)."""
    if z <= 0 or not 0 <= max_fraction < 1 or not 0 <= min_side_fraction < 1:
        raise InputError("rules learn: need z > 0 and fractions in [0, 1)")
    if not 0 < max_ratio <= 1:
        raise InputError(f"rules learn: max ratio must be in (0, 1], got {max_ratio}")
    cats = [c.name for c in schema.columns if isinstance(c, CategoricalColumn)]
    chosen = list(columns) if columns else cats
    for name in chosen:
        if name not in cats:
            raise InputError(
                f"rules learn: column {name!r} is not a categorical column of the schema"
            )
    if len(chosen) < 2:
        raise InputError("rules learn: needs at least two categorical columns")
    df = check_columns(df, schema, source)
    table, _ = Discretizer(schema).encode(df, source)
    backend = InMemoryBackend(table)
    pairs = list(combinations(chosen, 2))
    cliques = [(a,) for a in chosen] + pairs
    sigma = gaussian_sigma(remaining_budget(ledger, "rules learn"), len(cliques))
    measured = measure_marginals(
        backend,
        cliques,
        sigma,
        ledger,
        rng,
        label="rules learn: categorical 1- and 2-way marginals",
    )
    ones = {m.clique[0]: m.noisy for m in measured[: len(chosen)]}
    total = estimate_total(
        [Observation.from_measurement(m, table.domain) for m in measured[: len(chosen)]]
    )
    found: list[Candidate] = []
    for m in measured[len(chosen) :]:
        a, b = m.clique
        col_a, col_b = schema[a], schema[b]
        assert isinstance(col_a, CategoricalColumn) and isinstance(col_b, CategoricalColumn)
        grid = m.noisy.reshape(table.domain[a], table.domain[b])
        for u, va in enumerate(col_a.values):
            if ones[a][u] - z * sigma < min_side_fraction * total:
                continue
            for v, vb in enumerate(col_b.values):
                bound = grid[u, v] + z * sigma
                common = ones[b][v] - z * sigma >= min_side_fraction * total
                expected = ones[a][u] * ones[b][v] / max(total, 1.0)
                if common and bound <= min(max_fraction * total, max_ratio * expected):
                    found.append(
                        Candidate(
                            0,
                            (a, b),
                            (va, vb),
                            float(grid[u, v]),
                            float(bound),
                            float(sigma),
                            (float(ones[a][u]), float(ones[b][v])),
                            float(expected),
                        )
                    )
    ranked = sorted(found, key=lambda c: -c.evidence)
    out = [replace(c, id=i) for i, c in enumerate(ranked, start=1)]
    settings = {
        "columns": chosen,
        "z": z,
        "max_fraction": max_fraction,
        "min_side_fraction": min_side_fraction,
        "max_ratio": max_ratio,
        "sigma": float(sigma),
        "marginals": len(cliques),
    }
    return Learned(tuple(out), ledger, float(total), settings, tuple(measured))


def save_candidates(learned: Learned, path: str | Path, provenance: dict[str, Any]) -> None:
    """Write the candidates file (YAML)."""
    text = yaml.safe_dump(learned.to_dict(provenance), sort_keys=False, allow_unicode=True)
    Path(path).write_text(text, encoding="utf-8")


def load_candidates(path: str | Path) -> dict[str, Any]:
    """Read a candidates file written by ``privsynth rules learn``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: candidates file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND or "ledger" not in data:
        raise InputError(f"{path}: not a candidates file written by `privsynth rules learn`")
    return data


def prior_from_candidates(data: dict[str, Any], source: str) -> PriorRelease:
    """The noisy marginals of a candidates file (see :func:`load_candidates`) as a release a
    fit can reuse, with the ledger that paid for them."""
    items = data.get("measurements")
    if not items:
        raise InputError(f"{source}: the candidates file holds no measurements to reuse")
    measurements = PriorRelease.measurements_from(items, source)
    try:
        ledger = Ledger.from_dict(data["ledger"])
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{source}: the candidates file's ledger is malformed") from None
    return PriorRelease(measurements, ledger, source, data.get("store_dataset"))


def accept_candidates(
    schema: Schema, data: dict[str, Any], ids: Sequence[int], source: str
) -> tuple[Schema, int]:
    """The schema with candidates ``ids`` added as ``learned`` forbid rules, the paying ledger
    recorded in its provenance; also the number of rules added (repeats are skipped)."""
    by_id = {int(c["id"]): c for c in data.get("candidates", [])}
    columns = {c.name: c for c in schema.columns}
    rules: list[Rule] = list(schema.rules)
    added = 0
    for i in ids:
        if i not in by_id:
            known = ", ".join(str(k) for k in sorted(by_id)) or "none"
            raise InputError(f"{source}: no candidate with id {i} (ids: {known})")
        cand = by_id[i]
        learned = {
            "source": source,
            "candidate": i,
            "epsilon": data["privacy"]["epsilon_spent"],
            "delta": data["privacy"]["delta"],
            "noisy_count": cand["noisy_count"],
            "upper_bound": cand["upper_bound"],
            "sigma": cand["sigma"],
        }
        rule = parse_rule(
            {"forbid": cand["forbid"], "learned": learned}, columns, f"{source}: candidate {i}"
        )
        if rule not in rules:
            rules.append(rule)
            added += 1
    provenance = dict(schema.provenance or {})
    history = list(provenance.get("learned_rules", []))
    history.append({"source": source, "ids": list(ids), "ledger": data["ledger"]})
    provenance["learned_rules"] = history
    return replace(schema, rules=tuple(rules), provenance=provenance), added
