"""Reading user tables: every problem becomes one line naming the file, column and value."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from privsynth.errors import InputError
from privsynth.schema.columns import Schema

_OTHER_DELIMITERS = (";", "\t", "|")


def read_table(path: str | Path, *, delimiter: str = ",") -> pd.DataFrame:
    """Read a CSV (optionally gzipped) as strings, refusing malformed input.

    Every cell is kept as text; the schema decides how it is parsed. Refused: a missing file,
    an empty file or table, duplicate column names, and a file that evidently uses another
    delimiter than ``delimiter``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with _open_text(path) as fh:
            header = next(csv.reader(fh, delimiter=delimiter), None)
    except (UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{path}: cannot read as UTF-8 text: {exc}") from None
    if not header or all(not h.strip() for h in header):
        raise InputError(f"{path}: empty file (no header row)")
    if len(header) == 1:
        for other in _OTHER_DELIMITERS:
            if other in header[0]:
                shown = "tabs" if other == "\t" else f"'{other}'"
                raise InputError(
                    f"{path}: header {header[0][:60]!r} looks delimited by {shown}, "
                    f"not {delimiter!r}; pass the right --delimiter"
                )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputError(f"{path}: column {name!r}: duplicate column name in header")
        seen.add(name)
    try:
        df = pd.read_csv(
            path,
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            engine="c",
            compression="infer",
        )
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: malformed CSV: {str(exc).splitlines()[0]}") from None
    if len(df) == 0:
        raise InputError(f"{path}: empty table (a header but no rows)")
    return df


def _open_text(path: Path):  # noqa: ANN202
    if path.suffix == ".gz":
        import gzip

        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def check_columns(df: pd.DataFrame, schema: Schema, path: str | Path) -> pd.DataFrame:
    """Match data columns with the schema (both directions) and return them in schema order."""
    for name in df.columns:
        if name not in schema.names:
            raise InputError(
                f"{path}: column {name!r}: present in the data but not declared in the schema"
            )
    for name in schema.names:
        if name not in df.columns:
            raise InputError(
                f"{path}: column {name!r}: declared in the schema but absent from the data"
            )
    return df[list(schema.names)]
