"""Benchmark privsynth's mirror-descent estimator against mbi's on identical noisy marginals.

The project routes graphical-model estimation through mbi (the field's reference library)
unless our own numpy estimator (:func:`privsynth.estimation.mirror_descent`) is measurably
faster at equal error. This script measures exactly that. Both estimators receive the SAME
noisy measurements (made once per seed and noise level with
:func:`privsynth.measure.marginals.measure_marginals`, then handed to mbi through
``Measurement.to_mbi()``) and the SAME row total, run for the same number of iterations
(fresh fits from zero potentials; the tables compare 100, 500 and 1000, and a few more budgets
per set locate where each library reaches a common loss), and are scored by the same code:

* ``loss``: ``sum_m ||mu_m - y_m||^2 / sigma_m^2`` over the measurements ``m`` (the
  objective both minimise, times two), where ``mu_m`` is the fitted model's marginal;
* ``tvd_meas``: mean total variation distance ``0.5 * ||p - q||_1`` between the model's
  normalised marginal and the TRUE data marginal, over the measured cliques (1-way included);
* ``tvd_2way``: the same over all ``C(d, 2)`` two-way marginals.

Each library computes its own model's marginals exactly (``MarkovModel.project`` for ours,
``MarkovRandomField.project`` for mbi, which falls back to variable elimination for cliques
outside the model). ``wall_s`` times the estimation call only (measurement conversion and
scoring excluded), with ``jax.block_until_ready`` on mbi's result. mbi compiles with XLA the
first time it sees a model structure; the first call per structure is timed separately
(``first_calls`` in the JSON) and every other mbi call reuses the compiled program.

An "iteration" is each library's own: both take mirror-descent steps on the log-potentials
with an Armijo-style step-size search, but ours computes the marginals once per step (it keeps
those of the accepted point), accepts a step when the loss falls by at least half its
first-order prediction and then grows the step by 5 %; mbi's ``MirrorDescent`` computes them
twice per step, scales that prediction by the step size in its test and grows the step by 1 %.
Hence the equal-error comparison, not only equal budgets.

Measurement sets (d = 14 attributes of adult):

* ``mst``: all 1-way marginals plus the 2-way marginals of a FIXED chain over the columns in
  their public domain order (a spanning tree that reads no data). Noise follows MST's split
  of rho into thirds: 1-way marginals at ``sqrt(d / (2 rho / 3))``, the ``d - 1`` chain pairs
  at ``sqrt((d - 1) / (2 rho / 3))`` (the third MST spends on selecting its tree is unused).
* ``aim``: all 1-way marginals plus 15 random 2- and 3-way cliques, drawn once with a fixed
  seed (identical for every noise seed), rejecting any clique that would take our junction
  tree above 1e6 cells. Every marginal gets noise ``sqrt(k / (2 rho))``, ``k`` the number of
  marginals.

rho is the zCDP budget equivalent to (eps, delta = 1e-9) under privsynth's tight conversion.

Run from the repository root, single-threaded and pinned (the command used for the results)::

    OMP_NUM_THREADS=1 XLA_FLAGS="--xla_cpu_multi_thread_eigen=false \\
        intra_op_parallelism_threads=1" PYTHONPATH=src taskset -c 0 \\
        python bench/estimator_vs_mbi.py

It writes ``bench/results/estimator_vs_mbi.json`` and ``bench/results/estimator_vs_mbi.md``
(about 11 minutes on one core, a third of it mbi compiling its fit and its variable
elimination for the scoring); ``--report-only`` rebuilds the markdown from the JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

#: Single-thread settings, applied (unless already set) before numpy or jax is imported.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "JAX_PLATFORMS": "cpu",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
for _key, _value in THREAD_ENV.items():
    os.environ.setdefault(_key, _value)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DEFAULT_DATA = SHARED_DATASETS / "adult_pgm.csv"
DEFAULT_DOMAIN = SHARED_DATASETS / "adult_pgm-domain.json"
DEFAULT_JSON = BENCH_DIR / "results" / "estimator_vs_mbi.json"
DEFAULT_MD = BENCH_DIR / "results" / "estimator_vs_mbi.md"

DELTA = 1e-9
SETS = ("mst", "aim")
#: Seed of the random cliques of the ``aim`` set (fixed, independent of the noise seeds).
AIM_CLIQUE_SEED = 20240601
AIM_EXTRA_CLIQUES = 15
AIM_CELL_LIMIT = 1_000_000
OURS, MBI = "privsynth", "mbi"
METRICS = ("wall_s", "cpu_s", "loss", "tvd_meas", "tvd_2way")

Clique = tuple[str, ...]


def _setup() -> None:
    """Put ``src/`` on the path and configure jax (float64, no persistent cache)."""
    src = str(REPO_ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    import jax

    jax.config.update("jax_enable_x64", True)
    # A persistent cache would turn "first call" timings into disk reads of earlier runs.
    jax.config.update("jax_enable_compilation_cache", False)


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


def load_data(data: Path, domain_path: Path) -> Any:
    """The adult table as an ``InMemoryBackend`` over its public domain."""
    from privsynth.domain import Domain
    from privsynth.marginals.counting import EncodedTable, InMemoryBackend

    with open(domain_path, encoding="utf-8") as fh:
        domain = Domain.from_dict({str(k): int(v) for k, v in json.load(fh).items()})
    frame = pd.read_csv(data)
    codes = {a: frame[a].to_numpy(dtype=np.int64) for a in domain}
    return InMemoryBackend(EncodedTable(domain, codes))


def junction_cells_ours(
    sizes: Sequence[int], attrs: Sequence[str], cliques: Sequence[Clique]
) -> int:
    """Cells of our junction tree's maximal cliques for ``cliques``."""
    from privsynth.estimation.junction import build_junction_tree

    tree = build_junction_tree(sizes, [tuple(attrs.index(a) for a in c) for c in cliques])
    return sum(tree.clique_size(i) for i in range(len(tree.cliques)))


