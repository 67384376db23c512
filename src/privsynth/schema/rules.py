"""Rules that every generated row must respect, declared in the schema (public, free).

A schema's top-level ``rules:`` list holds entries of three shapes::

    rules:
      - "sex == 'Male' -> pregnant == '0'"            # implication (conjunctions with `and`)
      - "relationship in ['Husband'] -> sex == 'Male'"
      - "start <= end"                                # inequality between two columns
      - "age <= 120"                                  # range tighter than the bounds
      - forbid: {sex: Male, pregnant: "1"}            # a forbidden combination
      - combinations:                                 # the only allowed joint values
          columns: [country, continent]
          values: [[France, Europe], [Japan, Asia]]
      - rule: "sex == 'Male' -> c1 == '0'"            # any rule may carry a name and, when it
        learned: {epsilon: 1.0, ...}                  # was learned with DP, its provenance

In expressions, text values are quoted, numbers are bare, datetimes are quoted ISO text, and a
bare name is a column (backquote names with spaces: ```my col```). Operators: ``== != < <= > >=``
and ``in [...]`` / ``not in [...]``; ``and`` joins conditions, ``->`` makes an implication.

Missing values: a rule does not apply to a row in which any column it names is missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from privsynth.errors import SchemaError
from privsynth.schema.columns import CategoricalColumn, Column, DatetimeColumn, NumericColumn

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_ORDER = ("<", "<=", ">", ">=")
_KEYWORDS = {"and", "in", "not"}
_PLAIN = re.compile(r"[A-Za-z_](?:[\w.]|-(?!>))*")
_TOKEN = re.compile(
    r"\s*(?:(?P<arrow>->)|(?P<op>==|!=|<=|>=|<|>)|(?P<punct>[\[\],])"
    r"|(?P<str>'[^']*'|\"[^\"]*\")|(?P<num>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
    r"|(?P<quoted>`[^`]+`)|(?P<name>[A-Za-z_](?:[\w.]|-(?!>))*))"
)

Value = str | float


@dataclass(frozen=True)
class Atom:
    """One condition: ``column op value`` (``values`` for ``in``/``not in``, one for ``==``
    and ``!=``) or ``column op other`` between two ordered columns."""

    column: str
    op: str
    values: tuple[Value, ...] = ()
    other: str | None = None

    def text(self) -> str:
        """The condition in rule syntax."""
        left = _name(self.column)
        if self.other is not None:
            return f"{left} {self.op} {_name(self.other)}"
        if self.op in ("in", "not in") and len(self.values) == 1:
            return f"{left} {'==' if self.op == 'in' else '!='} {_literal(self.values[0])}"
        if self.op in ("in", "not in"):
            return f"{left} {self.op} [{', '.join(_literal(v) for v in self.values)}]"
        return f"{left} {self.op} {_literal(self.values[0])}"

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns this condition reads."""
        return (self.column,) if self.other is None else (self.column, self.other)


@dataclass(frozen=True)
class Rule:
    """A constraint on rows. ``kind`` is ``"implication"`` (if every ``when`` holds then every
    ``then`` holds; an empty ``when`` makes ``then`` hold always), ``"forbid"`` (the ``when``
    conditions never hold together) or ``"combinations"`` (``columns`` jointly take one of
    ``combos``). ``learned`` is the provenance of a rule learned with DP (None if declared)."""

    kind: str
    when: tuple[Atom, ...] = ()
    then: tuple[Atom, ...] = ()
    columns: tuple[str, ...] = ()
    combos: tuple[tuple[Value, ...], ...] = ()
    name: str | None = None
    learned: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def attributes(self) -> tuple[str, ...]:
        """Columns the rule names, in order of first mention."""
        if self.kind == "combinations":
            return self.columns
        seen: dict[str, None] = {}
        for atom in (*self.when, *self.then):
            seen.update(dict.fromkeys(atom.columns))
        return tuple(seen)

    def text(self) -> str:
        """A one-line description (rule syntax for implications)."""
        if self.kind == "forbid":
            return "forbid " + " and ".join(a.text() for a in self.when)
        if self.kind == "combinations":
            return f"combinations of {', '.join(self.columns)} ({len(self.combos)} allowed)"
        then = " and ".join(a.text() for a in self.then)
        return " and ".join(a.text() for a in self.when) + " -> " + then if self.when else then


