"""Synthetic rows that respect the schema's rules, for every model type (post-processing).

:class:`RuleChecker` evaluates rules on decoded values. :func:`sample_respecting` wraps any
sampler: by default it first rakes broken implications (:meth:`RuleChecker.rake`: the consequent
moves, its frequencies stay), redraws, inside their own bins, the numbers of rows that break a
rule only within a partial bin (so every row keeps its bins), and then rejects the rows that
still break a rule, drawing more until the request is filled. The rejection is bounded: when
the projected number of draws passes a limit it raises an :class:`InputError` with the acceptance rate, instead of
returning fewer rows. Graphical models put exact zeros on forbidden cells, so for them only
values inside partial bins are redrawn and nothing is rejected.

Rules do not apply to rows in which a column they name is missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from privsynth.errors import InputError
from privsynth.schema.columns import CategoricalColumn, DatetimeColumn, NumericColumn, Schema
from privsynth.schema.rules import Atom, Rule, datetime_seconds
from privsynth.transforms.constraints import Constraint, compile_rules
from privsynth.transforms.discretize import Discretizer

# Bounded rejection: stop once the draws needed (projected from the acceptance so far) exceed
# this many per requested row, or when nothing at all was accepted in this many draws.
MAX_DRAWS_PER_ROW = 200
_ZERO_ACCEPT = 20_000
_REDRAW_ROUNDS = 64
_MAX_BATCH = 200_000
_RAKE_PASSES = 3
STRATEGIES = ("reject", "rake")


class RuleChecker:
    """The schema's rules on value level, with their compiled code-level constraints."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.rules: tuple[Rule, ...] = schema.rules
        self.constraints: tuple[Constraint, ...] = compile_rules(schema, Discretizer(schema))

    def _column(self, df: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Values of one column (numbers as floats, datetimes in seconds) and a missing mask."""
        col = self.schema[name]
        raw = df[name]
        if isinstance(col, CategoricalColumn):
            missing = raw.isna().to_numpy() | raw.isin(self.schema.missing_values).to_numpy()
            return raw.astype(object).to_numpy(), missing
        if isinstance(col, DatetimeColumn):
            if not pd.api.types.is_datetime64_any_dtype(raw):
                raw = pd.to_datetime(
                    raw.mask(raw.isin(self.schema.missing_values)), errors="coerce", format="mixed"
                )
            seconds = (
                (raw - pd.Timestamp(0)).dt.total_seconds().to_numpy(dtype=float, na_value=np.nan)
            )
            return seconds, np.isnan(seconds)
        vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return vals, np.isnan(vals)

    def _atom(self, atom: Atom, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        x = cols[atom.column]
        if atom.op in ("in", "not in"):
            hit = np.isin(x.astype(str), np.array([str(v) for v in atom.values]))
            return hit if atom.op == "in" else ~hit
        if atom.other is not None:
            y = cols[atom.other]
        else:
            (value,) = atom.values
            if isinstance(self.schema[atom.column], DatetimeColumn):
                value = datetime_seconds(str(value))
            y = np.full(x.shape, float(value))
        xf, yf = x.astype(float), np.asarray(y, dtype=float)
        with np.errstate(invalid="ignore"):
            return {
                "==": xf == yf,
                "!=": xf != yf,
                "<": xf < yf,
                "<=": xf <= yf,
                ">": xf > yf,
                ">=": xf >= yf,
            }[atom.op]

    def violations(self, df: pd.DataFrame) -> np.ndarray:
        """An (n rows, n rules) boolean matrix: which row breaks which rule."""
        n = len(df)
        out = np.zeros((n, len(self.rules)), dtype=bool)
        names = {a for r in self.rules for a in r.attributes}
        parsed = {a: self._column(df, a) for a in names}
        cols = {a: v for a, (v, _) in parsed.items()}
        for j, rule in enumerate(self.rules):
            missing = np.zeros(n, dtype=bool)
            for a in rule.attributes:
                missing |= parsed[a][1]
            if rule.kind == "combinations":
                ok = np.zeros(n, dtype=bool)
                for combo in rule.combos:
                    hit = np.ones(n, dtype=bool)
                    for col, v in zip(rule.columns, combo, strict=True):
                        op = "in" if isinstance(v, str) else "=="
                        hit &= self._atom(Atom(col, op, (v,)), cols)
                    ok |= hit
                bad = ~ok
            else:
                bad = np.ones(n, dtype=bool)
                for atom in rule.when:
                    bad &= self._atom(atom, cols)
                if rule.kind == "implication":
                    holds = np.ones(n, dtype=bool)
                    for atom in rule.then:
                        holds &= self._atom(atom, cols)
                    bad &= ~holds
            out[:, j] = bad & ~missing
        return out

    def rake(self, df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Move the consequent of broken implications, keeping its one-way frequencies.

        For each implication ``when -> column in S`` on a categorical column (not named in
        ``when``), and each forbidden combination read as ``other conditions -> last column not
        in its forbidden values``: every row that breaks it takes a value of ``S`` drawn from
        the rows that have one, and as many rows that the rule does not constrain (``when``
        false), that hold a value of ``S`` and that break no new rule with the new value take the
        removed values instead. The column's frequencies stay as drawn and the rule's columns
        keep their joint frequencies outside the broken cells: what a generator that learned the column's frequencies but not its
        dependence on ``when`` should have produced (for a "never positive for men" rule, the
        women inherit the positives). Rows still breaking a rule afterwards are rejected as
        usual.
        """
        df = df.copy()
        # Passes: a later rule's move can break an earlier one (raking sex for one rule may
        # turn a positive woman into a positive man); what is left after them is rejected.
        for _ in range(_RAKE_PASSES):
            moved = [self._rake_rule(df, rule, rng) for rule in self.rules]
            if not any(moved):
                break
        return df

    def _rake_rule(self, df: pd.DataFrame, rule: Rule, rng: np.random.Generator) -> bool:
        """Rake ``df`` in place for one rule; whether any row broke it."""
        if rule.kind == "implication" and len(rule.then) == 1 and rule.when:
            when, atom, negate = rule.when, rule.then[0], False
        elif rule.kind == "forbid" and len(rule.when) >= 2:
            when, atom, negate = rule.when[:-1], rule.when[-1], True
        else:
            return False
        name = atom.column
        if (
            not isinstance(self.schema[name], CategoricalColumn)
            or atom.op not in ("in", "not in")
            or name in {c for a in when for c in a.columns}
        ):
            return False
        parsed = {a: self._column(df, a) for a in rule.attributes}
        cols = {a: v for a, (v, _) in parsed.items()}
        present = ~np.logical_or.reduce([parsed[a][1] for a in rule.attributes])
        applies = np.logical_and.reduce([self._atom(w, cols) for w in when]) & present
        holds = self._atom(atom, cols) != negate
        bad = np.flatnonzero(applies & ~holds)
        pool = np.flatnonzero(holds & present)
        free = np.flatnonzero(~applies & holds & present)
        if not len(bad) or not len(pool):
            return False
        values = df[name].to_numpy(dtype=object, copy=True)
        removed = values[bad]
        values[bad] = values[rng.choice(pool, size=len(bad))]
        free = rng.permutation(free)
        # A row already breaking another rule may still take a value (that rule is raked or
        # rejected on its own); it may not break a rule it did not break before.
        before = self.violations(df.iloc[free])
        for value in pd.unique(removed):
            # So one rule's move does not break another (what cannot be placed is lost, as
            # under rejection).
            trial = df.iloc[free].copy()
            trial[name] = pd.Series([value] * len(free), index=trial.index, dtype=object)
            fits = np.flatnonzero(~(self.violations(trial) & ~before).any(axis=1))
            take = fits[: int(np.sum(removed == value))]
            values[free[take]] = value
            keep = np.ones(len(free), dtype=bool)
            keep[take] = False
            free, before = free[keep], before[keep]
        df[name] = pd.Series(values, index=df.index, dtype=df[name].dtype)
        return True

    def repair(self, df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Redraw, inside their current bins, the numbers of rows that break a rule with a
        numeric column, until the rules hold or the rounds run out (rows keep their bins)."""
        numeric = [
            [a for a in r.attributes if not isinstance(self.schema[a], CategoricalColumn)]
            for r in self.rules
        ]
        if not any(numeric):
            return df
        df = df.copy()
        for _ in range(_REDRAW_ROUNDS):
            bad = self.violations(df)
            redraw: dict[str, np.ndarray] = {}
            for j, cols in enumerate(numeric):
                for a in cols:
                    redraw[a] = redraw.get(a, np.zeros(len(df), dtype=bool)) | bad[:, j]
            if not any(m.any() for m in redraw.values()):
                break
            for a, rows in redraw.items():
                if rows.any():
                    self._redraw(df, a, np.flatnonzero(rows), rng)
        return df

    def _redraw(
        self, df: pd.DataFrame, name: str, rows: np.ndarray, rng: np.random.Generator
    ) -> None:
        col = self.schema[name]
        num = col.numeric() if isinstance(col, DatetimeColumn) else col
        assert isinstance(num, NumericColumn)
        values, _ = self._column(df.iloc[rows], name)
        edges = num.bin_edges()
        bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
        new = draw_in_bins(num, bins, rng)
        series = df[name].copy()
        if isinstance(col, DatetimeColumn):
            series.iloc[rows] = pd.to_datetime(new, unit="s")
        else:
            series.iloc[rows] = new
        df[name] = series


def draw_in_bins(num: NumericColumn, bins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Values drawn uniformly inside ``bins`` as the decoder draws them (integers for integer
    columns)."""
    edges = num.bin_edges()
    lo, hi = edges[bins], edges[bins + 1]
    if num.kind == "integer":
        lo_i = np.maximum(np.ceil(lo), num.lower)
        hi_i = np.minimum(np.where(hi == edges[-1], np.floor(hi), np.ceil(hi) - 1), num.upper)
        hi_i = np.maximum(hi_i, lo_i)
        return rng.integers(lo_i.astype(np.int64), hi_i.astype(np.int64) + 1)
    return np.clip(lo + (hi - lo) * rng.random(len(bins)), num.lower, num.upper)


def check_strategy(strategy: str) -> None:
    """InputError unless ``strategy`` is one of :data:`STRATEGIES`."""
    if strategy not in STRATEGIES:
        raise InputError(
            f"--rule-strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}"
        )


def sample_respecting(
    draw: Callable[[int], pd.DataFrame],
    n: int,
    checker: RuleChecker,
    rng: np.random.Generator,
    *,
    strategy: str = "rake",
) -> pd.DataFrame:
    """``n`` decoded rows from ``draw`` that respect every rule (bounded rejection).

    ``strategy="rake"`` (the default) first moves the consequent of broken implications
    (:meth:`RuleChecker.rake`); what still breaks a rule is rejected either way. Graphical
    models draw no broken categorical rule (structural zeros), so for them both are the same.
    """
    check_strategy(strategy)
    parts: list[pd.DataFrame] = []
    have = drawn = 0
    rejected = np.zeros(len(checker.rules), dtype=np.int64)
    while have < n:
        projected = drawn * n / have if have else math.inf
        hopeless = projected > MAX_DRAWS_PER_ROW * n and (have or drawn >= _ZERO_ACCEPT)
        if drawn >= MAX_DRAWS_PER_ROW * n or hopeless:
            worst = checker.rules[int(np.argmax(rejected))].text()
            raise InputError(
                f"rules: {have} of {n} rows respect the schema's rules after {drawn} draws "
                f"(acceptance rate {have / max(drawn, 1):.3%}, most rejected by {worst!r}); "
                f"filling the request would take more than {MAX_DRAWS_PER_ROW} draws per row"
            )
        need = n - have
        m = need if not drawn else math.ceil(need * min(projected / n, MAX_DRAWS_PER_ROW) * 1.2)
        m = min(max(m, need, 64 if drawn else need), _MAX_BATCH)
        batch = draw(m)
        if strategy == "rake":
            batch = checker.rake(batch, rng)
        batch = checker.repair(batch, rng)
        bad = checker.violations(batch)
        keep = ~bad.any(axis=1)
        rejected += bad.sum(axis=0)
        drawn += m
        if keep.any():
            parts.append(batch[keep])
            have += int(keep.sum())
    return pd.concat(parts, ignore_index=True).iloc[:n].reset_index(drop=True)
