"""The control-feature study (semantic integrity) on Adult, for every generator.

Two binary control columns are added to ``adult_train.csv`` with a fixed seed: ``c1`` is
positive for 5 % of women, ``c2`` for 70 % of women, and neither is ever positive for men. A
generator that learns the table well reproduces the women's rates; one that respects the
table's semantics never makes a man positive. Each generator is fitted at each epsilon in
five settings:

* ``none``: the bundled Adult schema plus the two columns, no rule;
* ``declared``: the same schema with the public rules ``sex == 'Male' -> c1 == '0'`` and
  ``sex == 'Male' -> c2 == '0'`` (free);
* ``declared-rake``: the declared rules, sampled with ``rule_strategy="rake"`` (a broken
  implication's consequent is moved to an allowed value and as many unconstrained rows take
  the removed values, so the column's frequencies stay as drawn; see
  ``privsynth.enforce.RuleChecker.rake``);
* ``learned``: rules learned with DP (``privsynth.schema.learn``) on a share of the budget
  (``--learn-share`` of the zCDP budget; the fit gets the rest, so the total is the same
  (epsilon, delta)); every candidate is accepted (``--max-learned K``: only the first K,
  strongest evidence first), a stand-in for a person reviewing the list;
* ``learned-rake``: the same, sampled with ``rule_strategy="rake"`` (a learned forbidden pair
  is raked on its second column).

Reported per run: women's and men's positive rates of c1 and c2 in the synthetic sample,
the mean TVD over every 2-way marginal against the training split
(``privsynth.evaluate.marginals``), and train-on-synthetic ROC AUC for ``income`` on the
20 % test split (``bench/_common.tstr_auc``); ``d_tvd2`` / ``d_auc`` are differences to the
same generator and epsilon without rules.

Full run (writes bench/results/control_features.json and .md)::

    python bench/control_features.py

Quick run (three fast generators, small settings, a 6000-row subsample)::

    python bench/control_features.py --quick --out-json /tmp/cf.json --out-md /tmp/cf.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(REPO_ROOT / "src"))

import _common  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from privsynth.cli.demo import bundled_adult  # noqa: E402
from privsynth.errors import PrivsynthError  # noqa: E402
from privsynth.evaluate.marginals import marginal_fidelity  # noqa: E402
from privsynth.generators import get_generator  # noqa: E402
from privsynth.privacy.accountant import epsilon_to_zcdp, zcdp_to_epsilon  # noqa: E402
from privsynth.privacy.ledger import Ledger  # noqa: E402
from privsynth.schema import load_schema, schema_from_dict, schema_to_dict  # noqa: E402
from privsynth.schema.learn import accept_candidates, learn_rules  # noqa: E402
from privsynth.synthesizer import fit_table  # noqa: E402
from privsynth.transforms.discretize import Discretizer  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adult_train.csv"
DEFAULT_JSON = BENCH_DIR / "results" / "control_features.json"
DEFAULT_MD = BENCH_DIR / "results" / "control_features.md"
CONTROL_SEED = 2024
RATES = {"c1": 0.05, "c2": 0.70}
DECLARED = ["sex == 'Male' -> c1 == '0'", "sex == 'Male' -> c2 == '0'"]
SETTINGS = ("none", "declared", "declared-rake", "learned", "learned-rake")
QUICK_PARAMS: dict[str, dict[str, Any]] = {
    "mst": {"iters": 300},
    "aim": {"round_iters": 20, "final_iters": 200, "rounds": 24, "degree": 2},
    "dpcvae": {"epochs": 1, "batch_size": 256},
}


def add_controls(df: pd.DataFrame, seed: int = CONTROL_SEED) -> pd.DataFrame:
    """The table with c1 (5 % of women) and c2 (70 % of women); never positive for men."""
    rng = np.random.default_rng(seed)
    female = (df["sex"] == "Female").to_numpy()
    out = df.copy()
    for name, rate in RATES.items():
        out[name] = np.where(female & (rng.random(len(df)) < rate), "1", "0")
    return out


def control_schema(rules: Sequence[Any] = ()) -> Any:
    """The bundled Adult schema plus the two control columns (and ``rules``)."""
    data = schema_to_dict(load_schema(bundled_adult()[1]))
    data["columns"] += [{"name": c, "type": "categorical", "values": ["0", "1"]} for c in RATES]
    data["rules"] = list(rules)
    return schema_from_dict(data, where="control schema")


def rates(df: pd.DataFrame) -> dict[str, float | None]:
    """Positive rates of c1 and c2 among women and among men."""
    out: dict[str, float | None] = {}
    for sex, key in (("Female", "women"), ("Male", "men")):
        rows = df[df["sex"] == sex]
        for c in RATES:
            out[f"{key}_{c}"] = float((rows[c] == "1").mean()) if len(rows) else None
    return out


def quality(
    train: pd.DataFrame, test: pd.DataFrame, synth: pd.DataFrame, schema: Any
) -> dict[str, float]:
    """Mean 2-way TVD against the training split and TSTR AUC on the test split."""
    disc = Discretizer(schema)
    as_text = synth.astype(object).where(synth.notna(), schema.missing_values[0])
    codes = {
        name: disc.encode(t.astype(str), name)[0].codes
        for name, t in (("train", train), ("synthetic", as_text), ("test", test))
    }
    fid = marginal_fidelity(codes["train"], codes["synthetic"], disc.domain, max_order=2)
    tvd2 = float(np.mean([m.tvd for m in fid.of_order(2)]))
    frames = {k: pd.DataFrame(v) for k, v in codes.items()}
    auc = _common.tstr_auc(frames["synthetic"], frames["test"], disc.domain.to_dict(), "income")
    return {"tvd2": tvd2, "auc": auc}


def run_one(
    generator: str,
    eps: float,
    setting: str,
    train: pd.DataFrame,
    test: pd.DataFrame,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Fit and score one (generator, epsilon, setting)."""
    rng = np.random.default_rng(args.seed)
    params = QUICK_PARAMS.get(generator, {}) if args.quick else {}
    fit_eps, learned_info, prior = eps, None, None
    schema = control_schema(DECLARED if setting.startswith("declared") else ())
    start = time.perf_counter()
    if setting.startswith("learned"):
        rho = epsilon_to_zcdp(eps, args.delta)
        learn_eps = zcdp_to_epsilon(args.learn_share * rho, args.delta)
        fit_eps = zcdp_to_epsilon((1 - args.learn_share) * rho, args.delta)
        ledger = Ledger(learn_eps, args.delta)
        learned = learn_rules(train, schema, ledger, rng, max_fraction=args.max_fraction)
        ranked = list(learned.candidates)  # strongest evidence first
        ranked = ranked[: args.max_learned or None]
        ids = [c.id for c in ranked]
        if ids:
            schema, _ = accept_candidates(schema, learned.to_dict(), ids, "bench")
        learned_info = {
            "learn_epsilon": learn_eps,
            "fit_epsilon": fit_eps,
            "rho_learn": ledger.rho_spent,
            "candidates": len(learned.candidates),
            "accepted": [
                f"{c.columns[0]}={c.values[0]} & {c.columns[1]}={c.values[1]}" for c in ranked
            ],
            "reused": False,
            "found_controls": sorted(
                {
                    c.columns[1]
                    for c in learned.candidates
                    if c.columns[0] == "sex" and c.values[0] == "Male" and c.columns[1] in RATES
                }
            ),
        }
        if args.reuse and getattr(get_generator(generator, **params), "reuses_measurements", 0):
            # The fit builds on the learner's noisy marginals: its ledger records them first
            # and spends the rest of the same total.
            prior, fit_eps = learned.prior("bench: rules learn"), eps
            learned_info["reused"] = True
    synth, _ = fit_table(
        train,
        schema,
        generator=generator,
        epsilon=fit_eps,
        delta=args.delta,
        rng=rng,
        params=params,
        prior=prior,
    )
    strategy = "rake" if setting.endswith("-rake") else "reject"
    # Several draws from the one fit: a single draw's women's rate moves by about 1.6 points.
    samples = [synth.sample(len(train), rng=rng, rule_strategy=strategy) for _ in range(args.draws)]
    wall = time.perf_counter() - start
    per_draw = [rates(s) for s in samples]
    record = {
        "generator": generator,
        "epsilon": eps,
        "setting": setting,
        "params": params,
        "rules": len(schema.rules),
        "wall_s": round(wall, 2),
        "epsilon_spent": synth.ledger.epsilon(),
        "draws": args.draws,
        **{k: float(np.mean([d[k] for d in per_draw])) for k in per_draw[0]},
        "rates_sd": {k: float(np.std([d[k] for d in per_draw], ddof=1)) for k in per_draw[0]}
        if args.draws > 1
        else None,
        **quality(train, test, samples[0], schema),
    }
    if learned_info is not None:
        record["learned"] = learned_info
    return record


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def render_markdown(result: dict[str, Any]) -> str:
    """The results table, with the exact command as heading."""
    lines = [
        f"`{result['command']}`",
        "",
        "# Control features: semantic integrity on Adult",
        "",
        f"- Date: {result['date']}; machine: {result['machine']['cpu_count']} CPUs, "
        f"{result['machine']['cpu_model']}; quick={result['quick']}.",
        f"- Data: `{result['data']}` ({result['rows']} rows, 80/20 split with seed 0); control "
        f"columns added with seed {CONTROL_SEED}: c1 positive for 5 % of women, c2 for 70 %, "
        "never for men.",
        f"- delta = {result['delta']:g}; seed {result['seed']}; learned rules use "
        f"{result['learn_share']:.0%} of the zCDP budget (max_fraction {result['max_fraction']}; "
        + (
            f"the first {result['max_learned']} candidates, strongest evidence first, accepted), "
            if result["max_learned"]
            else "every candidate accepted), "
        )
        + "the fit the rest, so each row spends the same total (epsilon, delta); "
        '"(reused)": the fit built on the learner\'s noisy marginals (aim and mst add them to their measurements, the networks combine them with the marginals they buy).',
        "- d_tvd2 / d_auc: difference to the same generator and epsilon without rules "
        "(negative d_tvd2 and positive d_auc are better).",
        "- Rates: mean over the run's draws from the one fit (± their sd where it drew more "
        "than one, `--draws`); tvd2 and AUC: the first draw.",
        "",
        "| generator | eps | rules | women c1 | women c2 | men c1 | men c2 | tvd2 | d_tvd2 "
        "| auc | d_auc | learned controls | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    real = result["real_rates"]
    lines.append(
        f"| real (train) | | | {_pct(real['women_c1'])} | {_pct(real['women_c2'])} | "
        f"{_pct(real['men_c1'])} | {_pct(real['men_c2'])} | | | | | | |"
    )
    for r in result["runs"]:
        if "error" in r:
            lines.append(
                f"| {r['generator']} | {r['epsilon']:g} | {r['setting']} | error: "
                f"{r['error'][:120]} | | | | | | | | | |"
            )
            continue
        learned = r.get("learned")
        found = ", ".join(learned["found_controls"]) or "none" if learned else ""
        if learned:
            found += f" ({len(learned['accepted'])} of {learned['candidates']} accepted)"
            found += " (reused)" if learned.get("reused") else ""
        sd = r.get("rates_sd") or {}
        keys = ("women_c1", "women_c2", "men_c1", "men_c2")
        rate = {k: _pct(r[k]) + (f" ± {100 * sd[k]:.1f}" if k in sd else "") for k in keys}
        lines.append(
            f"| {r['generator']} | {r['epsilon']:g} | {r['setting']} | {rate['women_c1']} | "
            f"{rate['women_c2']} | {rate['men_c1']} | {rate['men_c2']} | "
            f"{r['tvd2']:.4f} | {r.get('d_tvd2', 0):+.4f} | {r['auc']:.3f} | "
            f"{r.get('d_auc', 0):+.3f} | {found} | {r['wall_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    from privsynth.generators import REGISTRY, generator_class

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fast generators, small settings")
    p.add_argument("--generators", nargs="+", default=None, help="default: every generator")
    p.add_argument("--eps", nargs="+", type=float, default=[1.0, 10.0])
    p.add_argument(
        "--settings",
        nargs="+",
        choices=SETTINGS,
        default=list(SETTINGS),
        help="which settings to run (differences are to the first one run)",
    )
    p.add_argument(
        "--draws", type=int, default=1, help="samples per fit; rates are their mean (sd shown)"
    )
    p.add_argument("--delta", type=float, default=1e-9)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--learn-share", type=float, default=0.2)
    p.add_argument(
        "--no-reuse",
        dest="reuse",
        action="store_false",
        help="learned settings: fits do not build on the learner's noisy marginals",
    )
    p.add_argument("--max-fraction", type=float, default=0.005)
    p.add_argument(
        "--max-learned", type=int, default=0, help="learned rules accepted (0: every candidate)"
    )
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--out-json", type=Path, default=DEFAULT_JSON)
    p.add_argument("--out-md", type=Path, default=DEFAULT_MD)
    p.add_argument(
        "--merge",
        nargs="+",
        default=None,
        help="result files of earlier runs (same data, delta and seed) to join into one; "
        "FILE::G1,G2 takes only the runs of generators G1 and G2 from FILE",
    )
    args = p.parse_args(argv)
    if args.generators is None:
        tables = [n for n in sorted(REGISTRY) if getattr(generator_class(n), "supports_tables", 1)]
        args.generators = list(QUICK_PARAMS) if args.quick else tables
    return args


def merge(args: argparse.Namespace) -> int:
    """Join the runs of several result files (their commands joined by ' ; '); a (generator,
    epsilon, setting) already seen in an earlier file is skipped, so is a generator a
    ``FILE::G1,G2`` spec leaves out, and differences are taken to the run without rules of the
    same generator and epsilon from any of the files."""
    parts, only = [], []
    for spec in args.merge:
        path, _, gens = spec.partition("::")
        parts.append(json.loads(Path(path).read_text(encoding="utf-8")))
        only.append(set(gens.split(",")) if gens else None)
    keys = ("data", "rows", "delta", "seed", "quick")
    for other in parts[1:]:
        if any(other[k] != parts[0][k] for k in keys):
            raise SystemExit(f"--merge: the files differ in one of {keys}")
    runs, seen = [], set()
    for part, gens in zip(parts, only, strict=True):
        for r in part["runs"]:
            key = (r["generator"], r["epsilon"], r["setting"])
            if key not in seen and (
                gens is None or r["generator"] in gens
            ):  # a baseline re-run in a later file is the same fit
                seen.add(key)
                runs.append(r)
    # Differences are to the same generator and epsilon without rules, whichever file has it.
    base = {(r["generator"], r["epsilon"]): r for r in runs if r["setting"] == "none"}
    for r in runs:
        b = base.get((r["generator"], r["epsilon"]))
        if b is not None and "error" not in r and "error" not in b:
            r["d_tvd2"], r["d_auc"] = r["tvd2"] - b["tvd2"], r["auc"] - b["auc"]
    result = {**parts[0], "runs": runs}
    joined = ["python", "bench/control_features.py", "--merge", *args.merge]
    joined += ["--out-json", str(args.out_json), "--out-md", str(args.out_md)]
    result["command"] = " ; ".join([*(part["command"] for part in parts), shlex.join(joined)])
    result["date"] = " / ".join(part["date"] for part in parts)
    write(args, result)
    return 0


def write(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Rewrite the JSON and markdown (after every fit, so a long run can be read early)."""
    _common.write_json(args.out_json, result)
    args.out_md.write_text(render_markdown(result), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the grid and write the JSON and markdown results."""
    args = parse_args(argv)
    if args.merge:
        return merge(args)
    import torch

    from privsynth.tables import read_table

    # One thread per fit: the machines are shared, and runs are then comparable.
    torch.set_num_threads(1)

    df = add_controls(read_table(args.data))
    if args.quick:
        df = df.iloc[np.random.default_rng(0).permutation(len(df))[:6000]].reset_index(drop=True)
    train, test = _common.split_train_test(df)
    runs: list[dict[str, Any]] = []
    result = {
        "command": shlex.join(["python", "bench/control_features.py", *(argv or sys.argv[1:])]),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _common.machine_info(),
        "quick": args.quick,
        "data": str(args.data),
        "rows": len(df),
        "delta": args.delta,
        "seed": args.seed,
        "learn_share": args.learn_share,
        "max_fraction": args.max_fraction,
        "max_learned": args.max_learned,
        "real_rates": rates(train),
        "runs": runs,
    }
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    for generator in args.generators:
        for eps in args.eps:
            base = None
            for setting in args.settings:
                try:
                    r = run_one(generator, eps, setting, train, test, args)
                except Exception as exc:  # noqa: BLE001 - keep the grid going, report it
                    # An honest refusal (e.g. a quota the model cannot fill) is a result too.
                    kind = "" if isinstance(exc, PrivsynthError) else f"{type(exc).__name__}: "
                    runs.append(
                        {
                            "generator": generator,
                            "epsilon": eps,
                            "setting": setting,
                            "error": f"{kind}{exc}".splitlines()[0],
                        }
                    )
                    print(f"{generator} eps={eps:g} {setting}: error: {exc}", flush=True)
                    write(args, result)
                    continue
                base = base or r
                r["d_tvd2"], r["d_auc"] = r["tvd2"] - base["tvd2"], r["auc"] - base["auc"]
                runs.append(r)
                print(
                    f"{generator} eps={eps:g} {setting}: men c1 {_pct(r['men_c1'])}, "
                    f"women c1 {_pct(r['women_c1'])}, tvd2 {r['tvd2']:.4f}, auc {r['auc']:.3f}, "
                    f"{r['wall_s']:.0f}s",
                    flush=True,
                )
                write(args, result)
    print(f"wrote {args.out_json} and {args.out_md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
