"""One error hierarchy. Every message names the file, column and value it is about."""

from __future__ import annotations


class PrivsynthError(Exception):
    """Base of every error privsynth raises on purpose (the CLI prints it in one line)."""


class InputError(PrivsynthError):
    """Bad user input: a data file, schema, option or model folder that cannot be used."""


class SchemaError(InputError):
    """A schema that is malformed or does not match the data."""


class ModelFileError(InputError):
    """A model folder that is missing, corrupted or truncated."""


class BudgetExceeded(PrivsynthError):
    """A spend that would exceed the privacy budget; the ledger is left unchanged."""


class PrivacyError(PrivsynthError):
    """A request that would break the privacy guarantee (refused before anything is read)."""
