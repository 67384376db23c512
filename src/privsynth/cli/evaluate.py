"""``privsynth evaluate``: compare synthetic data with the real data (NOT private)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from privsynth.cli.common import errors_as_exit, out_console, progress_bar, write_atomic
from privsynth.cli.options import Classes, Delimiter, image_classes, tables_only


def evaluate_command(
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
                n_classes=image_classes(classes),
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
        tables_only(classes, real)
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
