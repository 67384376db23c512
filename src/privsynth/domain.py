"""The discrete domain that generators see: attribute names and their number of codes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from math import prod


@dataclass(frozen=True)
class Domain:
    """Ordered attributes with the number of integer codes each can take (codes 0..size-1)."""

    attributes: tuple[str, ...]
    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.attributes) != len(self.sizes):
            raise ValueError("attributes and sizes differ in length")
        if len(set(self.attributes)) != len(self.attributes):
            raise ValueError(f"duplicate attributes in {self.attributes}")
        if any(int(s) < 1 for s in self.sizes):
            raise ValueError(f"every attribute needs at least one code: {self.sizes}")

    @classmethod
    def from_dict(cls, config: dict[str, int]) -> Domain:
        """Build from ``{name: size}`` preserving order."""
        return cls(tuple(config), tuple(int(v) for v in config.values()))

    def to_dict(self) -> dict[str, int]:
        """``{name: size}`` in order."""
        return dict(zip(self.attributes, self.sizes, strict=True))

    def to_state(self) -> dict[str, list]:
        """``{"attributes": [...], "sizes": [...]}``: how model files store a domain."""
        return {"attributes": list(self.attributes), "sizes": list(self.sizes)}

    @classmethod
    def from_state(cls, state: dict[str, list]) -> Domain:
        """Inverse of :meth:`to_state`."""
        return cls(tuple(state["attributes"]), tuple(state["sizes"]))

    def __getitem__(self, attr: str) -> int:
        return self.sizes[self.attributes.index(attr)]

    def __contains__(self, attr: object) -> bool:
        return attr in self.attributes

    def __iter__(self) -> Iterator[str]:
        return iter(self.attributes)

    def __len__(self) -> int:
        return len(self.attributes)

    def project(self, attrs: Iterable[str]) -> Domain:
        """Sub-domain over ``attrs`` in the given order."""
        attrs = tuple(attrs)
        return Domain(attrs, tuple(self[a] for a in attrs))

    def shape(self, attrs: Sequence[str] | None = None) -> tuple[int, ...]:
        """Shape of the contingency table over ``attrs`` (all attributes by default)."""
        return self.sizes if attrs is None else tuple(self[a] for a in attrs)

    def size(self, attrs: Sequence[str] | None = None) -> int:
        """Number of cells of the contingency table over ``attrs``."""
        return int(prod(self.shape(attrs)))

    def to_mbi(self):  # noqa: ANN201 - mbi is imported lazily
        """The equivalent ``mbi.Domain``."""
        import mbi

        return mbi.Domain(self.attributes, self.sizes)
