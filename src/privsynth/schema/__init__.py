"""Public metadata: what each column may contain, declared by the user or estimated with DP."""

from privsynth.schema.columns import (
    CategoricalColumn,
    Column,
    DatetimeColumn,
    NumericColumn,
    Schema,
)
from privsynth.schema.io import load_schema, save_schema, schema_from_dict, schema_to_dict

__all__ = [
    "CategoricalColumn",
    "Column",
    "DatetimeColumn",
    "NumericColumn",
    "Schema",
    "load_schema",
    "save_schema",
    "schema_from_dict",
    "schema_to_dict",
]