def _name(column: str) -> str:
    return column if _PLAIN.fullmatch(column) and column not in _KEYWORDS else f"`{column}`"


def _literal(value: Value) -> str:
    if isinstance(value, str):
        return f'"{value}"' if "'" in value else f"'{value}'"
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


# --- parsing ----------------------------------------------------------------------------------


class _Tokens:
    def __init__(self, text: str, fail: Any) -> None:
        self.items: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                fail(f"cannot read {text[pos:].strip()[:20]!r}")
            kind = m.lastgroup or ""
            value = m.group(kind)
            if kind == "punct" or (kind == "name" and value in _KEYWORDS):
                kind = value
            self.items.append((kind, value))
            pos = m.end()
        self.i = 0
        self.fail = fail

    def peek(self) -> tuple[str, str]:
        return self.items[self.i] if self.i < len(self.items) else ("end", "")

    def take(self, *kinds: str) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] not in kinds:
            shown = repr(tok[1]) if tok[1] else "the end of the rule"
            self.fail(f"expected {' or '.join(kinds)}, found {shown}")
        self.i += 1
        return tok


def _constant(tok: tuple[str, str]) -> Value:
    kind, raw = tok
    return raw[1:-1] if kind == "str" else float(raw)


class _Parser:
    """Parses one rule and checks it against the declared columns."""

    def __init__(self, columns: Mapping[str, Column], label: str) -> None:
        self.columns = columns
        self.label = label

    def fail(self, problem: str) -> None:
        raise SchemaError(f"{self.label}: {problem}")

    def column(self, name: str) -> Column:
        if name not in self.columns:
            self.fail(f"unknown column {name!r}")
        return self.columns[name]

    def expression(self, text: str) -> tuple[tuple[Atom, ...], tuple[Atom, ...]]:
        toks = _Tokens(text, self.fail)
        first = self.conjunction(toks)
        if toks.peek()[0] == "arrow":
            toks.take("arrow")
            then = self.conjunction(toks)
            toks.take("end")
            return first, then
        toks.take("end")
        return (), first

    def conjunction(self, toks: _Tokens) -> tuple[Atom, ...]:
        atoms = [self.atom(toks)]
        while toks.peek()[0] == "and":
            toks.take("and")
            atoms.append(self.atom(toks))
        return tuple(atoms)

    def atom(self, toks: _Tokens) -> Atom:
        kind, raw = toks.take("name", "quoted")
        name = raw[1:-1] if kind == "quoted" else raw
        col = self.column(name)
        kind, op = toks.take("op", "in", "not")
        if kind in ("in", "not"):
            if kind == "not":
                toks.take("in")
            toks.take("[")
            items = [_constant(toks.take("str", "num"))]
            while toks.peek()[0] == ",":
                toks.take(",")
                items.append(_constant(toks.take("str", "num")))
            toks.take("]")
            return self.check(Atom(name, "not in" if kind == "not" else "in", tuple(items)), col)
        kind, raw = toks.take("str", "num", "name", "quoted")
        if kind in ("name", "quoted"):
            other = raw[1:-1] if kind == "quoted" else raw
            if other not in self.columns:
                self.fail(f"unknown column {other!r} (quote text values: '{other}')")
            return self.check(Atom(name, op, other=other), col)
        return self.check(Atom(name, op, (_constant((kind, raw)),)), col)

    def check(self, atom: Atom, col: Column) -> Atom:
        """Type-check ``atom``; categorical ``==``/``!=`` become ``in``/``not in``."""
        if atom.other is not None:
            other = self.columns[atom.other]
            if atom.op not in _ORDER:
                self.fail(f"columns {atom.column!r} and {atom.other!r} compare only with < <= > >=")
            if _family(col) is None or _family(col) != _family(other):
                self.fail(
                    f"type mismatch: {atom.column!r} ({col.kind}) and {atom.other!r} "
                    f"({other.kind}) are not both numeric or both datetime"
                )
            return atom
        if isinstance(col, CategoricalColumn):
            if atom.op not in ("==", "!=", "in", "not in"):
                self.fail(f"column {atom.column!r} is categorical; {atom.op!r} needs an order")
            known = (*col.values, *([col.other_label] if col.on_unknown == "other" else []))
            for v in atom.values:
                if not isinstance(v, str):
                    self.fail(f"type mismatch: column {atom.column!r} is categorical; quote {v:g}")
                if v not in known:
                    self.fail(f"column {atom.column!r}: unknown value {v!r}")
            op = {"==": "in", "!=": "not in"}.get(atom.op, atom.op)
            return Atom(atom.column, op, atom.values)
        if atom.op in ("in", "not in"):
            self.fail(f"column {atom.column!r} is {col.kind}; 'in' takes categorical columns")
        (value,) = atom.values
        if isinstance(col, DatetimeColumn):
            if not isinstance(value, str):
                self.fail(f"type mismatch: column {atom.column!r} is datetime; quote {value:g}")
            datetime_seconds(value, self.fail)
        elif isinstance(value, str):
            self.fail(f"type mismatch: column {atom.column!r} is {col.kind}, got text {value!r}")
        if atom.op in ("==", "!=") and not (
            isinstance(col, NumericColumn) and col.kind == "integer" and float(value).is_integer()
        ):
            self.fail(f"column {atom.column!r}: {atom.op} takes integer columns and whole numbers")
        return atom


