"""Bad input files: one line naming the file, column and value; nothing else happens."""

from __future__ import annotations

import gzip

import pytest

from privsynth.errors import InputError
from privsynth.schema import schema_from_dict
from privsynth.tables import check_columns, read_table


def _write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_strings_and_gzip(tmp_path):
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("a,b\n1,x\n,y\n")
    df = read_table(path)
    assert list(df.columns) == ["a", "b"] and df["a"].tolist() == ["1", ""]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty file"),
        ("a,b\n", "empty table"),
        ("a;b;c\n1;2;3\n", "delimited by ';'"),
        ("a\tb\n1\t2\n", "delimited by tabs"),
        ("a,b,a\n1,2,3\n", "column 'a': duplicate column name"),
    ],
)
def test_malformed_files(tmp_path, text, needle):
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=needle) as err:
        read_table(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_table(tmp_path / "nope.csv")


def test_columns_must_match_schema_both_ways(tmp_path):
    schema = schema_from_dict(
        {
            "columns": [
                {"name": "a", "type": "categorical", "values": ["1"]},
                {"name": "b", "type": "categorical", "values": ["x"]},
            ]
        }
    )
    extra = read_table(_write(tmp_path, "a,b,c\n1,x,z\n"))
    with pytest.raises(InputError, match="column 'c': present in the data but not declared"):
        check_columns(extra, schema, "t.csv")
    short = read_table(_write(tmp_path, "a\n1\n", "s.csv"))
    with pytest.raises(InputError, match="column 'b': declared in the schema but absent"):
        check_columns(short, schema, "s.csv")
    ordered = check_columns(read_table(_write(tmp_path, "b,a\nx,1\n", "o.csv")), schema, "o.csv")
    assert list(ordered.columns) == ["a", "b"]
