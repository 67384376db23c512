"""The library's front door: fit a generator on a table under a budget, sample, save, load.

``fit_table`` validates everything that can be validated *before* the ledger exists, so bad
input costs no budget; then the generator spends through the ledger; the returned
:class:`Synthesizer` holds only the DP release (schema, config, ledger, model state).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privsynth.errors import InputError, ModelFileError
from privsynth.marginals.counting import InMemoryBackend
from privsynth.measure.prior import PriorRelease
from privsynth.models.release import read_release, save_release
from privsynth.privacy.ledger import BudgetStore, Ledger, validate_budget
from privsynth.schema.columns import CategoricalColumn, Schema
from privsynth.schema.io import schema_from_dict, schema_to_dict
from privsynth.tables import check_columns
from privsynth.transforms.discretize import Discretizer, EncodeReport

Progress = Callable[[str, float], None]


@dataclass
class Synthesizer:
    """A fitted DP model with the public schema it decodes through."""

    schema: Schema
    generator: str
    config: dict[str, Any]
    ledger: Ledger
    model: Any  # a generators.base.FittedModel

    @property
    def discretizer(self) -> Discretizer:
        """The public encoding shared by fit and sample."""
        return Discretizer(self.schema)

    def sample(
        self,
        n: int | None = None,
        *,
        rng: np.random.Generator,
        where: Mapping[str, Sequence[str]] | None = None,
        rules: bool = True,
        rule_strategy: str = "rake",
    ) -> pd.DataFrame:
        """Draw ``n`` synthetic rows (default: the model's noisy row-count estimate).

        ``where`` maps categorical columns to allowed values; the model conditions on it exactly.
        Every row respects the schema's rules (``rules=False`` gives the model's raw draws);
        by default (``rule_strategy="rake"``) the consequent of a broken implication is moved
        before what still breaks a rule is rejected (:meth:`privsynth.enforce.RuleChecker.rake`;
        bench/results/control_features_cal.md); ``"reject"`` only rejects.
        """
        if n is None:
            n = max(1, round(float(self.model.estimated_total())))
        if not isinstance(n, int | np.integer) or n < 1:
            raise InputError(f"-n: number of rows must be a positive integer, got {n!r}")
        disc = self.discretizer
        code_where = None
        if where:
            code_where = {col: disc.codes_for(col, list(vals)) for col, vals in where.items()}
        from privsynth.enforce import check_strategy

        check_strategy(rule_strategy)  # also when the schema has no rules: a typo is an error
        if rules and self.schema.rules:
            return self._sample_with_rules(int(n), rng, where or {}, code_where, rule_strategy)
        if hasattr(self.model, "sample_values"):  # models that draw real numbers (dpflow)
            codes, values = self.model.sample_values(int(n), rng=rng, where=code_where)
            return disc.decode(codes, rng, values=values)
        codes = self.model.sample(int(n), rng=rng, where=code_where)
        return disc.decode(codes, rng)

    def _sample_with_rules(
        self,
        n: int,
        rng: np.random.Generator,
        where: Mapping[str, Sequence[str]],
        code_where: dict[str, list[int]] | None,
        strategy: str = "rake",
    ) -> pd.DataFrame:
        """Rows that respect the schema's rules (:mod:`privsynth.enforce`); post-processing."""
        from privsynth.enforce import RuleChecker, sample_respecting
        from privsynth.transforms.constraints import check_where

        checker = RuleChecker(self.schema)
        if code_where:
            shown = " ".join(f"{c}={','.join(v)}" for c, v in where.items())
            check_where(checker.constraints, code_where, shown)

        def draw(m: int) -> pd.DataFrame:
            return self.sample(m, rng=rng, where=where, rules=False)

        return sample_respecting(draw, n, checker, rng, strategy=strategy)

    def save(self, path: str | Path) -> None:
        """Write the model folder (manifest + arrays; no pickle, no training rows)."""
        save_release(
            path,
            data_kind="table",
            generator=self.generator,
            config=self.config,
            ledger=self.ledger,
            model=self.model,
            schema=schema_to_dict(self.schema),
        )

    @classmethod
    def load(cls, path: str | Path) -> Synthesizer:
        """Read and verify a model folder."""
        return read_release(path, "table", cls._rebuild)

    @classmethod
    def _rebuild(
        cls, manifest: dict[str, Any], arrays: dict[str, np.ndarray], where: str
    ) -> Synthesizer:
        from privsynth.generators import load_model

        schema = schema_from_dict(manifest["schema"], where=where)
        ledger = Ledger.from_dict(manifest["ledger"])
        gen = manifest["generator"]
        model = load_model(manifest["model"], arrays)
        if model.domain != Discretizer(schema).domain:
            raise ModelFileError(f"{where}: model domain does not match its schema")
        return cls(schema, gen["name"], gen.get("config", {}), ledger, model)


