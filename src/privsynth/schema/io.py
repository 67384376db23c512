"""Read and write schemas as YAML or JSON, with errors that name the file and column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from privsynth.errors import SchemaError
from privsynth.schema.columns import (
    CategoricalColumn,
    Column,
    DatetimeColumn,
    NumericColumn,
    Schema,
)
from privsynth.schema.rules import rule_to_spec, rules_from_list

_COMMON = {"name", "type", "nullable"}
_ALLOWED = {
    "categorical": _COMMON | {"values", "on_unknown", "other_label"},
    "integer": _COMMON | {"lower", "upper", "bins", "edges", "on_out_of_range"},
    "continuous": _COMMON | {"lower", "upper", "bins", "edges", "on_out_of_range"},
    "datetime": _COMMON | {"lower", "upper", "bins", "on_out_of_range"},
}


def _column_from_dict(spec: Any, where: str) -> Column:
    if not isinstance(spec, dict) or "name" not in spec:
        raise SchemaError(f"{where}: each column needs a mapping with a 'name'")
    name = str(spec["name"])
    kind = spec.get("type")
    if kind not in _ALLOWED:
        raise SchemaError(
            f"{where}: column {name!r}: type must be one of {sorted(_ALLOWED)}, got {kind!r}"
        )
    unknown = set(spec) - _ALLOWED[kind]
    if unknown:
        raise SchemaError(f"{where}: column {name!r}: unknown key(s) {sorted(unknown)}")
    nullable = bool(spec.get("nullable", False))
    try:
        if kind == "categorical":
            values = spec.get("values")
            if not isinstance(values, list):
                raise SchemaError(f"column {name!r}: categorical needs a list of 'values'")
            return CategoricalColumn(
                name,
                tuple(str(v) for v in values),
                nullable=nullable,
                on_unknown=spec.get("on_unknown", "error"),
                other_label=str(spec.get("other_label", "__other__")),
            )
        for bound in ("lower", "upper"):
            if bound not in spec:
                raise SchemaError(f"column {name!r}: {kind} needs a public '{bound}' bound")
        if kind == "datetime":
            return DatetimeColumn(
                name,
                str(spec["lower"]),
                str(spec["upper"]),
                bins=spec.get("bins", 32),
                nullable=nullable,
                on_out_of_range=spec.get("on_out_of_range", "clip"),
            )
        edges = spec.get("edges")
        return NumericColumn(
            name,
            kind,
            _number(spec["lower"], name, "lower"),
            _number(spec["upper"], name, "upper"),
            bins=spec.get("bins", 32),
            edges=tuple(float(e) for e in edges) if edges else None,
            nullable=nullable,
            on_out_of_range=spec.get("on_out_of_range", "clip"),
        )
    except SchemaError as exc:
        raise SchemaError(f"{where}: {exc}") from None


def _number(value: Any, name: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(f"column {name!r}: {key} must be a number, got {value!r}")
    return value


def schema_from_dict(data: Any, where: str = "schema") -> Schema:
    """Validate and build a :class:`Schema`; ``where`` names the source in errors."""
    if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
        raise SchemaError(f"{where}: expected a mapping with a 'columns' list")
    columns = tuple(_column_from_dict(c, where) for c in data["columns"])
    rules = rules_from_list(data.get("rules"), columns, where)
    missing = data.get("missing_values", [""])
    try:
        return Schema(
            columns,
            label=data.get("label"),
            missing_values=tuple(str(m) for m in missing),
            name=data.get("name"),
            provenance=data.get("provenance"),
            rules=rules,
        )
    except SchemaError as exc:
        raise SchemaError(f"{where}: {exc}") from None


def _column_to_dict(col: Column) -> dict[str, Any]:
    out: dict[str, Any] = {"name": col.name, "type": col.kind}
    if isinstance(col, CategoricalColumn):
        out["values"] = list(col.values)
        if col.on_unknown != "error":
            out["on_unknown"] = col.on_unknown
        if col.other_label != "__other__":
            out["other_label"] = col.other_label
    else:
        out["lower"], out["upper"] = col.lower, col.upper
        out["bins"] = col.bins
        if isinstance(col, NumericColumn) and col.edges is not None:
            out["edges"] = list(col.edges)
        if col.on_out_of_range != "clip":
            out["on_out_of_range"] = col.on_out_of_range
    if col.nullable:
        out["nullable"] = True
    return out


def schema_to_dict(schema: Schema) -> dict[str, Any]:
    """Plain data for YAML/JSON."""
    out: dict[str, Any] = {}
    if schema.name:
        out["name"] = schema.name
    if schema.label:
        out["label"] = schema.label
    out["missing_values"] = list(schema.missing_values)
    out["columns"] = [_column_to_dict(c) for c in schema.columns]
    if schema.rules:
        out["rules"] = [rule_to_spec(r) for r in schema.rules]
    if schema.provenance:
        out["provenance"] = schema.provenance
    return out


def load_schema(path: str | Path) -> Schema:
    """Load a YAML (.yaml/.yml) or JSON schema file."""
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: schema file not found")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0]
        raise SchemaError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {first}"
        ) from None
    return schema_from_dict(data, where=str(path))


def save_schema(schema: Schema, path: str | Path, fmt: str | None = None) -> None:
    """Write a schema as YAML, or JSON when ``fmt`` is "json" or the suffix is .json."""
    path = Path(path)
    data = schema_to_dict(schema)
    if (fmt or path.suffix.lower().lstrip(".")) == "json":
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
