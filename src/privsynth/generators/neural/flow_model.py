"""The DP release of ``dpflow``: a :class:`TableFlow` network plus the public layout it decodes by.

Categorical variables (categorical columns, numeric columns known only as bin codes, a
missing indicator per nullable real-valued column, an atom variable per integer column with
single-value bins) come from the autoregressive factor, the
label first; the real-valued numeric columns from the flow conditioned on them, through the
DP location and scale back to the column's units, clipped to its declared bounds (integers
rounded), and coded into the schema's bins. Everything here is post-processing; the model file
holds network weights and DP statistics only (no training row, no pickle).

``where`` on the label (the first variable) is exact; on other attributes it is bounded
rejection sampling, with the bound of :mod:`privsynth.generators.neural.model`, and reports
the acceptance rate when it cannot fill the request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any, ClassVar

import numpy as np
import torch
from torch.nn import functional as F

from privsynth.domain import Domain
from privsynth.errors import InputError
from privsynth.generators.neural import model as _neural
from privsynth.generators.neural.calibrate import Calibration
from privsynth.generators.neural.flow_atoms import atom_values
from privsynth.generators.neural.flow_nets import TableFlow
from privsynth.generators.neural.model import from_arrays, to_arrays
from privsynth.marginals.counting import NumericScale
from privsynth.measure.dpsgd import torch_generator

Variable = tuple[str, str, int]  # (attribute, "code", "missing" or "atom", number of values)
Rows = tuple[dict[str, np.ndarray], dict[str, np.ndarray]]
_BATCH = 8192
_Z_LIMIT = 1e8  # base draws beyond this are clipped (values are clipped to bounds anyway)
# Tail sampling: model draws that fix the threshold, and the most draws spent on one request.
_THRESHOLD_DRAWS = 200_000
_TAIL_MAX_DRAWS = 20_000_000
_ATOM_REDRAWS = 20  # redraws of flow numbers that land on an atom (see _flow_values)


class FlowModel:
    """Sampler over a table domain with real values for the numeric columns it models."""

    model_type: ClassVar[str] = "flow"

    def __init__(
        self,
        domain: Domain,
        *,
        variables: Sequence[Variable],
        valued: Sequence[str],
        scales: Mapping[str, NumericScale],
        spec: Mapping[str, Any],
        net: TableFlow,
        loc: np.ndarray,
        scale: np.ndarray,
        total: float,
        calibration: Calibration | None = None,
    ) -> None:
        self.domain = domain
        self.variables = [tuple(v) for v in variables]
        self.valued = tuple(valued)
        self.scales = {a: scales[a] for a in self.valued}
        self.spec = dict(spec)
        self.net = net.eval()
        self.loc = np.asarray(loc, dtype=float)
        self.scale = np.asarray(scale, dtype=float)
        self.total = float(total)
        self.calibration = calibration

    @property
    def label(self) -> str | None:
        """The first categorical variable: ``where`` on it is exact."""
        return self.variables[0][0] if self.variables and self.variables[0][1] == "code" else None

    def estimated_total(self) -> float:
        """Noisy estimate of the number of training rows."""
        return self.total

    def degrees_of_freedom(self) -> np.ndarray | None:
        """The Student-t base's degrees of freedom per real-valued column (None: Gaussian)."""
        flow = self.net.flow
        if flow is None or flow.base != "student_t":
            return None
        return flow.df().detach().numpy().astype(float)

    # -- generation -------------------------------------------------------------------

    def _categoricals(
        self, m: int, gen: torch.Generator, allowed: np.ndarray | None
    ) -> torch.Tensor:
        """``m`` one-hot rows from the autoregressive factor (first variable in ``allowed``)."""
        made = self.net.made
        x = torch.zeros(m, made.width)
        for k, (a, b) in enumerate(made.blocks()):
            logits = made.net(x)[:, a:b]
            if k == 0 and allowed is not None:
                logits = logits.masked_fill(~torch.from_numpy(allowed), -math.inf)
            u = torch.rand(logits.shape, generator=gen).clamp_(1e-12, 1 - 1e-12)
            pick = (logits - torch.log(-torch.log(u))).argmax(dim=1)
            x[:, a:b] = F.one_hot(pick, b - a).float()
        return x

    def _base(self, m: int, rng: np.random.Generator) -> np.ndarray:
        d = len(self.valued)
        df = self.degrees_of_freedom()
        z = rng.standard_normal((m, d)) if df is None else rng.standard_t(df, size=(m, d))
        return np.clip(z, -_Z_LIMIT, _Z_LIMIT)

    def _draw(self, m: int, rng: np.random.Generator, allowed: np.ndarray | None) -> Rows:
        """``m`` rows: codes of every attribute, real values of the valued columns."""
        gen = torch_generator(rng)
        codes: dict[str, np.ndarray] = {}
        values: dict[str, np.ndarray] = {}
        with torch.no_grad():
            onehot = self._categoricals(m, gen, allowed) if self.net.made is not None else None
            missing: dict[str, np.ndarray] = {}
            atoms: dict[str, np.ndarray] = {}
            if onehot is not None:
                for (attr, kind, _), (a, b) in zip(
                    self.variables, self.net.made.blocks(), strict=True
                ):
                    picked = onehot[:, a:b].argmax(dim=1).numpy().astype(np.int64)
                    if kind == "code":
                        codes[attr] = picked
                    elif kind == "atom":
                        atoms[attr] = picked
                    else:
                        missing[attr] = picked == 1
            if self.valued:
                flow = self._flow_values(m, onehot, atoms, rng)
                for j, attr in enumerate(self.valued):
                    s, v = self.scales[attr], flow[:, j]
                    if attr in atoms:
                        at = np.concatenate([[np.nan], atom_values(s)])[atoms[attr]]
                        v = np.where(atoms[attr] > 0, at, v)
                    if attr in missing:
                        v = np.where(missing[attr], np.nan, v)
                    values[attr] = v
                    codes[attr] = s.codes(v)
        return {a: codes[a] for a in self.domain.attributes}, values

    def _kept(self, codes: Mapping[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """Which drawn rows calibrated sampling keeps (all of them without a calibration)."""
        m = len(next(iter(codes.values())))
        if self.calibration is None:
            return np.ones(m, dtype=bool)
        return rng.random(m) < self.calibration.keep_probability(codes, None)

    def _to_units(self, x: np.ndarray) -> np.ndarray:
        """Flow outputs (standardised) to column units: clipped to bounds, integers rounded."""
        out = np.empty_like(x)
        for j, attr in enumerate(self.valued):
            s = self.scales[attr]
            v = np.clip(np.nan_to_num(x[:, j] * self.scale[j] + self.loc[j]), s.lower, s.upper)
            if s.integer:
                v = np.clip(np.rint(v), math.ceil(s.lower), math.floor(s.upper))
            out[:, j] = v
        return out

    def _flow_values(
        self,
        m: int,
        onehot: torch.Tensor | None,
        atoms: Mapping[str, np.ndarray],
        rng: np.random.Generator,
    ) -> np.ndarray:
        """``m`` rows of the flow's numbers given the categoricals, in column units.

        The flow was fitted to the values off the atoms only, so a row whose atom variable says
        "not an atom" but whose number lands on an atom is redrawn (rejection from the flow
        restricted to the region it models), at most ``_ATOM_REDRAWS`` times."""
        z = torch.from_numpy(self._base(m, rng).astype(np.float32))
        v = self._to_units(self.net.flow.generate(z, onehot).double().numpy())
        on_atom = {
            j: np.isin(v[:, j], atom_values(self.scales[a]))
            for j, a in enumerate(self.valued)
            if a in atoms
        }
        for _ in range(_ATOM_REDRAWS):
            bad = np.zeros(m, dtype=bool)
            for j, hit in on_atom.items():
                bad |= hit & (atoms[self.valued[j]] == 0)
            if not bad.any():
                break
            idx = np.flatnonzero(bad)
            z = torch.from_numpy(self._base(len(idx), rng).astype(np.float32))
            ctx = None if onehot is None else onehot[torch.from_numpy(idx)]
            v[idx] = self._to_units(self.net.flow.generate(z, ctx).double().numpy())
            for j in on_atom:
                on_atom[j][idx] = np.isin(v[idx, j], atom_values(self.scales[self.valued[j]]))
        return v

    def _fill(
        self,
        n: int,
        rng: np.random.Generator,
        where: Mapping[str, Sequence[int]] | None,
        keep: Callable[[Rows], np.ndarray] | None = None,
        max_draws: int | None = None,
    ) -> Rows:
        """Bounded rejection sampling of ``n`` rows meeting ``where`` (and ``keep``)."""
        if not isinstance(n, int | np.integer) or n < 1:
            raise InputError(f"number of rows must be a positive integer, got {n!r}")
        where = {k: np.asarray(list(v), dtype=np.int64) for k, v in (where or {}).items()}
        for attr in where:
            if attr not in self.domain.attributes:
                raise InputError(f"where: unknown column {attr!r}")
        allowed = None
        if self.label is not None and self.label in where:
            allowed = np.zeros(self.domain[self.label], dtype=bool)
            allowed[where[self.label]] = True
            if not allowed.any():
                raise InputError(f"where: no value of {self.label!r} allowed")
        rest = {k: v for k, v in where.items() if k != self.label}
        limit = _neural._MAX_DRAW_FACTOR * n if max_draws is None else max_draws
        parts: list[Rows] = []
        have = drawn = 0
        while have < n:
            projected = (
                drawn * n / have if have else (drawn if drawn >= _neural._ZERO_ACCEPT else 0)
            )
            if drawn >= limit or projected > limit:
                rate = have / max(drawn, 1)
                raise InputError(
                    f"where {sorted(rest)}{' and the tail region' if keep else ''}: {have} of "
                    f"{n} rows after {drawn} draws (acceptance rate {rate:.3%}); filling the "
                    f"request would take more than {limit} draws, so the model gives this "
                    "condition too little probability"
                )
            m = min(max(n - have, 256) * (1 if not (rest or keep) else 4), 200_000)
            codes, values = self._draw(m, rng, allowed)
            ok = self._kept(codes, rng)
            for attr, vals in rest.items():
                ok &= np.isin(codes[attr], vals)
            if keep is not None:
                ok &= keep((codes, values))
            drawn += m
            if ok.any():
                parts.append(
                    ({a: c[ok] for a, c in codes.items()}, {a: v[ok] for a, v in values.items()})
                )
                have += int(ok.sum())
        codes = {a: np.concatenate([p[0][a] for p in parts])[:n] for a in self.domain.attributes}
        values = {a: np.concatenate([p[1][a] for p in parts])[:n] for a in self.valued}
        return codes, values

    def sample(
        self,
        n: int,
        *,
        rng: np.random.Generator,
        where: Mapping[str, Sequence[int]] | None = None,
    ) -> dict[str, np.ndarray]:
        """``n`` rows of codes; ``where`` exact on the label, by bounded rejection elsewhere."""
        return self._fill(n, rng, where)[0]

    def sample_values(
        self,
        n: int,
        *,
        rng: np.random.Generator,
        where: Mapping[str, Sequence[int]] | None = None,
    ) -> Rows:
        """Like :meth:`sample`, plus the real values of the numeric columns the flow models
        (NaN where missing); their codes are those values' bins."""
        return self._fill(n, rng, where)

    def tail_threshold(self, column: str, q: float, rng: np.random.Generator) -> float:
        """The model's own upper ``q``-quantile of ``column`` (Monte Carlo over its draws, those
        that calibrated sampling keeps)."""
        if column not in self.valued:
            raise InputError(
                f"tail: column {column!r} is not a numeric column with real values in this "
                f"model (those are: {', '.join(self.valued) or 'none'})"
            )
        if not (isinstance(q, int | float) and 1e-4 <= q <= 0.5):
            raise InputError(f"tail: q must lie in [1e-4, 0.5], got {q!r}")
        parts = []
        for _ in range(_THRESHOLD_DRAWS // _BATCH):
            codes, values = self._draw(_BATCH, rng, None)
            parts.append(values[column][self._kept(codes, rng)])
        vals = np.concatenate(parts)
        vals = vals[~np.isnan(vals)]
        if not len(vals):
            raise InputError(f"tail: the model draws no present value of {column!r}")
        return float(np.quantile(vals, 1.0 - q))

    def sample_tail(
        self,
        column: str,
        q: float,
        n: int,
        *,
        rng: np.random.Generator,
        where: Mapping[str, Sequence[int]] | None = None,
        threshold: float | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], float]:
        """``n`` rows from the model's top ``q`` of ``column``: codes, real values, threshold.

        Method: the threshold is the model's own upper ``q``-quantile of ``column``, from
        200 000 of its draws (never the private data), or ``threshold`` when given (a region
        already fixed by an earlier call: a Monte Carlo quantile moves between calls, and rows
        drawn in batches must share one region); then rows are drawn from the model and
        kept when ``column >= threshold`` (and ``where`` holds), so they follow the model's
        distribution restricted to that region exactly. The acceptance rate is about ``q``; at
        most max(1000 n, 20 n / q) draws and never more than 2e7 are spent, beyond which an
        InputError says so.
        """
        if threshold is None:
            threshold = self.tail_threshold(column, q, rng)
        elif not math.isfinite(threshold):
            raise InputError(f"tail: the threshold must be a finite number, got {threshold!r}")

        def keep(rows: Rows) -> np.ndarray:
            v = rows[1][column]
            return ~np.isnan(v) & (v >= threshold)

        limit = min(max(_neural._MAX_DRAW_FACTOR * n, math.ceil(20 * n / q)), _TAIL_MAX_DRAWS)
        codes, values = self._fill(n, rng, where, keep=keep, max_draws=limit)
        return codes, values, threshold

    # -- persistence ------------------------------------------------------------------

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON metadata (public layout) and arrays (weights, DP location and scale)."""
        arrays = {"loc": self.loc, "scale": self.scale, **to_arrays("net", self.net)}
        meta = {
            "model_type": self.model_type,
            "domain": self.domain.to_state(),
            "variables": [list(v) for v in self.variables],
            "valued": list(self.valued),
            "scales": {a: {**asdict(s), "edges": list(s.edges)} for a, s in self.scales.items()},
            "spec": self.spec,
            "total": self.total,
        }
        if self.calibration is not None:
            meta["calibration"], extra = self.calibration.to_state()
            arrays.update(extra)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> FlowModel:
        """Inverse of :meth:`to_state`."""
        domain = Domain.from_state(meta["domain"])
        scales = {
            a: NumericScale(**{**s, "edges": tuple(s["edges"])}) for a, s in meta["scales"].items()
        }
        variables = [tuple(v) for v in meta["variables"]]
        net = build_net(
            variables, meta["valued"], scales, meta["spec"], np.ones(len(meta["valued"]))
        )
        from_arrays("net", net, arrays)
        calibration = None
        if meta.get("calibration") is not None:
            calibration = Calibration.from_state(meta["calibration"], arrays)
            calibration.check_sizes(domain.to_dict())
        return cls(
            domain,
            variables=variables,
            valued=meta["valued"],
            scales=scales,
            spec=meta["spec"],
            net=net,
            loc=arrays["loc"],
            scale=arrays["scale"],
            total=meta["total"],
            calibration=calibration,
        )


def build_net(
    variables: Sequence[Variable],
    valued: Sequence[str],
    scales: Mapping[str, NumericScale],
    spec: Mapping[str, Any],
    scale: np.ndarray,
    df: Sequence[float] | None = None,
) -> TableFlow:
    """A :class:`TableFlow` for this layout and ``spec`` (public), dequantising integer
    columns by one unit in standardised scale (``scale``: the DP scale of each column)."""
    dequant = [
        1.0 / float(s) if scales[a].integer else 0.0 for a, s in zip(valued, scale, strict=True)
    ]
    return TableFlow(
        [v[2] for v in variables],
        len(valued),
        made_hidden=spec["made_hidden"],
        layers=spec["layers"],
        hidden=spec["hidden"],
        bound=spec["scale_bound"],
        base=spec["base"],
        df=df,
        learn_df=spec["learn_df"],
        dequant=dequant,
    )


__all__ = ["FlowModel", "build_net"]
