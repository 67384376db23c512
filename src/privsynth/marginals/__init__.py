"""Counting marginals of encoded private data behind one pluggable backend."""

from privsynth.marginals.counting import CountingBackend, EncodedTable, InMemoryBackend

__all__ = ["CountingBackend", "EncodedTable", "InMemoryBackend"]