def junction_cells_mbi(domain: Any, cliques: Sequence[Clique]) -> int:
    """Cells of mbi's junction tree's maximal cliques for ``cliques``."""
    from mbi import junction_tree

    tree, _ = junction_tree.make_junction_tree(domain, list(cliques))
    return int(sum(domain.size(c) for c in junction_tree.maximal_cliques(tree)))


def structure(name: str, domain: Any) -> list[Clique]:
    """The higher-order cliques of measurement set ``name`` (1-way marginals come on top)."""
    attrs = domain.attributes
    if name == "mst":
        return [(attrs[i], attrs[i + 1]) for i in range(len(attrs) - 1)]
    if name != "aim":
        raise ValueError(f"unknown measurement set {name!r}")
    rng = np.random.default_rng(AIM_CLIQUE_SEED)
    chosen: list[Clique] = []
    for _ in range(10_000):
        if len(chosen) == AIM_EXTRA_CLIQUES:
            break
        k = int(rng.integers(2, 4))
        clique = tuple(attrs[i] for i in sorted(rng.choice(len(attrs), size=k, replace=False)))
        if clique in chosen:
            continue
        if junction_cells_ours(domain.sizes, attrs, [*chosen, clique]) <= AIM_CELL_LIMIT:
            chosen.append(clique)
    return chosen


def noise_plan(
    name: str, domain: Any, extra: Sequence[Clique], rho: float
) -> list[tuple[list[Clique], float]]:
    """Groups of cliques with their noise scale, spending ``rho`` as documented above."""
    ones: list[Clique] = [(a,) for a in domain.attributes]
    if name == "mst":
        third = rho / 3
        return [
            (ones, math.sqrt(len(ones) / (2 * third))),
            (list(extra), math.sqrt(len(extra) / (2 * third))),
        ]
    everything = ones + list(extra)
    return [(everything, math.sqrt(len(everything) / (2 * rho)))]


