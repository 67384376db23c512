"""PATE-GAN (Jordon, Yoon & van der Schaar 2019) with a data-independent privacy analysis.

Teachers: ``k`` discriminators, each trained on its own disjoint part of the private rows
against generated samples, inside :class:`~privsynth.measure.pate.TeacherEnsemble`, which
releases only noisy vote counts. Student: a discriminator trained *only on generated samples*,
labelled real when the noisy number of "real" votes exceeds ``k / 2``. Generator: trained
against the student. The student, the generator and every sample are post-processing of the
noisy votes (and of the noisy counts :func:`~privsynth.generators.neural.common.prepare`
pays for).

Each round runs ``teacher_steps`` teacher steps, ``student_steps`` student steps on batches of
``batch_size`` labelled samples, and one generator step. The number of vote counts,
``rounds * student_steps * batch_size``, is public and fixed in advance, so it is charged up
front as one Gaussian event whose noise is calibrated to the budget left after the counts
(see :mod:`privsynth.measure.pate` for the analysis and why it ignores PATE's data-dependent
bounds). The noise grows with the square root of that number: at small epsilon keep it low
(fewer rounds or student steps, smaller batches) or use many teachers, else the student's
labels are coin flips.

For tables the generator starts at noisy marginals bought with ``marginal_share`` and is held
near them by the ``anchor`` penalty (:mod:`~privsynth.generators.neural.anchor`), as in
``dpgan``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch.nn import functional as F

from privsynth.generators.base import report
from privsynth.generators.neural.anchor import weighted_anchor
from privsynth.generators.neural.common import (
    NeuralFit,
    generate_batch,
    init_output_layer,
    seeded,
)
from privsynth.generators.neural.model import NeuralModel
from privsynth.generators.neural.nets import build, gan_specs
from privsynth.measure.dpsgd import torch_generator
from privsynth.measure.pate import default_teachers, open_pate


@dataclass(frozen=True)
class PATEGAN(NeuralFit):
    """Conditional GAN trained against a student of noisy PATE teachers (hyperparameters).

    ``teachers=None`` picks one teacher per 1000 (noisy) rows, between 2 and 50.
    """

    name: ClassVar[str] = "pategan"
    composition: ClassVar[str] = "rdp"

    rounds: int = 200
    teacher_steps: int = 2
    student_steps: int = 2
    teachers: int | None = None
    batch_size: int = 64
    latent_dim: int = 64
    hidden: tuple[int, ...] = (128, 128)
    channels: int = 32
    lr_t: float = 1e-3
    lr_s: float = 1e-3
    lr_g: float = 1e-4
    count_share: float = 0.01
    marginal_share: float = 0.1
    conditional: bool = True
    numeric: str = "onehot"
    tau: float = 0.5
    anchor: float = 1.0
    calibrate: bool = True
    secure: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not self.anchor >= 0:
            raise ValueError(f"anchor must be >= 0, got {self.anchor!r}")
        positive = ("rounds", "teacher_steps", "student_steps", "batch_size", "latent_dim")
        for field in positive:
            if int(getattr(self, field)) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)!r}")
        for field in ("lr_t", "lr_s", "lr_g", "tau"):
            if not float(getattr(self, field)) > 0:
                raise ValueError(f"{field} must be > 0, got {getattr(self, field)!r}")
        if self.teachers is not None and int(self.teachers) < 1:
            raise ValueError(f"teachers must be >= 1, got {self.teachers!r}")
        if not 0 < self.count_share < 1 or not 0 <= self.marginal_share < 1 - self.count_share:
            raise ValueError(
                "count_share must lie in (0, 1) and marginal_share in [0, 1 - count_share), got "
                f"{self.count_share!r}, {self.marginal_share!r}"
            )

    def config(self) -> dict[str, Any]:
        """JSON-able hyperparameters."""
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    @property
    def queries(self) -> int:
        """Noisy vote counts one fit asks for (public, fixed before training)."""
        return self.rounds * self.student_steps * self.batch_size

    def _nets(self, prep) -> tuple[dict, dict]:  # noqa: ANN001
        return gan_specs(
            kind=prep.kind,
            width=prep.width,
            n_classes=prep.n_classes,
            latent_dim=self.latent_dim,
            hidden=list(self.hidden),
            channels=self.channels,
            gen_channels=2 * self.channels,
        )

    def _fit_prepared(self, backend, prep, ledger, rng, progress) -> NeuralModel:  # noqa: ANN001
        """Train on ``prep`` (counts paid); every vote count is charged up front."""
        k = int(self.teachers or default_teachers(prep.counts.rows))
        g_spec, d_spec = self._nets(prep)
        with seeded(rng):
            gen_net, student = build(g_spec), build(d_spec)
        if prep.kind == "table":
            init_output_layer(gen_net, prep.logits)
        ensemble = open_pate(
            ledger,
            prep.data,
            label=f"{self.name}: noisy votes of {k} teachers ({self.queries} counts)",
            teachers=k,
            queries=self.queries,
            factory=lambda: build(d_spec),
            lr=self.lr_t,
            rng=rng,
            secure=self.secure,
        )
        opt_s = torch.optim.Adam(student.parameters(), lr=self.lr_s, betas=(0.5, 0.999))
        opt_g = torch.optim.Adam(gen_net.parameters(), lr=self.lr_g, betas=(0.5, 0.999))
        g = torch_generator(rng)
        b = self.batch_size

        anchor = weighted_anchor(prep.encoding, prep.logits, self.anchor)

        def generate(n: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
            return generate_batch(gen_net, prep, n, self.latent_dim, self.tau, g)

        # An epoch: each teacher has seen about as many real rows as its (noisy) part holds.
        per_epoch = max(1, round(prep.counts.rows / (k * b * self.teacher_steps)))
        for r in range(1, self.rounds + 1):
            for _ in range(self.teacher_steps):
                with torch.no_grad():
                    fake, cond, raw = generate(b)
                ensemble.train_step(fake, cond)
            for _ in range(self.student_steps):
                with torch.no_grad():
                    fake, cond, raw = generate(b)
                votes = ensemble.noisy_votes(fake, cond)
                target = torch.from_numpy(votes > k / 2).to(torch.float32)
                opt_s.zero_grad(set_to_none=True)
                loss_s = F.binary_cross_entropy_with_logits(student(fake, cond)[:, 0], target)
                loss_s.backward()
                opt_s.step()
            opt_g.zero_grad(set_to_none=True)
            fake, cond, raw = generate(b)
            loss_g = F.softplus(-student(fake, cond)).mean()
            if anchor is not None:
                loss_g = loss_g + anchor(raw, cond)
            loss_g.backward()
            opt_g.step()
            if progress is not None and (r % per_epoch == 0 or r == self.rounds):
                report(
                    progress,
                    f"{self.name}: epoch {math.ceil(r / per_epoch)}, student loss "
                    f"{loss_s.item():.3f}, generator loss {loss_g.item():.3f}, "
                    f"epsilon so far {ensemble.epsilon_so_far():.3g}",
                    r / self.rounds,
                )

        return NeuralModel(
            backend.domain,
            kind=prep.kind,
            specs=[g_spec],
            decoders=[gen_net],
            latent_dim=self.latent_dim,
            total=prep.counts.total,
            class_weights=None if prep.counts.weights is None else prep.counts.weights[None],
            encoding=prep.encoding,
            image_shape=prep.image_shape,
        )
