"""``privsynth demo``: the whole flow on the bundled UCI Adult table."""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

import numpy as np

from privsynth.cli.common import make_rng, out_console, progress_bar, write_atomic
from privsynth.errors import InputError

DEMO_DELTA = 1e-9
SPLIT_SEED = 0  # a fixed, public split: which rows go to the holdout depends on no data value


def bundled_adult() -> tuple[Path, Path]:
    """Paths of the bundled Adult CSV (gzipped) and its public schema."""
    root = resources.files("privsynth") / "data"
    return Path(str(root / "adult.csv.gz")), Path(str(root / "adult.yaml"))


def run_demo(output: Path, *, epsilon: float, generator: str, seed: int | None) -> None:
    """Fit on 80 % of Adult, sample, evaluate against the 20 % holdout, write everything."""
    from privsynth.evaluate import evaluate
    from privsynth.schema import load_schema
    from privsynth.synthesizer import fit_table
    from privsynth.tables import check_columns, read_table

    if output.exists() and any(output.iterdir()):
        raise InputError(
            f"{output}: output folder exists and is not empty; choose a new one with -o"
        )
    data_path, schema_path = bundled_adult()
    schema = load_schema(schema_path)
    df = check_columns(read_table(data_path), schema, data_path)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(df))
    cut = int(0.8 * len(df))
    train, test = (
        df.iloc[order[:cut]].reset_index(drop=True),
        df.iloc[order[cut:]].reset_index(drop=True),
    )
    rng = make_rng(seed)

    out_console.print(
        f"privsynth demo: {generator} on UCI Adult ({len(train)} training rows, {len(test)} held out), "
        f"epsilon={epsilon:g}, delta={DEMO_DELTA:g}"
    )
    t0 = time.perf_counter()
    with progress_bar() as progress:
        synth, _ = fit_table(
            train,
            schema,
            generator=generator,
            epsilon=epsilon,
            delta=DEMO_DELTA,
            rng=rng,
            source=data_path,
            progress=progress,
        )
    fit_s = time.perf_counter() - t0
    synthetic = synth.sample(rng=rng)
    output.mkdir(parents=True, exist_ok=True)
    synth.save(output / "model")
    missing = schema.missing_values[0]
    write_atomic(
        output / "synthetic.csv", lambda p: synthetic.to_csv(p, index=False, na_rep=missing)
    )
    t1 = time.perf_counter()
    with progress_bar() as progress:
        result = evaluate(
            train,
            synthetic.astype(str).replace({"<NA>": missing, "None": missing}),
            schema,
            test=test,
            seed=0,
            progress=progress,
        )
    eval_s = time.perf_counter() - t1
    summary = {
        "generator": generator,
        "epsilon_budget": epsilon,
        "delta": DEMO_DELTA,
        "epsilon_spent": synth.ledger.epsilon(),
        "fit_seconds": fit_s,
        "evaluate_seconds": eval_s,
        "rows": {"train": len(train), "test": len(test), "synthetic": len(synthetic)},
        "ledger": synth.ledger.to_dict(),
        "evaluation": result.to_dict(),
    }
    text = json.dumps(summary, indent=2)
    write_atomic(output / "results.json", lambda p: p.write_text(text + "\n", encoding="utf-8"))
    write_atomic(
        output / "results.md", lambda p: p.write_text(result.to_table() + "\n", encoding="utf-8")
    )
    out_console.print(result.to_rich())
    out_console.print(
        f"fit {fit_s:.1f} s, evaluation {eval_s:.1f} s; epsilon spent {synth.ledger.epsilon():.4g} of "
        f"{epsilon:g}. Wrote {output}/model, synthetic.csv, results.json, results.md"
    )