def measure(
    backend: Any, plan: Sequence[tuple[list[Clique], float]], rng: np.random.Generator
) -> list[Any]:
    """Noisy marginals for ``plan`` through privsynth's own measurement path."""
    from privsynth.measure.marginals import measure_marginals
    from privsynth.privacy.ledger import Ledger

    ledger = Ledger(1e4, DELTA)  # far more than any plan here spends
    out = []
    for cliques, sigma in plan:
        out += measure_marginals(backend, cliques, sigma, ledger, rng, label="benchmark")
    return out


# --------------------------------------------------------------------------------------------
# The two estimators and their marginals
# --------------------------------------------------------------------------------------------


def fit_ours(domain: Any, observations: Sequence[Any], total: float, iters: int) -> Any:
    """privsynth's mirror descent."""
    from privsynth.estimation import mirror_descent

    return mirror_descent(domain, observations, iters=iters, total=total)


def fit_mbi(domain: Any, measurements: list[Any], total: float, iters: int) -> Any:
    """mbi's MirrorDescent (Armijo step size, the library default), blocked until done."""
    import jax
    from mbi.estimation import MirrorDescent

    model = MirrorDescent().estimate(domain, measurements, known_total=total, iters=iters)
    jax.block_until_ready((model.potentials, model.marginals))
    return model


def marginal_ours(model: Any, clique: Clique) -> np.ndarray:
    """Expected counts of our model over ``clique`` (axes in clique order)."""
    return np.asarray(model.project(clique), dtype=np.float64)


def marginal_mbi(model: Any, clique: Clique) -> np.ndarray:
    """Expected counts of mbi's model over ``clique`` (axes in clique order)."""
    return np.asarray(model.project(clique).datavector(flatten=False), dtype=np.float64)