def structural_zeros(schema: Schema, disc: Discretizer) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """The schema's rules as (attributes, allowed codes) tables: public, so free. Graphical
    generators give the forbidden cells probability zero; sampling enforces the rest."""
    from privsynth.transforms.constraints import compile_rules

    return [(c.attrs, c.allowed) for c in compile_rules(schema, disc) if not c.allowed.all()]


def numeric_attributes(schema: Schema) -> tuple[str, ...]:
    """Columns whose codes are ordered bins of a number (public, from the schema)."""
    return tuple(c.name for c in schema.columns if not isinstance(c, CategoricalColumn))


def open_fit_ledger(
    gen: Any,
    epsilon: float,
    delta: float,
    *,
    n: int,
    what: tuple[str, str],
    source: str | Path,
    store: BudgetStore | None,
    dataset: str | None,
    prior: PriorRelease | None = None,
) -> Ledger:
    """The last check before any spend (``delta < 1/n``, ``what`` naming the records as
    ``("rows", "a row")``), then the fit's ledger in the generator's composition (recording
    ``prior``'s ledger first when the fit reuses an earlier release)."""
    if delta >= 1.0 / n:
        raise InputError(
            f"{source}: --delta {delta:g} must be below 1/n = 1/{n} for {n} {what[0]} "
            f"(a delta that large allows publishing {what[1]} outright)"
        )
    return Ledger(
        epsilon,
        delta,
        store=store,
        dataset=dataset,
        composition=getattr(gen, "composition", "zcdp"),
        paid=prior.ledger if prior is not None else None,
        paid_in_store=prior is not None and store is not None and prior.store_dataset == dataset,
    )


def fit_table(
    df: pd.DataFrame,
    schema: Schema,
    *,
    generator: str,
    epsilon: float,
    delta: float,
    rng: np.random.Generator,
    params: Mapping[str, Any] | None = None,
    source: str | Path = "data",
    store: BudgetStore | None = None,
    dataset: str | None = None,
    progress: Progress | None = None,
    prior: PriorRelease | None = None,
) -> tuple[Synthesizer, EncodeReport]:
    """Fit ``generator`` on a string-valued table under an (epsilon, delta) budget.

    Every check on the input happens before any privacy cost: column match, value parsing,
    the schema's rules (compiled to structural zeros for graphical generators), budget
    validity, delta < 1/n, generator name and parameters. The ``delta < 1/n`` check reads
    the row count without noise; it only refuses (never changes a release), and we accept that
    one bit about n leaks to whoever sees the refusal (the data owner).

    ``prior``: noisy marginals released earlier on the same rows (``rules learn``) for the
    generator to build on; its cost counts against this ``epsilon`` (the total of both).
    """
    from privsynth.generators import get_generator

    validate_budget(epsilon, delta)
    gen = get_generator(generator, **dict(params or {}))
    if getattr(gen, "supports_tables", True) is False:
        raise InputError(f"{source}: generator {generator!r} fits images only")
    df = check_columns(df, schema, source)
    disc = Discretizer(schema)
    zeros = structural_zeros(schema, disc)
    table, report = disc.encode(df, source)
    extra: dict[str, Any] = {}
    if prior is not None:
        if not getattr(gen, "reuses_measurements", False):
            raise InputError(
                f"{prior.source}: generator {generator!r} cannot reuse measurements (aim, "
                "mst and the networks that buy noisy marginals can)"
            )
        prior.check(table.domain)
        extra["prior"] = prior.measurements
    if zeros and getattr(gen, "structural_zeros", False):
        extra["zeros"] = zeros
    ledger = open_fit_ledger(
        gen,
        epsilon,
        delta,
        n=table.n_rows,
        what=("rows", "a row"),
        source=source,
        store=store,
        dataset=dataset,
        prior=prior,
    )
    backend = InMemoryBackend(table, label=schema.label, numeric=numeric_attributes(schema))
    if getattr(gen, "uses_values", False):  # generators that model numbers as real values
        backend = InMemoryBackend(
            table,
            label=schema.label,
            numeric=numeric_attributes(schema),
            values=disc.numeric_values(df),
            scales=disc.numeric_scales(),
        )
    model = gen.fit(backend, ledger, rng=rng, progress=progress, **extra)
    return Synthesizer(schema, generator, gen.config(), ledger, model), report
