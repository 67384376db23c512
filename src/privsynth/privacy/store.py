"""Lifetime privacy budgets that survive processes, kept in one SQLite file.

A dataset's lifetime budget is an (epsilon, delta) pair stored with its zCDP equivalent
``rho_budget``; every charge is a row (a rho, plus any delta reserved for an approximate-zCDP
step, which shrinks the zCDP budget as in :class:`~privsynth.privacy.ledger.Ledger`).
A fit that is (epsilon, delta)-DP without a zCDP bound (DP-SGD) is charged by basic
composition: its ``epsilon`` and ``delta`` are added to the lifetime totals, so the zCDP charges
may use ``epsilon_to_zcdp(epsilon_budget - sum(epsilon), delta_budget - sum(delta))``.

A charge runs ``BEGIN IMMEDIATE``, sums what has been spent, and inserts the new row only if
it still fits, all in one transaction: SQLite's write lock serialises concurrent writers
across processes, so two fits cannot both pass the check and overspend, and the commit
(WAL journal, ``synchronous=FULL``) is on disk before :meth:`SqliteBudgetStore.charge`
returns, i.e. before the caller draws any noise. A process killed mid-transaction leaves
nothing behind: SQLite rolls the open transaction back the next time the file is opened.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from privsynth.errors import BudgetExceeded, InputError
from privsynth.privacy.accountant import epsilon_to_zcdp, zcdp_to_epsilon
from privsynth.privacy.ledger import validate_budget

# Same relative round-off slack as the in-memory Ledger, so a fit that spends exactly its
# budget is not refused by the store because of summation order.
_SLACK = 1e-9

_SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS budgets (
    dataset    TEXT PRIMARY KEY,
    epsilon    REAL NOT NULL CHECK (epsilon > 0),
    delta      REAL NOT NULL CHECK (delta > 0 AND delta < 1),
    rho_budget REAL NOT NULL CHECK (rho_budget > 0),
    updated    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS charges (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset   TEXT NOT NULL REFERENCES budgets (dataset),
    timestamp TEXT NOT NULL,
    label     TEXT NOT NULL,
    rho       REAL NOT NULL CHECK (rho >= 0),
    delta     REAL NOT NULL DEFAULT 0 CHECK (delta >= 0 AND delta < 1),
    epsilon   REAL NOT NULL DEFAULT 0 CHECK (epsilon >= 0)
);
CREATE INDEX IF NOT EXISTS charges_by_dataset ON charges (dataset, id);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _how_to_set(path: Path, dataset: str) -> str:
    return (
        f"set one with `privsynth budget set --ledger {path} --dataset {dataset} "
        f"--epsilon EPSILON --delta DELTA`"
    )


class SqliteBudgetStore:
    """Per-dataset lifetime budgets and every charge against them, in the SQLite file ``path``.

    The file (not its folder) is created on first use. The object holds no open connection,
    so it can be shared with or re-created in other processes freely; every method opens its
    own short-lived connection. ``timeout`` is how long (seconds) a call waits for another
    process's write transaction before giving up.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = float(timeout)
        with self._connect() as conn:
            self._init_schema(conn)

    def __repr__(self) -> str:
        return f"SqliteBudgetStore({str(self.path)!r})"

    # -- connection handling -------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise InputError(f"{self.path}: cannot open the budget ledger ({exc})") from exc
        try:
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise InputError(
                    f"{self.path}: the budget ledger stayed locked by another process for "
                    f"more than {self.timeout:g} s"
                ) from exc
            raise InputError(f"{self.path}: not a usable budget ledger ({exc})") from exc
        finally:
            conn.close()

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so the read that checks the budget and the
        # insert that spends it cannot interleave with another writer.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            # Some errors (disk full, I/O) already rolled the transaction back.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            raise InputError(
                f"{self.path}: budget ledger format {version} is newer than this privsynth "
                f"understands ({_SCHEMA_VERSION})"
            )
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            # Another process may hold the file; the rollback journal is just as safe.
            with suppress(sqlite3.OperationalError):
                conn.execute("PRAGMA journal_mode = WAL")
        if version == _SCHEMA_VERSION:
            return
        with self._write(conn):
            if version == 1:
                # Version 1 had no basic-composition epsilon; its charges were all zCDP.
                conn.execute(
                    "ALTER TABLE charges ADD COLUMN epsilon REAL NOT NULL DEFAULT 0 "
                    "CHECK (epsilon >= 0)"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    # -- reads ---------------------------------------------------------------------------

    @staticmethod
    def _budget_row(conn: sqlite3.Connection, dataset: str) -> tuple[float, float, float] | None:
        return conn.execute(
            "SELECT epsilon, delta, rho_budget FROM budgets WHERE dataset = ?", (dataset,)
        ).fetchone()

    @staticmethod
    def _spent(conn: sqlite3.Connection, dataset: str) -> tuple[float, float, float, int]:
        # fsum over the rows, not SQL SUM: the totals must not depend on summation order.
        rows = conn.execute("SELECT rho, delta, epsilon FROM charges WHERE dataset = ?", (dataset,))
        rhos, deltas, epsilons = [], [], []
        for rho, delta, eps in rows:
            rhos.append(rho)
            deltas.append(delta)
            epsilons.append(eps)
        return math.fsum(rhos), math.fsum(deltas), math.fsum(epsilons), len(rhos)

    @staticmethod
    def _rho_limit(
        epsilon: float, delta: float, rho_budget: float, reserved: float, basic: float = 0.0
    ) -> float:
        """zCDP budget left for rho once ``reserved`` of delta and ``basic`` of epsilon are
        spent by other charges (0 if nothing is left)."""
        if reserved <= 0 and basic <= 0:
            return rho_budget
        if reserved >= delta * (1.0 - _SLACK) or basic >= epsilon * (1.0 - _SLACK):
            return 0.0
        return epsilon_to_zcdp(epsilon - basic, delta - reserved)

    # -- public API ----------------------------------------------------------------------

    def set_budget(self, dataset: str, epsilon: float, delta: float) -> None:
        """Create the lifetime budget of ``dataset``, or change it.

        Lowering a budget below what has already been spent raises BudgetExceeded and
        changes nothing. The stored ``rho_budget`` is ``epsilon_to_zcdp(epsilon, delta)``.
        """
        _check_name(dataset)
        validate_budget(epsilon, delta)
        rho_budget = epsilon_to_zcdp(epsilon, delta)
        with self._connect() as conn, self._write(conn):
            spent, reserved, basic, _ = self._spent(conn, dataset)
            limit = self._rho_limit(epsilon, delta, rho_budget, reserved, basic)
            over = basic > epsilon * (1.0 + _SLACK) or (basic >= epsilon and spent > 0)
            over_delta = reserved > delta * (1.0 + _SLACK) or (reserved >= delta and spent > 0)
            if over_delta or over or spent > limit * (1.0 + _SLACK):
                raise BudgetExceeded(
                    f"{self.path}: dataset {dataset!r} has already spent rho={spent:.6g} "
                    f"and reserved delta={reserved:g}, more than the new budget "
                    f"epsilon={epsilon:g}, delta={delta:g} allows (rho={limit:.6g}); "
                    "nothing changed"
                )
            conn.execute(
                "INSERT INTO budgets (dataset, epsilon, delta, rho_budget, updated) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (dataset) DO UPDATE SET "
                "epsilon = excluded.epsilon, delta = excluded.delta, "
                "rho_budget = excluded.rho_budget, updated = excluded.updated",
                (dataset, float(epsilon), float(delta), rho_budget, _now()),
            )

    def charge(
        self, dataset: str, rho: float, label: str, *, delta: float = 0.0, epsilon: float = 0.0
    ) -> None:
        """Durably record a spend of ``rho`` (zCDP) against ``dataset``.

        ``epsilon`` (with ``delta``) records an (epsilon, delta)-DP fit composed basically.

        ``delta`` reserves part of the lifetime delta for an approximate-zCDP step (see
        :meth:`privsynth.privacy.ledger.Ledger.reserve_delta`); reserved delta shrinks the
        zCDP budget to ``epsilon_to_zcdp(epsilon, delta_budget - reserved)``. Raises
        BudgetExceeded, recording nothing, when ``dataset`` has no budget or the charge
        would take it past its lifetime budget. When this returns, the charge is committed
        to disk.
        """
        _check_name(dataset)
        rho = _non_negative("rho", rho)
        delta = _non_negative("delta", delta)
        epsilon = _non_negative("epsilon", epsilon)
        if not isinstance(label, str):
            raise ValueError(f"label must be a string, got {label!r}")
        with self._connect() as conn, self._write(conn):
            row = self._budget_row(conn, dataset)
            if row is None:
                raise BudgetExceeded(
                    f"{self.path}: dataset {dataset!r} has no lifetime budget; "
                    + _how_to_set(self.path, dataset)
                )
            epsilon_budget, delta_budget, rho_budget = row
            spent, reserved, basic, _ = self._spent(conn, dataset)
            limit = self._rho_limit(
                epsilon_budget, delta_budget, rho_budget, reserved + delta, basic + epsilon
            )
            over_eps = basic + epsilon > epsilon_budget * (1.0 + _SLACK) or (
                basic + epsilon >= epsilon_budget * (1.0 - _SLACK) and spent + rho > 0
            )
            if (
                reserved + delta >= delta_budget * (1.0 + _SLACK)
                or (reserved + delta >= delta_budget and spent + rho > 0)
                or over_eps
                or spent + rho > limit * (1.0 + _SLACK)
            ):
                what = (
                    f"rho={rho:.6g}"
                    + (f" and delta={delta:g}" if delta else "")
                    + (f" and epsilon={epsilon:g}" if epsilon else "")
                )
                raise BudgetExceeded(
                    f"{label}: spending {what} on dataset {dataset!r} would exceed its "
                    f"lifetime budget in {self.path} (spent rho={spent:.6g} of "
                    f"{self._rho_limit(epsilon_budget, delta_budget, rho_budget, reserved, basic):.6g}"
                    f", reserved delta={reserved:g}, epsilon by basic composition={basic:g}; "
                    f"budget epsilon={epsilon_budget:g} at "
                    f"delta={delta_budget:g})"
                )
            conn.execute(
                "INSERT INTO charges (dataset, timestamp, label, rho, delta, epsilon) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (dataset, _now(), label, rho, delta, epsilon),
            )

    def status(self, dataset: str) -> dict[str, Any]:
        """Budget and spend of ``dataset``.

        Keys: ``dataset``, ``epsilon_budget``, ``delta``, ``rho_budget`` (the zCDP budget,
        ``epsilon_to_zcdp(epsilon_budget, delta - delta_reserved)``), ``rho_spent``,
        ``delta_reserved``, ``epsilon_spent`` (at the budget's delta, reserved delta
        included), ``remaining`` (rho left, never negative) and ``charges`` (how many).
        Raises InputError for a dataset with no budget.
        """
        with self._connect() as conn:
            conn.execute("BEGIN")  # one consistent snapshot for both reads
            try:
                row = self._budget_row(conn, dataset)
                spent, reserved, basic, n = self._spent(conn, dataset)
            finally:
                conn.execute("COMMIT")
        if row is None:
            raise InputError(
                f"{self.path}: dataset {dataset!r} has no lifetime budget; "
                + _how_to_set(self.path, dataset)
            )
        epsilon, delta, stored_rho_budget = row
        rho_budget = self._rho_limit(epsilon, delta, stored_rho_budget, reserved, basic)
        if reserved < delta:
            epsilon_spent = basic + (zcdp_to_epsilon(spent, delta - reserved) if spent else 0.0)
        else:
            epsilon_spent = basic if spent == 0 else math.inf
        return {
            "dataset": dataset,
            "epsilon_budget": epsilon,
            "delta": delta,
            "rho_budget": rho_budget,
            "rho_spent": spent,
            "delta_reserved": reserved,
            "epsilon_basic": basic,
            "epsilon_spent": epsilon_spent,
            "remaining": max(0.0, rho_budget - spent),
            "charges": n,
        }

    def history(self, dataset: str) -> list[dict[str, Any]]:
        """Every charge against ``dataset``, oldest first: ``timestamp`` (UTC ISO 8601),
        ``label``, ``rho``, ``delta`` (reserved delta, usually 0) and ``epsilon`` (basic
        composition, for DP-SGD fits)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT timestamp, label, rho, delta, epsilon FROM charges WHERE dataset = ? "
                "ORDER BY id",
                (dataset,),
            ).fetchall()
        return [
            {"timestamp": t, "label": lab, "rho": r, "delta": d, "epsilon": e}
            for t, lab, r, d, e in rows
        ]

    def datasets(self) -> list[str]:
        """Names of every dataset with a lifetime budget, sorted."""
        with self._connect() as conn:
            rows = conn.execute("SELECT dataset FROM budgets ORDER BY dataset").fetchall()
        return [r[0] for r in rows]


def _non_negative(name: str, value: float) -> float:
    if isinstance(value, bool) or not (isinstance(value, int | float) and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def _check_name(dataset: str) -> None:
    if not isinstance(dataset, str) or not dataset.strip():
        raise InputError(f"--dataset: must be a non-empty name, got {dataset!r}")