def _family(col: Column) -> str | None:
    if isinstance(col, DatetimeColumn):
        return "datetime"
    return "number" if isinstance(col, NumericColumn) else None


def datetime_seconds(value: str, fail: Any = None) -> float:
    """Seconds since the epoch of an ISO datetime text (as the discretizer counts them)."""
    try:
        return float((pd.Timestamp(value) - pd.Timestamp(0)).total_seconds())
    except (ValueError, TypeError):
        if fail is None:
            raise
        fail(f"cannot read {value!r} as a datetime")
        raise AssertionError from None


def _forbid(parser: _Parser, spec: Any) -> Rule:
    if not isinstance(spec, Mapping) or not spec:
        parser.fail("forbid needs a mapping of column: value (or list of values)")
    atoms = []
    for name, value in spec.items():
        col = parser.column(str(name))
        values = value if isinstance(value, list) else [value]
        if isinstance(col, CategoricalColumn):
            atoms.append(parser.check(Atom(str(name), "in", tuple(str(v) for v in values)), col))
        elif len(values) == 1 and isinstance(values[0], int | float):
            atoms.append(parser.check(Atom(str(name), "==", (float(values[0]),)), col))
        else:
            parser.fail(f"forbid: column {name!r} is {col.kind}; give one whole number")
    return Rule("forbid", when=tuple(atoms))


