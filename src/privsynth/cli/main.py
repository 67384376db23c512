"""``privsynth`` commands: fit, sample, evaluate, report, audit, schema infer, budget, demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from privsynth.cli.audit import audit_command
from privsynth.cli.common import (
    console,
    errors_as_exit,
    make_rng,
    out_console,
    parse_params,
    parse_where,
    progress_bar,
    write_atomic,
)
from privsynth.cli.report import report_command
from privsynth.cli.rules import rules_app

app = typer.Typer(
    help="Differentially private synthetic data with an honest privacy ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="Build a public schema.", no_args_is_help=True)
budget_app = typer.Typer(
    help="Lifetime privacy budgets kept in a SQLite ledger file.", no_args_is_help=True
)
app.add_typer(schema_app, name="schema")
app.add_typer(budget_app, name="budget")
app.command("audit")(audit_command)
app.command("report")(report_command)
app.add_typer(rules_app, name="rules")

Seed = Annotated[
    int | None,
    typer.Option("--seed", help="Seed for reproducible output; fresh randomness if omitted."),
]
Delimiter = Annotated[str, typer.Option("--delimiter", help="Field delimiter of the CSV.")]
LedgerPath = Annotated[
    Path | None, typer.Option("--ledger", help="SQLite file with lifetime budgets.")
]
DatasetName = Annotated[
    str | None,
    typer.Option(
        "--dataset", help="Dataset name in the --ledger file (default: the schema's name)."
    ),
]


def _store(ledger: Path | None):  # noqa: ANN202
    if ledger is None:
        return None
    from privsynth.privacy.store import SqliteBudgetStore

    return SqliteBudgetStore(ledger)


Classes = Annotated[
    int | None,
    typer.Option("--classes", help="Number of image classes (image data only; default 10)."),
]


def _image_classes(classes: int | None) -> int:
    from privsynth.cli.images import DEFAULT_CLASSES

    return DEFAULT_CLASSES if classes is None else classes


def _tables_only(classes: int | None, data: Path) -> None:
    """``--classes`` has no meaning for tables: refuse it rather than ignore it."""
    if classes is not None:
        from privsynth.errors import InputError

        raise InputError(f"{data}: --classes applies to image data (.npz) only")


def _check_new_folder(output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        from privsynth.errors import InputError

        raise InputError(f"{output}: output exists and is not an empty folder; choose a new path")


@app.command()
def fit(
    data: Annotated[
        Path, typer.Argument(help="CSV file with the private table, or a .npz of images.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model folder to create.")],
    schema: Annotated[
        Path | None,
        typer.Option(
            "--schema", "-s", help="Public schema (YAML or JSON); required for a CSV table."
        ),
    ] = None,
    generator: Annotated[
        str | None,
        typer.Option(
            "--generator",
            "-g",
            help="independent, mst or aim (tables; default aim); dpgan, dpgan-laplace, "
            "dpcvae, dpvae-mixture or pategan (tables or images; default dpgan for images).",
        ),
    ] = None,
    epsilon: Annotated[
        float, typer.Option("--epsilon", help="Privacy budget epsilon (> 0).")
    ] = 1.0,
    delta: Annotated[float, typer.Option("--delta", help="Privacy budget delta (< 1/n).")] = 1e-9,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Generator hyperparameter key=value (repeatable)."),
    ] = None,
    seed: Seed = None,
    delimiter: Delimiter = ",",
    ledger: LedgerPath = None,
    dataset: DatasetName = None,
    classes: Classes = None,
) -> None:
    """Fit a DP generator on DATA (a CSV table, or labelled images in a .npz) and write the
    model folder."""
    from privsynth.cli.images import fit_image_file, is_image_file
    from privsynth.errors import InputError

    if is_image_file(data):
        with errors_as_exit():
            if schema is not None:
                raise InputError(f"{schema}: --schema applies to tables; {data} holds images")
            n_classes = _image_classes(classes)
            params = parse_params(param)
            _check_new_folder(output)
            store = _store(ledger)
            fit_image_file(
                data,
                output,
                generator=generator or "dpgan",
                epsilon=epsilon,
                delta=delta,
                params=params,
                seed=seed,
                store=store,
                dataset=(dataset or data.stem) if store else None,
                n_classes=n_classes,
            )
        return
    _fit_table(
        data,
        schema,
        output,
        generator=generator or "aim",
        epsilon=epsilon,
        delta=delta,
        param=param,
        seed=seed,
        delimiter=delimiter,
        ledger=ledger,
        dataset=dataset,
        classes=classes,
    )


def _fit_table(
    data: Path,
    schema: Path | None,
    output: Path,
    *,
    generator: str,
    epsilon: float,
    delta: float,
    param: list[str] | None,
    seed: int | None,
    delimiter: str,
    ledger: Path | None,
    dataset: str | None,
    classes: int | None,
) -> None:
    """The table branch of ``fit`` (unchanged behaviour; the schema is required here)."""
    from privsynth.errors import InputError
    from privsynth.schema import load_schema
    from privsynth.synthesizer import fit_table
    from privsynth.tables import read_table

    with errors_as_exit():
        if schema is None:
            raise InputError(
                f"{data}: --schema is required for a table (image data is read from .npz files)"
            )
        _tables_only(classes, data)
        sch = load_schema(schema)
        params = parse_params(param)
        _check_new_folder(output)
        df = read_table(data, delimiter=delimiter)
        store = _store(ledger)
        name = dataset or sch.name or data.stem
        with progress_bar() as progress:
            synth, report = fit_table(
                df,
                sch,
                generator=generator,
                epsilon=epsilon,
                delta=delta,
                rng=make_rng(seed),
                params=params,
                source=data,
                store=store,
                dataset=name if store else None,
                progress=progress,
            )
        synth.save(output)
    led = synth.ledger
    how = (
        f"rho {led.rho_spent:.6g} of {led.rho_budget:.6g}"
        if led.composition == "zcdp"
        else "Renyi-DP composition of every step"
    )
    out_console.print(
        f"fitted {generator} on {data}: spent epsilon={led.epsilon():.6g} of {led.epsilon_budget:g} "
        f"at delta={led.delta:g} ({how}); model in {output}"
    )
    if report.changes:
        out_console.print("values changed to fit the schema (not private — for the data owner):")
        for col, changes in report.changes.items():
            out_console.print(f"  {col}: " + ", ".join(f"{k}={v}" for k, v in changes.items()))


@app.command()
def sample(
    model: Annotated[Path, typer.Argument(help="Model folder written by `privsynth fit`.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="CSV file to write (tables), or .npz/.png for images (both are written).",
        ),
    ],
    n: Annotated[
        int | None,
        typer.Option(
            "-n",
            "--rows",
            help="Rows or images to sample (default: the model's noisy count).",
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="Condition column=value[,value] (repeatable; tables)."),
    ] = None,
    label: Annotated[
        list[int] | None,
        typer.Option("--label", help="Only these image classes (repeatable; images)."),
    ] = None,
    top: Annotated[
        str | None,
        typer.Option(
            "--top",
            help="Targeted sampling: COLUMN=Q draws rows from the model's own top Q share of a "
            "numeric column (e.g. capital-gain=0.01; tables).",
        ),
    ] = None,
    seed: Seed = None,
) -> None:
    """Sample synthetic rows or images from a model folder (post-processing: costs no budget)."""
    from privsynth.errors import InputError
    from privsynth.images.synthesizer import ImageSynthesizer, load_synthesizer

    with errors_as_exit():
        synth = load_synthesizer(model)
        if isinstance(synth, ImageSynthesizer):
            from privsynth.cli.images import sample_image_model

            if where:
                raise InputError(
                    f"{model}: --where applies to table models; this is an image model "
                    "(use --label)"
                )
            npz, png, count = sample_image_model(synth, output, n=n, labels=label, seed=seed)
            out_console.print(f"wrote {count} images to {npz} and a grid to {png}")
            return
        if label:
            raise InputError(
                f"{model}: --label applies to image models; this is a table model (use --where)"
            )
        if top is not None:
            from privsynth.targeted import sample_top

            column, _, share = top.partition("=")
            try:
                q = float(share)
            except ValueError:
                raise InputError(f"--top: expected COLUMN=SHARE, got {top!r}") from None
            rows = n if n is not None else 1000
            targeted = sample_top(
                synth, column, q, rows, rng=make_rng(seed), where=parse_where(where)
            )
            df = targeted.rows
            console.print(targeted.summary(), highlight=False)
        else:
            df = synth.sample(n, rng=make_rng(seed), where=parse_where(where))
        missing = synth.schema.missing_values[0] if synth.schema.missing_values else ""
        write_atomic(output, lambda p: df.to_csv(p, index=False, na_rep=missing))
    out_console.print(f"wrote {len(df)} rows to {output}")


@app.command()
def evaluate(
    real: Annotated[Path, typer.Argument(help="The real (private) table, or real images .npz.")],
    synthetic: Annotated[Path, typer.Argument(help="The synthetic table or images .npz.")],
    schema: Annotated[
        Path | None,
        typer.Option("--schema", "-s", help="Public schema; required for tables."),
    ] = None,
    test: Annotated[
        Path | None,
        typer.Option(
            "--test",
            help="Real holdout for testing classifiers (images: default the x_test split of REAL).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the results as JSON.")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the fixed classifiers and splits.")
    ] = 0,
    delimiter: Delimiter = ",",
    classes: Classes = None,
    attacks: Annotated[
        bool | None,
        typer.Option(
            "--attacks/--no-attacks",
            help="Run the privacy attacks (tables; default: on when --test is given, whose rows "
            "are then the non-members: REAL must be exactly the rows the model was fitted on).",
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="Model folder of the release: adds the shadow-model attack (tables)."
        ),
    ] = None,
) -> None:
    """Compare synthetic data with the real data (results are NOT private)."""
    from privsynth.cli.images import evaluate_image_files, is_image_file
    from privsynth.errors import InputError

    if is_image_file(real) or is_image_file(synthetic):
        with errors_as_exit():
            if schema is not None:
                raise InputError(f"{schema}: --schema applies to tables; {real} holds images")
            result = evaluate_image_files(
                real,
                synthetic,
                test=test,
                output=output,
                seed=seed,
                n_classes=_image_classes(classes),
            )
        out_console.print(result.to_rich())
        return

    from privsynth.evaluate import evaluate as run_evaluation
    from privsynth.schema import load_schema
    from privsynth.tables import check_columns, read_table

    with errors_as_exit():
        if schema is None:
            raise InputError(
                f"{real}: --schema is required for tables (image data is read from .npz files)"
            )
        _tables_only(classes, real)
        sch = load_schema(schema)
        real_df = check_columns(read_table(real, delimiter=delimiter), sch, real)
        synth_df = check_columns(read_table(synthetic, delimiter=delimiter), sch, synthetic)
        test_df = check_columns(read_table(test, delimiter=delimiter), sch, test) if test else None
        run_attacks = test is not None if attacks is None else attacks
        if run_attacks and test is None:
            raise InputError(f"{real}: --attacks needs --test (a real holdout: the non-members)")
        from privsynth.cli.report import table_shadow

        shadow = table_shadow(model) if run_attacks else None
        with progress_bar() as progress:
            result = run_evaluation(
                real_df,
                synth_df,
                sch,
                test=test_df,
                seed=seed,
                progress=progress,
                attacks=run_attacks,
                shadow=shadow,
            )
        if output:
            text = json.dumps(result.to_dict(), indent=2)
            write_atomic(output, lambda p: p.write_text(text + "\n", encoding="utf-8"))
    out_console.print(result.to_rich())


@schema_app.command("infer")
def schema_infer(
    data: Annotated[Path, typer.Argument(help="CSV file to describe.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Schema file to write (.yaml or .json).")
    ],
    public: Annotated[
        bool, typer.Option("--public", help="The data is already public: read it freely.")
    ] = False,
    epsilon: Annotated[
        float | None, typer.Option("--epsilon", help="Budget spent on DP inference.")
    ] = None,
    delta: Annotated[
        float | None, typer.Option("--delta", help="Delta spent on DP inference.")
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="Label column for machine-learning evaluation.")
    ] = None,
    missing: Annotated[
        list[str] | None,
        typer.Option("--missing", help="Text that marks a missing value (repeatable)."),
    ] = None,
    bins: Annotated[int, typer.Option("--bins", help="Bins per numeric column.")] = 16,
    seed: Seed = None,
    delimiter: Delimiter = ",",
    ledger: LedgerPath = None,
    dataset: DatasetName = None,
) -> None:
    """Build a schema either with a DP mechanism (--epsilon/--delta) or, for public data, --public."""
    from privsynth.errors import InputError
    from privsynth.schema import save_schema
    from privsynth.schema.infer import infer_dp, infer_public
    from privsynth.tables import read_table

    with errors_as_exit():
        if public == (epsilon is not None):
            raise InputError(
                "schema infer: choose exactly one of --public (data already public) or "
                "--epsilon/--delta (spend privacy budget on DP inference)"
            )
        if output.exists():
            raise InputError(f"{output}: output exists; choose a new path")
        df = read_table(data, delimiter=delimiter)
        missing_values = tuple(missing) if missing else ("",)
        if label is not None and label not in df.columns:
            raise InputError(
                f"{data}: column {label!r}: --label names a column absent from the data"
            )
        name = dataset or data.stem
        if public:
            sch = infer_public(df, label=label, missing_values=missing_values, bins=bins, name=name)
        else:
            from privsynth.schema.infer import dp_inference_ledger

            if delta is None:
                raise InputError("schema infer: --delta is required with --epsilon")
            store = _store(ledger)
            led = dp_inference_ledger(epsilon, delta, store=store, dataset=name if store else None)
            sch = infer_dp(
                df,
                led,
                rng=make_rng(seed),
                label=label,
                missing_values=missing_values,
                bins=bins,
                name=name,
                source=str(data),
            )
        fmt = "json" if output.suffix.lower() == ".json" else "yaml"
        write_atomic(output, lambda p: save_schema(sch, p, fmt=fmt))
    how = "public (read freely)" if public else f"DP, epsilon={epsilon:g}, delta={delta:g}"
    out_console.print(f"wrote schema with {len(sch.columns)} columns to {output} ({how})")


@budget_app.command("set")
def budget_set(
    ledger: Annotated[
        Path, typer.Option("--ledger", help="SQLite ledger file (created if absent).")
    ],
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset name.")],
    epsilon: Annotated[float, typer.Option("--epsilon", help="Lifetime epsilon.")],
    delta: Annotated[float, typer.Option("--delta", help="Lifetime delta.")],
) -> None:
    """Set the lifetime budget of a dataset."""
    from privsynth.privacy.ledger import validate_budget
    from privsynth.privacy.store import SqliteBudgetStore

    with errors_as_exit():
        validate_budget(epsilon, delta)
        SqliteBudgetStore(ledger).set_budget(dataset, epsilon, delta)
    out_console.print(
        f"{dataset}: lifetime budget epsilon={epsilon:g}, delta={delta:g} in {ledger}"
    )


@budget_app.command("show")
def budget_show(
    ledger: Annotated[Path, typer.Option("--ledger", help="SQLite ledger file.")],
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Dataset name (default: all).")
    ] = None,
    history: Annotated[bool, typer.Option("--history", help="List every charge.")] = False,
) -> None:
    """Show lifetime budgets, what has been spent and (optionally) every charge."""
    from rich.table import Table

    from privsynth.errors import InputError
    from privsynth.privacy.store import SqliteBudgetStore

    with errors_as_exit():
        if not ledger.is_file():
            raise InputError(f"{ledger}: ledger file not found")
        store = SqliteBudgetStore(ledger)
        names = [dataset] if dataset else store.datasets()
        table = Table(title=f"privacy budgets in {ledger}")
        for col in ("dataset", "epsilon budget", "delta", "epsilon spent", "rho spent / budget"):
            table.add_column(col)
        rows = []
        for name in names:
            st = store.status(name)
            table.add_row(
                name,
                f"{st['epsilon_budget']:g}",
                f"{st['delta']:g}",
                f"{st['epsilon_spent']:.6g}",
                f"{st['rho_spent']:.6g} / {st['rho_budget']:.6g}",
            )
            if history:
                rows.extend((name, h) for h in store.history(name))
    out_console.print(table)
    for name, h in rows:
        cost = f"epsilon={h['epsilon']:.6g} (basic)" if h.get("epsilon") else f"rho={h['rho']:.6g}"
        out_console.print(f"{name}  {h['timestamp']}  {cost}  {h['label']}")


@app.command()
def demo(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for the demo's results.")
    ] = Path("privsynth-demo"),
    epsilon: Annotated[float, typer.Option("--epsilon", help="Privacy budget epsilon.")] = 1.0,
    generator: Annotated[
        str, typer.Option("--generator", "-g", help="Generator to demonstrate.")
    ] = "aim",
    seed: Seed = None,
) -> None:
    """Synthesize the bundled UCI Adult table with AIM at epsilon=1, evaluate it, write results."""
    from privsynth.cli.demo import run_demo

    with errors_as_exit():
        run_demo(output, epsilon=epsilon, generator=generator, seed=seed)


def main() -> None:  # pragma: no cover - console entry point
    """Entry point."""
    app()
