"""``privsynth report``: one self-contained HTML report and the same numbers as JSON.

Register with ``app.command("report")(report_command)``. Everything is computed before anything
is written, and both files are written to temporary siblings first and renamed at the end, so a
failure leaves no partial output.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from privsynth.cli.common import errors_as_exit, out_console, progress_bar
from privsynth.errors import InputError


def read_json(path: Path) -> Any:
    """A JSON file's content, or InputError naming the file."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not a readable JSON file ({exc})") from None


def model_ledger(model: Path) -> tuple[dict[str, Any], str]:
    """The ledger (``Ledger.to_dict()``) and generator name of a model folder of either kind."""
    from privsynth.images.synthesizer import load_synthesizer

    synth = load_synthesizer(model)
    return synth.ledger.to_dict(), synth.generator


def table_shadow(model: Path | None) -> Any:
    """The shadow-model attack's generator for a table model folder (None otherwise)."""
    if model is None:
        return None
    from privsynth.evaluate.shadow import release_shadow
    from privsynth.images.synthesizer import load_synthesizer
    from privsynth.synthesizer import Synthesizer

    synth = load_synthesizer(model)
    return release_shadow(synth) if isinstance(synth, Synthesizer) else None


def write_pair(outputs: dict[Path, str]) -> None:
    """Write every ``{path: text}`` to a temporary sibling, then rename them all into place."""
    temps: list[tuple[Path, Path]] = []
    try:
        for path, text in outputs.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            temps.append((Path(tmp), path))
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        for tmp, path in temps:
            os.replace(tmp, path)
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)


def _table_inputs(
    real: Path,
    synthetic: Path,
    schema: Path | None,
    test: Path | None,
    seed: int,
    delimiter: str,
    model: Path | None = None,
) -> dict[str, Any]:
    """Evaluation, prepared tables and attack results of table data (attacks need ``test``;
    ``model`` adds the shadow-model attack)."""
    from privsynth.evaluate.evaluation import evaluate_prepared
    from privsynth.evaluate.inputs import prepare
    from privsynth.schema import load_schema
    from privsynth.tables import check_columns, read_table

    if schema is None:
        raise InputError(
            f"{real}: --schema is required for tables (image data is read from .npz files)"
        )
    sch = load_schema(schema)
    frames = {
        "real": check_columns(read_table(real, delimiter=delimiter), sch, real),
        "synthetic": check_columns(read_table(synthetic, delimiter=delimiter), sch, synthetic),
    }
    if test is not None:
        frames["test"] = check_columns(read_table(test, delimiter=delimiter), sch, test)
    prepared = prepare(frames, sch)
    with progress_bar() as progress:
        result = evaluate_prepared(
            prepared,
            seed=seed,
            progress=progress,
            attacks=test is not None,
            shadow=table_shadow(model) if test is not None else None,
        )
    evaluation = result.to_dict()
    return {
        "evaluation": evaluation,
        "prepared": prepared,
        "attacks": evaluation.pop("attacks", None),
        "dataset": sch.name or real.stem,
    }


def _image_inputs(
    real: Path, synthetic: Path, test: Path | None, seed: int, classes: int | None
) -> dict[str, Any]:
    """Evaluation and image grids of image data (``.npz``)."""
    from privsynth.cli.images import DEFAULT_CLASSES, evaluate_image_files
    from privsynth.images.data import load_images

    n_classes = DEFAULT_CLASSES if classes is None else classes
    result = evaluate_image_files(
        real, synthetic, test=test, output=None, seed=seed, n_classes=n_classes
    )
    images = {
        "synthetic": load_images(synthetic, "train", n_classes=n_classes),
        "real": load_images(real, "train", n_classes=n_classes),
    }
    return {
        "evaluation": result.to_dict(),
        "prepared": None,
        "images": images,
        "dataset": real.stem,
    }


def report_command(
    real: Annotated[Path, typer.Argument(help="The real (private) table, or real images .npz.")],
    synthetic: Annotated[Path, typer.Argument(help="The synthetic table or images .npz.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="HTML file to write; the JSON is written beside it (.json)."
        ),
    ],
    schema: Annotated[
        Path | None, typer.Option("--schema", "-s", help="Public schema; required for tables.")
    ] = None,
    test: Annotated[
        Path | None,
        typer.Option(
            "--test",
            help="Real holdout never used for fitting: tests classifiers and, for tables, "
            "runs the privacy attacks (its rows are the non-members).",
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Model folder: its privacy ledger goes in the report; for tables with --test "
            "it also drives the shadow-model attack (the same generator refitted on holdout rows).",
        ),
    ] = None,
    audit: Annotated[
        Path | None, typer.Option("--audit", help="JSON results of a privacy audit to include.")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the fixed classifiers, splits and attacks.")
    ] = 0,
    title: Annotated[str | None, typer.Option("--title", help="Title of the report.")] = None,
    delimiter: Annotated[
        str, typer.Option("--delimiter", help="Field delimiter of the CSV.")
    ] = ",",
    classes: Annotated[
        int | None,
        typer.Option("--classes", help="Number of image classes (image data only; default 10)."),
    ] = None,
) -> None:
    """Write a self-contained HTML report and its JSON (mostly NOT private: for the data owner).

    The page compares the synthetic data with the real data: fidelity, utility, privacy
    attacks (with --test), the ledger (with --model) and an audit (with --audit).
    """
    from privsynth.cli.images import is_image_file
    from privsynth.report import build_report

    with errors_as_exit():
        if output.suffix.lower() == ".json":
            raise InputError(f"{output}: --output names the HTML file; the JSON goes beside it")
        json_path = output.with_suffix(".json")
        audit_data = read_json(audit) if audit is not None else None
        ledger, generator = model_ledger(model) if model is not None else (None, None)
        if is_image_file(real) or is_image_file(synthetic):
            if schema is not None:
                raise InputError(f"{schema}: --schema applies to tables; {real} holds images")
            inputs = _image_inputs(real, synthetic, test, seed, classes)
        else:
            if classes is not None:
                raise InputError(f"{real}: --classes applies to image data (.npz) only")
            inputs = _table_inputs(real, synthetic, schema, test, seed, delimiter, model)
        meta = {
            "dataset": inputs["dataset"],
            "generator": generator,
            "model": str(model) if model else None,
            "real data": str(real),
            "synthetic data": str(synthetic),
            "holdout": str(test) if test else None,
        }
        html, data = build_report(
            evaluation=inputs["evaluation"],
            prepared=inputs["prepared"],
            ledger=ledger,
            attacks=inputs.get("attacks"),
            audit=audit_data,
            images=inputs.get("images"),
            title=title or f"Synthetic data report: {inputs['dataset']}",
            meta={k: v for k, v in meta.items() if v},
        )
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        write_pair({json_path: text, output: html})
    out_console.print(
        f"wrote {output} and {json_path} (sections: {', '.join(data['sections'])}); "
        "most of it is NOT private: for the data owner",
        highlight=False,
    )