def _combinations(parser: _Parser, spec: Any) -> Rule:
    if not isinstance(spec, Mapping) or set(spec) != {"columns", "values"}:
        parser.fail("combinations needs exactly 'columns' and 'values'")
    names = [str(c) for c in spec["columns"] or []]
    if len(names) < 2 or len(set(names)) != len(names):
        parser.fail("combinations needs at least two distinct columns")
    rows = spec["values"]
    if not isinstance(rows, list) or not rows:
        parser.fail("combinations needs a non-empty list of value lists")
    combos = []
    for row in rows:
        if not isinstance(row, list) or len(row) != len(names):
            parser.fail(f"combination {row!r} does not have {len(names)} values")
        combo: list[Value] = []
        for name, v in zip(names, row, strict=True):
            col = parser.column(name)
            value: Value = str(v) if isinstance(col, CategoricalColumn) else v
            if not isinstance(col, CategoricalColumn) and isinstance(v, bool | str):
                parser.fail(f"type mismatch: column {name!r} is {col.kind}, got {v!r}")
            parser.check(Atom(name, "==", (value,)), col)
            combo.append(value if isinstance(value, str) else float(value))
        combos.append(tuple(combo))
    return Rule("combinations", columns=tuple(names), combos=tuple(combos))


def parse_rule(spec: Any, columns: Mapping[str, Column], label: str) -> Rule:
    """One rule from its YAML form; errors start with ``label`` (file and rule)."""
    parser = _Parser(columns, label)
    extra: dict[str, Any] = {}
    if isinstance(spec, Mapping):
        keys = set(spec) & {"rule", "forbid", "combinations"}
        unknown = set(spec) - {"rule", "forbid", "combinations", "name", "learned"}
        if len(keys) != 1 or unknown:
            parser.fail("a rule is a text, or a mapping with one of rule/forbid/combinations")
        learned = spec.get("learned")
        if learned is not None and not isinstance(learned, Mapping):
            parser.fail("'learned' must be a mapping (the rule's DP provenance)")
        extra = {"name": spec.get("name"), "learned": learned}
        (key,) = keys
        if key == "forbid":
            return _with(_forbid(parser, spec["forbid"]), extra)
        if key == "combinations":
            return _with(_combinations(parser, spec["combinations"]), extra)
        spec = spec["rule"]
    if not isinstance(spec, str) or not spec.strip():
        parser.fail("a rule text must be a non-empty string")
    when, then = parser.expression(spec)
    return _with(Rule("implication", when=when, then=then), extra)


def _with(rule: Rule, extra: Mapping[str, Any]) -> Rule:
    name = extra.get("name")
    learned = extra.get("learned")
    return Rule(
        rule.kind,
        rule.when,
        rule.then,
        rule.columns,
        rule.combos,
        None if name is None else str(name),
        None if learned is None else dict(learned),
    )


def rules_from_list(data: Any, columns: Sequence[Column], where: str) -> tuple[Rule, ...]:
    """Parse a schema's ``rules:`` list; errors name ``where`` (the file) and the rule."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise SchemaError(f"{where}: 'rules' must be a list")
    by_name = {c.name: c for c in columns}
    out = []
    for i, spec in enumerate(data, start=1):
        shown = (
            spec
            if isinstance(spec, str)
            else spec.get("rule", "")
            if isinstance(spec, Mapping)
            else ""
        )
        label = f"{where}: rule {i}" + (f" ({shown!r})" if shown else "")
        out.append(parse_rule(spec, by_name, label))
    return tuple(out)


def rule_to_spec(rule: Rule) -> Any:
    """The YAML form of a rule (round-trips through :func:`parse_rule`)."""
    if rule.kind == "forbid":
        body: dict[str, Any] = {"forbid": {a.column: _plain(a) for a in rule.when}}
    elif rule.kind == "combinations":
        body = {
            "combinations": {
                "columns": list(rule.columns),
                "values": [[_yaml_value(v) for v in combo] for combo in rule.combos],
            }
        }
    else:
        body = {"rule": rule.text()}
    if rule.name is not None:
        body["name"] = rule.name
    if rule.learned is not None:
        body["learned"] = dict(rule.learned)
    return body["rule"] if set(body) == {"rule"} else body


def _yaml_value(v: Value) -> Any:
    return v if isinstance(v, str) else int(v) if float(v).is_integer() else float(v)


def _plain(atom: Atom) -> Any:
    values = [_yaml_value(v) for v in atom.values]
    return values[0] if len(values) == 1 else values
