"""Schema declarations: validation, round trips, and one-line errors naming file and column."""

from __future__ import annotations

import json

import pytest
import yaml

from privsynth.errors import SchemaError
from privsynth.schema import load_schema, save_schema, schema_from_dict, schema_to_dict


def _base():
    return {
        "label": "y",
        "columns": [
            {"name": "a", "type": "categorical", "values": ["x", "y"], "nullable": True},
            {"name": "b", "type": "integer", "lower": 0, "upper": 10},
            {"name": "c", "type": "continuous", "lower": 0.0, "upper": 1.0, "edges": [0, 0.5, 1]},
            {"name": "d", "type": "datetime", "lower": "2020-01-01", "upper": "2021-01-01"},
            {"name": "y", "type": "categorical", "values": ["no", "yes"]},
        ],
    }


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip(tmp_path, suffix):
    schema = schema_from_dict(_base())
    path = tmp_path / f"s{suffix}"
    save_schema(schema, path)
    again = load_schema(path)
    assert schema_to_dict(again) == schema_to_dict(schema)
    assert again.names == ("a", "b", "c", "d", "y")


def test_upper_below_lower_names_file_and_column(tmp_path):
    data = _base()
    data["columns"][1]["upper"] = -1
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SchemaError) as err:
        load_schema(path)
    msg = str(err.value)
    assert str(path) in msg and "'b'" in msg and "-1" in msg and "\n" not in msg


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (
            lambda d: d["columns"].append({"name": "a", "type": "categorical", "values": ["q"]}),
            "declared twice",
        ),
        (lambda d: d["columns"][0].update(type="text"), "type must be one of"),
        (lambda d: d["columns"][1].pop("lower"), "lower"),
        (lambda d: d["columns"][0].update(values=["x", "x"]), "declared twice"),
        (lambda d: d.update(label="nope"), "label column 'nope'"),
        (lambda d: d["columns"][2].update(edges=[0, 0.7, 0.5, 1]), "increasing"),
        (lambda d: d["columns"][1].update(bogus=1), "unknown key"),
        (lambda d: d["columns"][1].update(lower="zero"), "must be a number"),
    ],
)
def test_malformed_schemas_are_refused(tmp_path, mutate, needle):
    data = _base()
    mutate(data)
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SchemaError, match=needle):
        load_schema(path)


def test_missing_and_unparsable_schema_files(tmp_path):
    with pytest.raises(SchemaError, match="not found"):
        load_schema(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SchemaError, match="not valid JSON"):
        load_schema(bad)


def test_integer_bins_one_per_value_when_range_is_small():
    schema = schema_from_dict(_base())
    edges = schema["b"].bin_edges()
    assert len(edges) - 1 == 11 and edges[0] == -0.5 and edges[-1] == 10.5
