"""``privsynth`` commands: fit, sample, evaluate, report, audit, schema infer, budget, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from privsynth.cli.audit import audit_command
from privsynth.cli.budget import budget_app
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
from privsynth.cli.evaluate import evaluate_command
from privsynth.cli.options import (
    Classes,
    DatasetName,
    Delimiter,
    LedgerPath,
    Seed,
    budget_store,
    image_classes,
    tables_only,
)
from privsynth.cli.report import report_command
from privsynth.cli.rules import rules_app
from privsynth.cli.schema_infer import schema_app

app = typer.Typer(
    help="Differentially private synthetic data with an honest privacy ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(schema_app, name="schema")
app.add_typer(budget_app, name="budget")
app.add_typer(rules_app, name="rules")


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
            "dpcvae, dpvae-mixture or pategan (tables or images); dpflow (tables); dppca "
            "(images; the default for images).",
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
    reuse: Annotated[
        Path | None,
        typer.Option(
            "--reuse",
            help="Candidates file from `rules learn` on the same DATA: aim and mst build on "
            "its noisy marginals, the networks that buy noisy marginals (marginal_share > 0) "
            "combine them with their own; their cost counts against --epsilon (the total of both).",
        ),
    ] = None,
) -> None:
    """Fit a DP generator on DATA and write the model folder.

    DATA is a CSV table (with --schema) or labelled images in a .npz.
    """
    from privsynth.cli.images import fit_image_file, is_image_file
    from privsynth.errors import InputError

    if is_image_file(data):
        with errors_as_exit():
            if schema is not None:
                raise InputError(f"{schema}: --schema applies to tables; {data} holds images")
            if reuse is not None:
                raise InputError(f"{reuse}: --reuse applies to tables; {data} holds images")
            n_classes = image_classes(classes)
            params = parse_params(param)
            _check_new_folder(output)
            store = budget_store(ledger)
            fit_image_file(
                data,
                output,
                generator=generator or "dppca",
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
        reuse=reuse,
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
    reuse: Path | None = None,
) -> None:
    """The table branch of ``fit`` (the schema is required here)."""
    from privsynth.errors import InputError
    from privsynth.schema import load_schema
    from privsynth.synthesizer import fit_table
    from privsynth.tables import read_table

    with errors_as_exit():
        if schema is None:
            raise InputError(
                f"{data}: --schema is required for a table (image data is read from .npz files)"
            )
        tables_only(classes, data)
        sch = load_schema(schema)
        params = parse_params(param)
        _check_new_folder(output)
        prior = None
        if reuse is not None:
            from dataclasses import replace

            from privsynth.schema.learn import load_candidates, prior_from_candidates

            found = load_candidates(reuse)
            prior = prior_from_candidates(found, str(reuse))
            paid_in = (found.get("provenance") or {}).get("ledger")
            if ledger is None or paid_in != str(ledger.resolve()):
                # Charged to another store, or to none: this fit's store pays it all again.
                prior = replace(prior, store_dataset=None)
        df = read_table(data, delimiter=delimiter)
        store = budget_store(ledger)
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
                prior=prior,
            )
        synth.save(output)
    led = synth.ledger
    how = (
        f"rho {led.rho_spent:.6g} of {led.rho_budget:.6g}"
        if led.composition == "zcdp"
        else "Renyi-DP composition of every step"
    )
    reused = f", including {reuse}'s marginals" if reuse is not None else ""
    out_console.print(
        f"fitted {generator} on {data}: spent epsilon={led.epsilon():.6g} of {led.epsilon_budget:g} "
        f"at delta={led.delta:g} ({how}{reused}); model in {output}"
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
    rule_strategy: Annotated[
        str,
        typer.Option(
            "--rule-strategy",
            help="How rows that break the schema's rules are handled (tables): rake (the "
            "default: move the consequent of a broken implication, keeping its frequencies, "
            "then reject what still breaks a rule) or reject (only draw again).",
        ),
    ] = "rake",
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
            df = synth.sample(
                n, rng=make_rng(seed), where=parse_where(where), rule_strategy=rule_strategy
            )
        missing = synth.schema.missing_values[0] if synth.schema.missing_values else ""
        write_atomic(output, lambda p: df.to_csv(p, index=False, na_rep=missing))
    out_console.print(f"wrote {len(df)} rows to {output}")


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


app.command("evaluate")(evaluate_command)
app.command("report")(report_command)
app.command("audit")(audit_command)


def main() -> None:  # pragma: no cover - console entry point
    """Entry point."""
    app()
