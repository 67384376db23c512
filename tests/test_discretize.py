"""The public encoding: codes, out-of-schema handling (counted), missing values, decoding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privsynth.errors import InputError
from privsynth.schema import schema_from_dict
from privsynth.transforms import Discretizer


def _schema(on_unknown="other", on_out="clip"):
    return schema_from_dict(
        {
            "missing_values": ["?"],
            "columns": [
                {
                    "name": "c",
                    "type": "categorical",
                    "values": ["a", "b"],
                    "on_unknown": on_unknown,
                    "nullable": True,
                },
                {
                    "name": "i",
                    "type": "integer",
                    "lower": 0,
                    "upper": 99,
                    "bins": 10,
                    "on_out_of_range": on_out,
                },
                {"name": "f", "type": "continuous", "lower": -1.0, "upper": 1.0, "bins": 4},
                {
                    "name": "t",
                    "type": "datetime",
                    "lower": "2020-01-01",
                    "upper": "2020-12-31",
                    "bins": 12,
                },
            ],
        }
    )


def _frame():
    return pd.DataFrame(
        {
            "c": ["a", "b", "zzz", "?"],
            "i": ["0", "55", "150", "-3"],
            "f": ["-1", "0.2", "1", "0.999"],
            "t": ["2020-01-01", "2020-06-15", "2020-12-31", "2020-03-03"],
        }
    )


def test_domain_sizes():
    d = Discretizer(_schema())
    assert d.domain.to_dict() == {"c": 4, "i": 10, "f": 4, "t": 12}


def test_encode_counts_changes_and_maps_other():
    d = Discretizer(_schema())
    table, report = d.encode(_frame(), "x.csv")
    assert table.codes["c"].tolist() == [0, 1, 2, 3]
    assert table.codes["i"].tolist() == [0, 5, 9, 0]
    assert table.codes["f"].tolist() == [0, 2, 3, 3]
    assert report.changes == {
        "c": {"mapped_to_other": 1, "missing": 1},
        "i": {"clipped_low": 1, "clipped_high": 1},
    }


def test_error_policies_name_file_column_value():
    with pytest.raises(InputError, match=r"x.csv: column 'c': value 'zzz'"):
        Discretizer(_schema(on_unknown="error")).encode(_frame(), "x.csv")
    with pytest.raises(InputError, match=r"x.csv: column 'i': value '150' lies outside"):
        Discretizer(_schema(on_out="error")).encode(_frame(), "x.csv")
    bad = _frame().assign(f=["x", "0", "0", "0"])
    with pytest.raises(InputError, match=r"column 'f': value 'x' is not a valid continuous"):
        Discretizer(_schema()).encode(bad, "x.csv")
    missing = _frame().assign(i=["?", "1", "2", "3"])
    with pytest.raises(
        InputError, match=r"column 'i': missing value '\?'.*not declare it nullable"
    ):
        Discretizer(_schema()).encode(missing, "x.csv")


def test_decode_lands_inside_bins_and_round_trips_codes():
    d = Discretizer(_schema())
    rng = np.random.default_rng(0)
    n = 2000
    codes = {a: rng.integers(0, d.domain[a], n) for a in d.domain}
    out = d.decode(codes, rng)
    assert out["c"].isna().sum() == (codes["c"] == 3).sum()
    assert set(out["c"].dropna()) <= {"a", "b", "__other__"}
    assert out["i"].between(0, 99).all() and out["f"].between(-1, 1).all()
    # decoding then encoding gives the same codes (except the "other" label, which is unknown text)
    text = out.astype(object).where(out.notna(), "?").astype(str)
    text["t"] = out["t"].dt.strftime("%Y-%m-%d %H:%M:%S")
    again, _ = d.encode(text, "roundtrip")
    for a in ("i", "f", "t"):
        assert np.array_equal(again.codes[a], codes[a]), a


def test_codes_for_where_conditions():
    d = Discretizer(_schema())
    assert d.codes_for("c", ["b", "?"]) == [1, 3]
    with pytest.raises(InputError, match="value 'q' is not a declared value"):
        d.codes_for("c", ["q"])
    with pytest.raises(InputError, match="conditions take categorical columns"):
        d.codes_for("i", ["1"])
