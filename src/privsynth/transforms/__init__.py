"""Public, invertible encodings between typed tables and integer codes."""

from privsynth.transforms.discretize import Discretizer, EncodeReport

__all__ = ["Discretizer", "EncodeReport"]
