"""DP-Flow: a normalizing flow for mixed tables, trained end to end by DP-SGD, on a
heavy-tailed (Student-t) or a Gaussian base.

Model (see :mod:`~privsynth.generators.neural.flow_nets`): ``p(row) = p(categoricals) *
p(numbers | categoricals)``. The categorical factor is an autoregressive MADE over the
categorical columns (label first, so ``where`` on it is exact), the numeric columns the backend
holds only as bins, one missing indicator per nullable real-valued column and one atom
variable per integer column whose schema bins single out values (a spike such as
capital-gain's zeros: :mod:`~privsynth.generators.neural.flow_atoms`). The numbers
go through an affine-coupling flow as *real values* (clipped to the schema's bounds,
standardised by a DP location and scale; integers dequantised by uniform noise of one unit and
rounded back), conditioned on the one-hot categoricals. A missing number, or one sitting on an
atom, is replaced in training by a standard normal draw (the indicator says so; sampling
overrides it).

Privacy, all in one ledger, the split fixed before any read:

1. ``count_share`` of the budget (zCDP): the noisy row count;
2. ``stats_share``: noisy one-way marginals of every column (discrete Gaussian, sensitivity
   1 each) on the public bins: they start the categorical factor at the noisy frequencies and
   give each real-valued column its location, scale and (``df="estimate"``) its tail index,
   by :mod:`~privsynth.generators.neural.flow_stats`;
3. the rest: one DP-SGD run (:func:`~privsynth.measure.dpsgd.open_dpsgd`) of a fixed number of
   steps (:func:`~privsynth.generators.neural.common.schedule`) over the whole network, the
   base's degrees of freedom included when ``learn_df`` (covered by the same guarantee). No
   early stopping, no checkpoint choice; progress reports the likelihood of the model's own
   samples only.

Calibrated sampling (``calibrate``, default on): at the end of the fit, a pilot of the
model's own draws gives its frequency of every value and bin, and drawn rows are kept with a
probability that moves them toward the noisy one-way marginals of step 2 wherever the two
differ by more than that measurement's noise (:mod:`~privsynth.generators.neural.calibrate`).
Post-processing: no budget, no read. It puts mass back into the tail bins where DP-SGD left
the flow's tail too light or too heavy, and keeps the flow's own shape inside each bin.

Degrees of freedom: ``df="estimate"`` (default) takes the DP tail index of step 2 per column,
a number declares it for every column; either is kept fixed (default) or, with
``learn_df``, trained further by DP-SGD. Fixed is the default because the likelihood's gradient
in the degrees of freedom is small next to the DP noise, and Adam turns a noise-dominated
gradient into a random walk of about ``lr`` per step: on bank_marketing's balance at
epsilon 10 the trained df drifted from the DP estimate 1.89 to 1.07 and the 99.9 % quantile
error rose from 0.47 to 2.31 of the column's upper spread (measured once, seed 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from privsynth.errors import InputError
from privsynth.generators.base import Progress
from privsynth.generators.neural.calibrate import PILOT_CHUNK, PILOT_ROWS, Calibration
from privsynth.generators.neural.common import EpochReporter, schedule, seeded, threads
from privsynth.generators.neural.flow_atoms import (
    atom_bins,
    atom_counts,
    atom_states,
    atom_values,
    without_atoms,
)
from privsynth.generators.neural.flow_model import FlowModel, Variable, build_net
from privsynth.generators.neural.flow_nets import BASES
from privsynth.generators.neural.flow_stats import DF_MAX, location_scale, tail_index
from privsynth.marginals.images import ImageBackend
from privsynth.measure.dpsgd import open_dpsgd, torch_generator
from privsynth.measure.marginals import Measurement, measure_marginals
from privsynth.measure.rows import code_tensors, combine, noisy_counts, value_tensors
from privsynth.privacy.ledger import Ledger

_REPORT_ROWS = 256
_DEFAULT_DF = 10.0  # when the noisy tail has too few usable points


@dataclass(frozen=True)
class DPFlow:
    """Normalizing flow for tables trained by DP-SGD (hyperparameters only)."""

    name: ClassVar[str] = "dpflow"
    composition: ClassVar[str] = "rdp"
    uses_values: ClassVar[bool] = True  # fit_table hands it the parsed numbers
    reuses_measurements: ClassVar[bool] = True  # one-way marginals of an earlier release

    base: str = "student_t"
    df: float | str = "estimate"
    learn_df: bool = False
    epochs: float = 10.0
    batch_size: int = 256
    layers: int = 4
    hidden: tuple[int, ...] = (64, 64)
    made_hidden: tuple[int, ...] = (128,)
    scale_bound: float = 3.0
    lr: float = 2e-3
    # Per-example gradients of a flow's likelihood vary by orders of magnitude (a funnel's
    # neck, a spike of zeros); clipping at 1 biases the fit towards the flat regions, and Adam
    # is invariant to the overall scale, so a larger bound costs little signal-to-noise.
    max_grad_norm: float = 10.0
    count_share: float = 0.01
    # A fifth, not the twentieth it was: the one-way marginals carry the tail index and the
    # calibration, and at epsilon 1 on Adult a twentieth left every tail bin under the noise
    # (sd 113 per count; the index fell back to its default on every column). Set on public
    # benchmark data, the same for every table (bench/results/tails.md).
    stats_share: float = 0.2
    secure: bool = False
    threads: int | None = None
    calibrate: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "made_hidden", tuple(int(h) for h in self.made_hidden))
        problems = []
        if self.base not in BASES:
            problems.append(f"base must be one of {BASES}, got {self.base!r}")
        if self.df != "estimate" and not (
            isinstance(self.df, int | float) and not isinstance(self.df, bool) and self.df > 0.5
        ):
            problems.append(f"df must be 'estimate' or a number > 0.5, got {self.df!r}")
        if not (
            isinstance(self.epochs, int | float) and math.isfinite(self.epochs) and self.epochs > 0
        ):
            problems.append(f"epochs must be > 0, got {self.epochs!r}")
        if (
            isinstance(self.batch_size, bool)
            or not isinstance(self.batch_size, int)
            or self.batch_size < 1
        ):
            problems.append(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        if not isinstance(self.layers, int) or self.layers < 1:
            problems.append(f"layers must be an integer >= 1, got {self.layers!r}")
        for key in ("scale_bound", "lr", "max_grad_norm"):
            if not getattr(self, key) > 0:
                problems.append(f"{key} must be > 0, got {getattr(self, key)!r}")
        if not (
            self.count_share > 0
            and self.stats_share > 0
            and self.count_share + self.stats_share < 1
        ):
            problems.append("count_share and stats_share must be > 0 and sum to less than 1")
        if problems:
            raise ValueError("; ".join(problems))

    def config(self) -> dict[str, Any]:
        """JSON-able hyperparameters."""
        out = asdict(self)
        out["hidden"], out["made_hidden"] = list(self.hidden), list(self.made_hidden)
        return out

    def _spec(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "learn_df": self.learn_df,
            "layers": self.layers,
            "hidden": list(self.hidden),
            "made_hidden": list(self.made_hidden),
            "scale_bound": self.scale_bound,
        }

    def fit(
        self,
        backend,  # noqa: ANN001
        ledger: Ledger,
        *,
        rng: np.random.Generator,
        progress: Progress | None = None,
        prior: Sequence[Measurement] = (),
    ) -> FlowModel:
        """Pay for the counts and the one-way marginals, then train; every private read is
        charged before it. ``prior``: noisy marginals already paid for (the ledger records
        them); a one-way one is combined with the fit's own (inverse variance)."""
        if isinstance(backend, ImageBackend):
            raise InputError("dpflow models tables, not images")
        with threads(self.threads):
            return self._fit(backend, ledger, rng, progress, prior)

    def _layout(self, backend) -> tuple[list[Variable], list[str]]:  # noqa: ANN001
        """Categorical variables (label first) and real-valued columns, from public metadata."""
        valued = list(getattr(backend, "valued", ()))
        scales = getattr(backend, "scales", {})
        variables: list[Variable] = []
        for a in backend.domain.attributes:
            if a not in valued:
                variables.append((a, "code", backend.domain[a]))
            else:
                if scales[a].nullable:
                    variables.append((a, "missing", 2))
                if atom_bins(scales[a]):
                    variables.append((a, "atom", 1 + len(atom_bins(scales[a]))))
        label = backend.label
        variables.sort(key=lambda v: v[0] != label or v[1] != "code")  # stable: label first
        return variables, valued

    def _fit(self, backend, ledger, rng, progress, prior=()) -> FlowModel:  # noqa: ANN001
        variables, valued = self._layout(backend)
        rho = ledger.rho_budget
        counts = noisy_counts(
            backend,
            ledger,
            rng,
            label=None,
            rho=self.count_share * rho,
            what=self.name,
            secure=self.secure,
        )
        attrs = list(backend.domain.attributes)
        sigma = math.sqrt(len(attrs) / (2.0 * self.stats_share * rho))
        measured = measure_marginals(
            backend,
            [(a,) for a in attrs],
            sigma,
            ledger,
            rng,
            label=f"{self.name}: noisy one-way marginals",
            secure=self.secure,
        )
        known = {m.clique: m for m in prior if len(m.clique) == 1}
        measured = [combine(m, known[m.clique]) if m.clique in known else m for m in measured]
        hist = {a: np.asarray(m.noisy, dtype=float) for a, m in zip(attrs, measured, strict=True)}
        sigmas = {a: m.sigma for a, m in zip(attrs, measured, strict=True)}
        loc, scale, df = self._numeric_stats(backend, valued, hist, sigmas)
        with seeded(rng):
            net = build_net(variables, valued, backend.scales, self._spec(), scale, df)
        self._init_categoricals(net, variables, hist, backend.scales)

        data: list[torch.Tensor] = []
        if variables:
            codes = code_tensors(backend, [v[0] for v in variables])
            data.append(_one_hot(codes, variables, backend.scales))
        if valued:
            x, present = value_tensors(backend, valued, loc, scale)
            for k, (attr, kind, _) in enumerate(variables):
                if kind == "atom":
                    on_atom = atom_states(codes[:, k].numpy(), backend.scales[attr]) > 0
                    present[torch.from_numpy(on_atom), valued.index(attr)] = 0.0
            data.extend((x, present))
        q, steps = schedule(self.batch_size, self.epochs, counts.rows)
        engine = open_dpsgd(
            ledger,
            data,
            label=f"{self.name}: flow and categorical factor on real rows ({steps} DP-SGD steps)",
            sample_rate=q,
            steps=steps,
            max_grad_norm=self.max_grad_norm,
            expected_batch=q * counts.rows,
            rng=rng,
            secure=self.secure,
        )
        model = FlowModel(
            backend.domain,
            variables=variables,
            valued=valued,
            scales=backend.scales,
            spec=self._spec(),
            net=net,
            loc=loc,
            scale=scale,
            total=counts.total,
        )
        self._train(model, engine, ledger, rng, progress)
        model.net.eval()
        if self.calibrate:
            model.calibration = _calibration(model, hist, sigmas, rng)
        return model

    def _numeric_stats(
        self,
        backend,
        valued: list[str],
        hist: dict[str, np.ndarray],
        sigmas: dict[str, float],  # noqa: ANN001
    ) -> tuple[np.ndarray, np.ndarray, list[float] | None]:
        """DP location, scale and degrees of freedom of each real-valued column."""
        loc, scale, df = [], [], []
        for a in valued:
            s = backend.scales[a]
            counts = without_atoms(hist[a], s)  # what the flow fits: no missing code, no atom
            edges = np.asarray(s.edges)
            centre = location_scale(edges, counts, s.lower, s.upper)[0]
            est = tail_index(edges, counts, sigmas[a], centre)
            declared = self.df if self.df != "estimate" else None
            nu = min(float(declared) if declared is not None else (est or _DEFAULT_DF), DF_MAX)
            base_df = None if self.base == "gaussian" else nu
            m, sc = location_scale(edges, counts, s.lower, s.upper, base_df)
            loc.append(m)
            scale.append(sc)
            df.append(nu)
        if self.base == "gaussian":
            return np.array(loc), np.array(scale), None
        return np.array(loc), np.array(scale), df

    @staticmethod
    def _init_categoricals(
        net, variables: list[Variable], hist: dict[str, np.ndarray], scales
    ) -> None:  # noqa: ANN001
        """Start the categorical factor's output biases at the noisy one-way log-frequencies."""
        if net.made is None:
            return
        bias = net.made.net[-1].bias
        with torch.no_grad():
            for (attr, kind, _), (a, b) in zip(variables, net.made.blocks(), strict=True):
                h = np.clip(hist[attr], 0, None)
                if kind == "missing":
                    h = np.array([h[:-1].sum(), h[-1]])
                elif kind == "atom":
                    h = atom_counts(hist[attr], scales[attr])
                p = (h + 1.0) / (h + 1.0).sum()
                bias[a:b] = torch.as_tensor(np.log(p), dtype=bias.dtype)

    def _train(self, model: FlowModel, engine, ledger, rng, progress) -> None:  # noqa: ANN001
        net = model.net.train()
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        d = len(model.valued)
        report_rng = np.random.default_rng(int(rng.integers(0, 2**62)))
        per_epoch = math.ceil(engine.steps / self.epochs)
        reporter = EpochReporter(progress, ledger, ledger.events[-1], per_epoch, self.name)

        def noise(b: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
            if not d:
                return ()
            return torch.randn(b, d, generator=gen), torch.rand(b, d, generator=gen)

        def loss(forward, *tensors):  # noqa: ANN001, ANN202
            return forward(*tensors)

        def public() -> dict[str, float]:
            return {"nll of generated rows": _generated_nll(model, report_rng)}

        for step in range(1, engine.steps + 1):
            opt.zero_grad(set_to_none=True)
            engine.step(net, loss, extra=noise if d else None)
            opt.step()
            reporter(step, public)


def _calibration(
    model: FlowModel,
    hist: dict[str, np.ndarray],
    sigmas: dict[str, float],
    rng: np.random.Generator,
) -> Calibration:
    """Calibrated sampling toward the fit's noisy one-way marginals (every column, numbers on
    their public bins), fitted on a pilot of the model's own draws: post-processing."""
    parts = [
        model._draw(min(PILOT_CHUNK, PILOT_ROWS - i), rng, None)[0]
        for i in range(0, PILOT_ROWS, PILOT_CHUNK)
    ]
    codes = {a: np.concatenate([p[a] for p in parts]) for a in model.domain.attributes}
    return Calibration.fit_one_way(hist, sigmas, codes, model.total)


def _one_hot(codes: torch.Tensor, variables: list[Variable], scales) -> torch.Tensor:  # noqa: ANN001
    """One-hot of the categorical variables. Given the columns' ``scales``, ``codes`` are bin
    codes: a missing indicator is 1 on the missing code (the last), an atom variable takes the
    atom state of the bin; without them, ``codes`` already hold indicators and states."""
    blocks = []
    for j, (attr, kind, size) in enumerate(variables):
        c = codes[:, j]
        if kind == "missing" and scales is not None:
            c = (c == len(scales[attr].edges) - 1).long()
        elif kind == "atom" and scales is not None:
            c = torch.from_numpy(atom_states(c.numpy(), scales[attr]))
        blocks.append(torch.nn.functional.one_hot(c, size).float())
    return torch.cat(blocks, dim=1)


def _generated_nll(model: FlowModel, rng: np.random.Generator) -> float:
    """Mean negative log-likelihood of the model's own samples (public)."""
    net = model.net
    with torch.no_grad():
        was = net.training
        net.eval()
        codes, values = model._draw(_REPORT_ROWS, rng, None)
        gen = torch_generator(rng)
        tensors: list[torch.Tensor] = []
        if net.made is not None:
            cols = []
            for attr, kind, _ in model.variables:
                if kind == "code":
                    c = codes[attr]
                elif kind == "atom":
                    hits = values[attr][:, None] == atom_values(model.scales[attr])[None, :]
                    c = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
                else:
                    c = np.isnan(values[attr]).astype(np.int64)
                cols.append(c)
            tensors.append(_one_hot(torch.from_numpy(np.stack(cols, 1)), model.variables, None))
        if model.valued:
            v = np.stack([values[a] for a in model.valued], 1)
            present = ~np.isnan(v)
            x = np.where(present, (np.nan_to_num(v) - model.loc) / model.scale, 0.0)
            d = len(model.valued)
            tensors += [
                torch.from_numpy(x.astype(np.float32)),
                torch.from_numpy(present.astype(np.float32)),
                torch.randn(_REPORT_ROWS, d, generator=gen),
                torch.rand(_REPORT_ROWS, d, generator=gen),
            ]
        out = float(net(*tensors).mean())
        net.train(was)
    return out


__all__ = ["DPFlow"]
