"""PATE: teachers on disjoint parts of the private rows, released only as noisy vote counts.

A :class:`TeacherEnsemble` (Papernot et al. 2017; used by PATE-GAN, Jordon et al. 2019) owns
the private tensors. It splits the rows into ``k`` disjoint parts and trains one discriminator
per part (its rows against generated samples the caller supplies). Teacher training is not
differentially private, which is why the teachers never leave this object: the only thing it
answers is :meth:`TeacherEnsemble.noisy_votes`, for each query sample the number of teachers
that call it real, plus discrete Gaussian noise.

Privacy analysis (data-independent). Each row is assigned to a part by an independent uniform
draw from a generator seeded before any data is read, so adding or removing one record leaves
every other record's part unchanged and alters one part only. A shuffled split into equal
parts would not: one more row moves the boundaries and changes many parts. Every teacher
has its own random generator (initialisation, batches), so the teachers whose parts are equal
are equal and one record changes one teacher. One teacher changes each count by at most 1,
so ``m`` counts have L2 sensitivity ``sqrt(m)``, and discrete Gaussian noise of scale
``sigma`` costs ``m / (2 sigma^2)`` in zCDP whatever the teachers were trained on. Query
samples are generated, and the generator has seen only earlier noisy votes, so the queries
are adaptive but public and zCDP composes adaptively. The hidden teacher state is a random
variable independent of the query answers' noise; joint quasi-convexity of Renyi divergence
keeps the bound for the mixture over it.

The number of queries is fixed before training, so the whole run is charged as one
``GaussianEvent(sigma, 1, count=queries)`` when the ensemble is opened (:func:`open_pate`),
and ``sigma`` is calibrated so the run lands on the ledger's budget from below. Asking for
more answers than were charged raises.

What this does *not* do: PATE's data-dependent bounds (moments of the vote histogram, smooth
sensitivity) are not used, since their value depends on the private votes and releasing or
acting on it leaks unless it is itself privatised. The PATE-GAN paper's accountant and several
public implementations have known bugs (moments computed from the votes without smooth
sensitivity; in smartnoise-synth's PATECTGAN all teachers are one network, and its last
iteration is never checked: bench/README.md). The price of the honest bound is that noise
grows with the square root of the number of queries, so useful labels need few queries, many
teachers or a large epsilon.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

from privsynth.errors import BudgetExceeded, PrivacyError
from privsynth.measure.noise import noise_sampler
from privsynth.privacy.events import GaussianEvent
from privsynth.privacy.ledger import Ledger

# Calibration: bisection in log(sigma) to this relative precision, landing below the budget.
_CALIBRATION_ITERS = 200
_BUDGET_MARGIN = 1e-7
_LEFTOVER = 1e-6
_MIN_SIGMA = 1e-6
_MAX_SIGMA = 1e12


def calibrate_votes(ledger: Ledger, queries: int) -> float:
    """Smallest noise scale at which ``queries`` vote counts fit in what the ledger has left.

    Raises BudgetExceeded when none does or when what is left is round-off (a relative 1e-6
    of the budget: a previous calibrated spend leaves about 1e-7); returns ``1e-6`` when even
    that fits.
    """

    def fits(sigma: float) -> bool:
        event = GaussianEvent(sigma, 1.0, queries)
        return ledger.epsilon_with(event) <= ledger.epsilon_budget * (1 - _BUDGET_MARGIN)

    if ledger.epsilon() >= ledger.epsilon_budget * (1 - _LEFTOVER) or not fits(_MAX_SIGMA):
        raise BudgetExceeded(
            f"pate: no budget left for {queries} noisy vote counts "
            f"(epsilon {ledger.epsilon():.6g} of {ledger.epsilon_budget:g} spent)"
        )
    lo, hi = _MIN_SIGMA, _MAX_SIGMA
    if fits(lo):
        return lo
    for _ in range(_CALIBRATION_ITERS):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
        if hi / lo < 1 + 1e-9:
            break
    return hi


class TeacherEnsemble:
    """``k`` teacher discriminators on disjoint parts of private rows (use :func:`open_pate`).

    ``data`` is ``(x,)`` or ``(x, condition)``; a teacher is called ``teacher(x, condition)``
    and returns one logit per row (positive: real). The teachers share an architecture and
    are run as one batched (``vmap``) network: teacher ``j``'s slice of the stacked weights
    only ever receives teacher ``j``'s gradient, and Adam is elementwise, so this trains
    exactly ``k`` independent networks.
    """

    def __init__(
        self,
        data: Sequence[torch.Tensor],
        *,
        teachers: int,
        sigma: float,
        queries: int,
        factory: Callable[[], torch.nn.Module],
        lr: float,
        rng: np.random.Generator,
        secure: bool,
        before: Ledger,
    ) -> None:
        self.k = int(teachers)
        self.sigma = float(sigma)
        self.queries = int(queries)
        self.answered = 0
        self._before = before
        # Every seed is drawn before the data is touched, so no random stream depends on n.
        seeds = rng.integers(0, 2**62, size=2 * self.k + 2)
        self._noise_rng = np.random.default_rng(int(seeds[-1]))
        self._sample = noise_sampler(secure, "gaussian")
        nets = []
        for j in range(self.k):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seeds[j]))
                nets.append(factory())
        self._params, self._buffers = stack_module_state(nets)
        self._opt = torch.optim.Adam(self._params.values(), lr=lr, betas=(0.5, 0.999))
        base = copy.deepcopy(nets[0]).to("meta")  # structure only; weights live in _params

        def forward(p: dict, b: dict, *inputs: torch.Tensor | None) -> torch.Tensor:
            return functional_call(base, (p, b), inputs)

        self._forward = forward
        self._gens = [torch.Generator().manual_seed(int(s)) for s in seeds[self.k : 2 * self.k]]
        part = np.random.default_rng(int(seeds[-2])).integers(0, self.k, size=len(data[0]))
        self._parts = [
            tuple(t[torch.from_numpy(np.flatnonzero(part == j))] for t in data)
            for j in range(self.k)
        ]

    def _logits(
        self, per_teacher: bool, x: torch.Tensor, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        # ``(k, m)`` logits: teacher j scores x[j] (per_teacher) or every teacher scores x.
        dim = 0 if per_teacher else None
        dims = (0, 0, dim) if cond is None else (0, 0, dim, dim)
        args = (x,) if cond is None else (x, cond)
        return vmap(self._forward, in_dims=dims)(self._params, self._buffers, *args)[..., 0]

    def _real_batch(self, b: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        # b rows per teacher, drawn with replacement from its own part by its own generator
        # (a fixed number of draws whatever the part's size); empty parts get a zero weight.
        rows, weight = [], torch.ones(self.k, 1)
        for j, (part, gen) in enumerate(zip(self._parts, self._gens, strict=True)):
            n = len(part[0])
            sel = torch.randint(0, max(n, 1), (b,), generator=gen)
            if not n:
                weight[j] = 0.0
                part = tuple(torch.zeros((1, *t.shape[1:]), dtype=t.dtype) for t in part)
            rows.append(tuple(t[sel] for t in part))
        return tuple(torch.stack(cols) for cols in zip(*rows, strict=True)), weight

    def train_step(self, fake: torch.Tensor, cond: torch.Tensor | None = None) -> None:
        """One optimiser step per teacher: ``len(fake)`` of its own rows (drawn with
        replacement) against the generated batch ``fake`` (with ``cond`` if conditional).
        Returns nothing: teacher losses are private."""
        fake = fake.detach()
        cond = None if cond is None else cond.detach()
        real, weight = self._real_batch(len(fake))
        self._opt.zero_grad(set_to_none=True)
        loss_fake = F.softplus(self._logits(False, fake, cond)).mean(1)
        loss_real = (F.softplus(-self._logits(True, *real)) * weight).mean(1)
        # A sum over teachers: each teacher's slice gets exactly its own gradient.
        (loss_fake + loss_real).sum().backward()
        self._opt.step()

    def noisy_votes(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> np.ndarray:
        """For each generated sample, the number of teachers voting "real" plus discrete
        Gaussian noise of scale ``sigma`` (int64). Samples must be public (generated)."""
        m = len(x)
        if self.answered + m > self.queries:
            raise PrivacyError(
                f"pate: {self.answered + m} vote counts requested but only {self.queries} "
                "were charged to the ledger"
            )
        self.answered += m
        with torch.no_grad():
            counts = (self._logits(False, x, cond) > 0).sum(0).numpy().astype(np.int64)
        return counts + self._sample(m, self.sigma, self._noise_rng)

    def epsilon_so_far(self) -> float:
        """Epsilon of what the ledger held before this ensemble plus the answers given so
        far (public: a function of the schedule only)."""
        if not self.answered:
            return self._before.epsilon()
        return self._before.epsilon_with(GaussianEvent(self.sigma, 1.0, self.answered))


def default_teachers(rows: float, *, per_teacher: int = 1000, most: int = 50) -> int:
    """Number of teachers for a table of (noisy) ``rows``: one per ``per_teacher`` rows,
    between 2 and ``most``."""
    return max(2, min(most, int(rows // per_teacher)))


def open_pate(
    ledger: Ledger,
    data: Sequence[torch.Tensor],
    *,
    label: str,
    teachers: int,
    queries: int,
    factory: Callable[[], torch.nn.Module],
    lr: float,
    rng: np.random.Generator,
    sigma: float | None = None,
    secure: bool = False,
) -> TeacherEnsemble:
    """Charge ``queries`` noisy vote counts to ``ledger`` and return the teacher ensemble.

    ``sigma`` is calibrated to the budget left unless given; either way the spend is validated
    before anything is read, so BudgetExceeded leaves the ledger unchanged. ``factory`` builds
    one (untrained) teacher network; ``data`` are the private tensors (first dimension: rows).
    """
    if not data or any(t.shape[0] != data[0].shape[0] for t in data):
        raise ValueError("pate: data tensors must share their first dimension")
    if teachers < 1 or queries < 1 or lr <= 0:
        raise ValueError(f"pate: bad configuration teachers={teachers}, queries={queries}, lr={lr}")
    if sigma is None:
        sigma = calibrate_votes(ledger, queries)
    before = Ledger.from_dict(ledger.to_dict())
    ledger.spend(GaussianEvent(sigma, 1.0, queries), label=label)
    return TeacherEnsemble(
        data,
        teachers=teachers,
        sigma=sigma,
        queries=queries,
        factory=factory,
        lr=lr,
        rng=rng,
        secure=secure,
        before=before,
    )