def score(
    marginal: Callable[[Clique], np.ndarray],
    measurements: Sequence[Any],
    truth: Callable[[Clique], np.ndarray],
    pairs: Sequence[Clique],
) -> dict[str, float]:
    """Loss against the noisy measurements and TVDs against the true marginals."""

    def tvd(clique: Clique) -> float:
        p = marginal(clique)
        q = truth(clique)
        return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())

    loss = 0.0
    for m in measurements:
        diff = (marginal(m.clique).ravel() - np.asarray(m.noisy, dtype=np.float64)) / m.sigma
        loss += float(np.dot(diff, diff))
    return {
        "loss": loss,
        "tvd_meas": float(np.mean([tvd(m.clique) for m in measurements])),
        "tvd_2way": float(np.mean([tvd(p) for p in pairs])),
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``, its wall seconds and this process's CPU seconds (all threads)."""
    cpu = time.process_time()
    wall = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every (set, eps, seed, iters, impl) run; returns the JSON-able results."""
    from mbi.estimation import minimum_variance_unbiased_total

    from privsynth.estimation import Observation, estimate_total
    from privsynth.privacy.accountant import epsilon_to_zcdp

    backend = load_data(args.data, args.domain)
    domain = backend.domain
    mbi_domain = domain.to_mbi()
    pairs = list(itertools.combinations(domain.attributes, 2))
    truth_cache: dict[Clique, np.ndarray] = {}

    def truth(clique: Clique) -> np.ndarray:
        if clique not in truth_cache:
            truth_cache[clique] = backend.count(clique).astype(np.float64)
        return truth_cache[clique]

    results: dict[str, Any] = {
        "rows": int(backend.count(()).item()),
        "attributes": len(domain),
        "sets": {},
        "first_calls": [],
        "runs": [],
    }
    started = time.perf_counter()
    for set_index, name in enumerate(args.sets):
        extra = structure(name, domain)
        all_cliques = [(a,) for a in domain.attributes] + extra
        results["sets"][name] = {
            "cliques": [list(c) for c in extra],
            "measurements": len(all_cliques),
            "junction_cells_ours": junction_cells_ours(domain.sizes, domain.attributes, extra),
            "junction_cells_mbi": junction_cells_mbi(mbi_domain, extra),
            "sigmas": {},
        }
        first = True
        for eps_index, eps in enumerate(args.eps):
            rho = epsilon_to_zcdp(eps, DELTA)
            plan = noise_plan(name, domain, extra, rho)
            results["sets"][name]["sigmas"][str(eps)] = [s for _, s in plan]
            for seed in args.seeds:
                rng = np.random.default_rng([seed, set_index, eps_index])
                measurements = measure(backend, plan, rng)
                observations = [Observation.from_measurement(m, domain) for m in measurements]
                mbi_measurements = [m.to_mbi() for m in measurements]
                total = estimate_total(observations)
                total_mbi = minimum_variance_unbiased_total(mbi_measurements)
                base = {
                    "set": name,
                    "eps": eps,
                    "rho": rho,
                    "seed": seed,
                    "total": total,
                    "total_mbi_rel_diff": abs(total_mbi - total) / total,
                }
                grid = sorted(set(args.iters) | set(getattr(args, f"extra_iters_{name}")))
                for iters in grid:
                    fits: dict[str, Callable[[], Any]] = {
                        OURS: partial(fit_ours, domain, observations, total, iters),
                        MBI: partial(fit_mbi, mbi_domain, mbi_measurements, total, iters),
                    }
                    marginals = {OURS: marginal_ours, MBI: marginal_mbi}
                    for impl, fit in fits.items():
                        if first:
                            # First call with this structure (mbi compiles here); then again.
                            _, wall, cpu = timed(fit)
                            results["first_calls"].append(
                                {**base, "impl": impl, "iters": iters, "wall_s": wall, "cpu_s": cpu}
                            )
                        model, wall, cpu = timed(fit)
                        t0 = time.perf_counter()
                        scores = score(partial(marginals[impl], model), measurements, truth, pairs)
                        row = {
                            **base,
                            "impl": impl,
                            "iters": iters,
                            "wall_s": wall,
                            "cpu_s": cpu,
                            **scores,
                            "score_s": time.perf_counter() - t0,
                        }
                        results["runs"].append(row)
                        print(
                            f"[{time.perf_counter() - started:7.1f}s] {name} eps={eps:g} "
                            f"seed={seed} iters={iters} {impl:9s} wall={wall:8.3f}s "
                            f"loss={scores['loss']:.6g} tvd_meas={scores['tvd_meas']:.4f} "
                            f"tvd_2way={scores['tvd_2way']:.4f}",
                            flush=True,
                        )
                    first = False
    results["total_s"] = time.perf_counter() - started
    return results


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def _fmt(value: float, kind: str) -> str:
    if kind in ("wall_s", "cpu_s"):
        return f"{value:.3f}"
    if kind == "loss":
        return f"{value:.5g}"
    return f"{value:.4f}"


def _cell(values: Sequence[float], kind: str) -> str:
    mean, std = _mean_std(values)
    return f"{_fmt(mean, kind)} ± {_fmt(std, kind)}"


def grouped(
    runs: Sequence[dict[str, Any]],
) -> dict[tuple[str, float, int], dict[str, list[dict[str, Any]]]]:
    """Runs keyed by (set, eps, iters), then by implementation (one entry per seed)."""
    out: dict[tuple[str, float, int], dict[str, list[dict[str, Any]]]] = {}
    for r in runs:
        out.setdefault((r["set"], r["eps"], r["iters"]), {}).setdefault(r["impl"], []).append(r)
    return out


def compile_overhead(results: dict[str, Any]) -> dict[str, float]:
    """Per set: mbi's first call minus the identical second call (tracing and compilation)."""
    second = {(r["set"], r["eps"], r["seed"], r["iters"], r["impl"]): r for r in results["runs"]}
    return {
        f["set"]: f["wall_s"] - second[(f["set"], f["eps"], f["seed"], f["iters"], MBI)]["wall_s"]
        for f in results["first_calls"]
        if f["impl"] == MBI
    }


def equal_error(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (set, eps): time each library needs, on the iteration grid, to reach a common loss.

    The target is the worse of the two libraries' mean losses at their largest iteration count
    (so both reach it); each library's time is the mean wall time of its smallest grid point
    whose mean loss is within 0.1 % of the target or below. Runs at every recorded budget
    count, not only those of the equal-budget tables.
    """
    groups = grouped(runs)
    keys = sorted({(s, e) for s, e, _ in groups})
    out = []
    for set_name, eps in keys:
        grid = sorted(i for s, e, i in groups if (s, e) == (set_name, eps))
        mean = {
            (impl, i): {
                m: statistics.fmean(r[m] for r in groups[(set_name, eps, i)][impl]) for m in METRICS
            }
            for i in grid
            for impl in (OURS, MBI)
        }
        target = max(mean[(OURS, grid[-1])]["loss"], mean[(MBI, grid[-1])]["loss"])
        row: dict[str, Any] = {"set": set_name, "eps": eps, "target_loss": target}
        for impl in (OURS, MBI):
            hit = next(i for i in grid if mean[(impl, i)]["loss"] <= target * (1 + 1e-3))
            row[impl] = {"iters": hit, **mean[(impl, hit)]}
        row["time_ratio"] = row[OURS]["wall_s"] / row[MBI]["wall_s"]
        row["cpu_ratio"] = row[OURS]["cpu_s"] / row[MBI]["cpu_s"]
        out.append(row)
    return out


def metric_table(
    runs: Sequence[dict[str, Any]], metrics: Sequence[tuple[str, str]], iters: Sequence[int]
) -> list[str]:
    """Markdown rows: per (set, eps, budget in ``iters``), ours, mbi and ours / mbi."""
    head = ["set", "eps", "iters"]
    for _, label in metrics:
        head += [f"ours {label}", f"mbi {label}", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (name, eps, budget), by_impl in sorted(grouped(runs).items()):
        if budget not in iters:
            continue
        cells = [name, f"{eps:g}", str(budget)]
        for metric, _ in metrics:
            ours = [r[metric] for r in by_impl[OURS]]
            ref = [r[metric] for r in by_impl[MBI]]
            ratio = statistics.fmean(ours) / statistics.fmean(ref)
            cells += [_cell(ours, metric), _cell(ref, metric), f"**{ratio:.3f}**"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(results: dict[str, Any]) -> str:
    """The summary tables."""
    meta = results["meta"]
    runs = results["runs"]
    lines = [
        f"`{meta['command']}`",
        "",
        "# privsynth's mirror descent vs mbi's MirrorDescent on identical noisy marginals",
        "",
        f"- Date (start of the run): {meta['date']}",
        f"- Machine: {meta['machine']['cpu_count']} logical CPUs, {meta['machine']['cpu_model']}, "
        f"{meta['machine']['mem_gib']} GiB RAM, {meta['machine']['platform']}, "
        f"Python {meta['machine']['python']}; process affinity: CPUs {meta['affinity']}; "
        f"load average at start / end: {meta['load_start']} / {meta['load_end']}.",
        f"- Versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}. "
        f"jax on CPU, float64 (`jax_enable_x64`), persistent compilation cache off; thread "
        f"settings: {', '.join(f'{k}={v}' for k, v in meta['thread_env'].items())}.",
        f"- Data: `{meta['data']}` ({meta['rows']} rows, all of them), public domain "
        f"`{meta['domain']}` ({meta['attributes']} attributes). delta = {DELTA:g}; seeds "
        f"{meta['seeds']}; iterations {meta['iters']} (each a fresh fit from zero potentials). "
        f"Total run time {results['total_s']:.0f} s.",
        "- Both estimators get the same `Measurement`s (ours via `Observation.from_measurement`, "
        "mbi via `Measurement.to_mbi()`) and the same total (our inverse-variance "
        f"`estimate_total`; mbi's own estimate differs by at most "
        f"{max(r['total_mbi_rel_diff'] for r in runs):.1e} relative).",
        "- Measurement sets:",
    ]
    for name, info in results["sets"].items():
        sig = "; ".join(
            f"eps {e}: " + ", ".join(f"{s:.2f}" for s in v) for e, v in info["sigmas"].items()
        )
        if name == "mst":
            desc = (
                "all 1-way marginals + the 2-way marginals of a fixed chain over the columns in "
                "public domain order; sigma (1-way, 2-way) from MST's thirds of rho"
            )
        else:
            desc = (
                f"all 1-way marginals + {len(info['cliques'])} random 2-/3-way cliques (seed "
                f"{AIM_CLIQUE_SEED}, rejecting any that takes our junction tree over "
                f"{AIM_CELL_LIMIT:.0e} cells); one sigma spending rho over all marginals"
            )
        cliques = ", ".join("(" + ", ".join(c) + ")" for c in info["cliques"])
        lines.append(
            f"  - `{name}`: {desc}. {info['measurements']} measurements; junction tree cells: "
            f"ours {info['junction_cells_ours']:,}, mbi {info['junction_cells_mbi']:,}; "
            f"sigma {sig}. Cliques: {cliques}."
        )
    lines += [
        "- `wall s`: seconds of the estimation call only (mbi blocked until its arrays are "
        "ready), after mbi's one-off XLA compilation for the structure (see the first-call "
        "table); `CPU s`: this process's CPU seconds over the same call (less sensitive to "
        "other processes sharing the CPU). `loss`: sum over measurements of ||mu - y||^2 / sigma^2 (twice the objective "
        "both minimise). `tvd meas` / `tvd 2way`: mean of 0.5 * L1 between the model's "
        "normalised marginal and the true one, over the measured cliques (1-way included) / "
        "all 2-way marginals. Marginals of each model come from its own library's exact "
        "inference. Cells: mean ± sample std over seeds; ratios are ours / mbi of the seed "
        "means (below 1: ours is faster or more accurate).",
        "",
        "## Equal iteration budgets: time",
        "",
        *metric_table(runs, [("wall_s", "wall s"), ("cpu_s", "CPU s")], meta["iters"]),
        "",
        "## Equal iteration budgets: error",
        "",
        *metric_table(
            runs,
            [("loss", "loss"), ("tvd_meas", "tvd meas"), ("tvd_2way", "tvd 2way")],
            meta["iters"],
        ),
    ]

    lines += [
        "",
        "## Equal error",
        "",
        "Target: the worse of the two libraries' mean losses at the largest budget. Each "
        "library's entry is its smallest budget whose mean loss is within 0.1 % of the target "
        "(or below), with its mean times there (steady state, compilation excluded). Budgets: "
        + "; ".join(
            f"{name} {sorted({*meta['iters'], *extra})}"
            for name, extra in meta["extra_iters"].items()
        )
        + ". A library's time is read at its first budget that reaches the target, so it "
        "may be overstated by up to one grid step. `mbi wall s + compile` adds mbi's one-off "
        "compilation for the structure (first-call table below): the cost of fitting a structure "
        "once, as MST does, and as AIM does in every round (each round adds a clique).",
        "",
        "| set | eps | target loss | ours iters | ours wall s | ours CPU s | mbi iters | "
        "mbi wall s | mbi CPU s | wall ratio | CPU ratio | mbi wall s + compile | "
        "wall ratio, one cold fit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    overhead = compile_overhead(results)
    for row in equal_error(runs):
        cold = row[MBI]["wall_s"] + overhead[row["set"]]
        lines.append(
            f"| {row['set']} | {row['eps']:g} | {row['target_loss']:.5g} | {row[OURS]['iters']} | "
            f"{row[OURS]['wall_s']:.3f} | {row[OURS]['cpu_s']:.3f} | {row[MBI]['iters']} | "
            f"{row[MBI]['wall_s']:.3f} | {row[MBI]['cpu_s']:.3f} | **{row['time_ratio']:.3f}** | "
            f"**{row['cpu_ratio']:.3f}** | {cold:.3f} | **{row[OURS]['wall_s'] / cold:.3f}** |"
        )

    lines += [
        "",
        "## First call per structure (mbi compiles)",
        "",
        "The first fit of each measurement set in the process, then the same fit again "
        "(same measurements, same iterations). mbi traces and compiles its 50-step scan and "
        "its eager set-up the first time it sees a structure; a structure change (a new "
        "clique, as in every AIM round) compiles again.",
        "",
        "| set | eps | seed | iters | impl | first call s | second call s | first - second s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    second = {(r["set"], r["eps"], r["seed"], r["iters"], r["impl"]): r for r in runs}
    for f in results["first_calls"]:
        s = second[(f["set"], f["eps"], f["seed"], f["iters"], f["impl"])]
        lines.append(
            f"| {f['set']} | {f['eps']:g} | {f['seed']} | {f['iters']} | {f['impl']} | "
            f"{f['wall_s']:.3f} | {s['wall_s']:.3f} | {f['wall_s'] - s['wall_s']:.3f} |"
        )
    lines.append("")
    return "\n".join(lines)


def command_line() -> str:
    """The command that started this process, with the settings that shape its timings."""
    prefix = [
        f"{k}={shlex.quote(os.environ[k])}"
        for k in ("OMP_NUM_THREADS", "XLA_FLAGS", "PYTHONPATH")
        if k in os.environ
    ]
    affinity = sorted(os.sched_getaffinity(0))
    if len(affinity) < (os.cpu_count() or len(affinity)):
        prefix += ["taskset", "-c", ",".join(str(c) for c in affinity)]
    script = os.path.relpath(Path(sys.argv[0]).resolve(), Path.cwd())
    return " ".join([*prefix, sys.executable, script, *map(shlex.quote, sys.argv[1:])])


def versions() -> dict[str, str]:
    """Versions of the libraries involved."""
    out = {}
    for pkg in ("privsynth", "mbi", "jax", "jaxlib", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "source checkout" if pkg == "privsynth" else "not installed"
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--eps", nargs="+", type=float, default=[1.0, 10.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--iters",
        nargs="+",
        type=int,
        default=[100, 500, 1000],
        help="iteration budgets of the equal-budget tables",
    )
    parser.add_argument(
        "--extra-iters-mst",
        nargs="*",
        type=int,
        default=[200, 300, 400, 600, 700, 800, 900],
        help="further budgets for the mst set (equal-error table only)",
    )
    parser.add_argument(
        "--extra-iters-aim",
        nargs="*",
        type=int,
        default=[200, 300, 400],
        help="further budgets for the aim set (equal-error table only)",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--domain", type=Path, default=DEFAULT_DOMAIN)
    parser.add_argument("--out-json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--out-md", type=Path, default=DEFAULT_MD)
    parser.add_argument(
        "--report-only", action="store_true", help="rebuild the markdown from --out-json"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark (or only the report) and write both result files."""
    args = parse_args(argv)
    if args.report_only:
        results = json.loads(args.out_json.read_text(encoding="utf-8"))
    else:
        _setup()
        sys.path.insert(0, str(BENCH_DIR))
        import _common

        load_start = [round(x, 2) for x in os.getloadavg()]
        date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        results = {"meta": {}}
        results |= run(args)
        results["meta"] = {
            "command": command_line(),
            "date": date,
            "machine": _common.machine_info(),
            "affinity": ",".join(str(c) for c in sorted(os.sched_getaffinity(0))),
            "load_start": load_start,
            "load_end": [round(x, 2) for x in os.getloadavg()],
            "versions": versions(),
            "thread_env": {k: os.environ[k] for k in THREAD_ENV},
            "data": os.path.relpath(args.data.resolve(), REPO_ROOT),
            "domain": os.path.relpath(args.domain.resolve(), REPO_ROOT),
            "rows": results.pop("rows"),
            "attributes": results.pop("attributes"),
            "seeds": args.seeds,
            "iters": args.iters,
            "extra_iters": {name: getattr(args, f"extra_iters_{name}") for name in args.sets},
        }
        args.out_json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out_json.with_name(args.out_json.name + ".tmp")
        tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        tmp.replace(args.out_json)
    args.out_md.write_text(render_markdown(results), encoding="utf-8")
    print(f"wrote {args.out_json} and {args.out_md}")


if __name__ == "__main__":
    main()
