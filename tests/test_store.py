"""The SQLite lifetime budget store: semantics, real multi-process concurrency, crashes.

Worker functions live at module level so 'spawn' children can import them; this module
therefore imports only what those children need at its top.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from privsynth.errors import BudgetExceeded, InputError
from privsynth.privacy.accountant import epsilon_to_zcdp, zcdp_to_epsilon
from privsynth.privacy.events import GaussianEvent
from privsynth.privacy.ledger import Ledger
from privsynth.privacy.store import SqliteBudgetStore

SPAWN = mp.get_context("spawn")


# -- workers (run in spawned child processes) -------------------------------------------


def _charge_worker(path: str, rho: float, attempts: int, barrier, results) -> None:
    store = SqliteBudgetStore(path)
    ok = refused = 0
    barrier.wait(timeout=60)
    for i in range(attempts):
        try:
            store.charge("shared", rho, f"pid {os.getpid()} try {i}")
            ok += 1
        except BudgetExceeded:
            refused += 1
    results.put((ok, refused))


def _charge_forever(path: str, log_path: str) -> None:
    store = SqliteBudgetStore(path)
    with open(log_path, "a", encoding="utf-8") as log:
        i = 0
        while True:
            store.charge("crash", 1e-6, f"charge {i}")
            # Written only after charge() returned: every logged charge must be on disk.
            log.write(f"{i}\n")
            log.flush()
            i += 1


def _die_inside_transaction(path: str, ready) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO charges (dataset, timestamp, label, rho) VALUES (?, ?, ?, ?)",
        ("crash", "now", "never committed", 0.5),
    )
    ready.set()
    time.sleep(120)


# -- helpers ----------------------------------------------------------------------------


def _snapshot(store: SqliteBudgetStore, dataset: str) -> tuple[dict, list[dict]]:
    return store.status(dataset), store.history(dataset)


@pytest.fixture
def store(tmp_path: Path) -> SqliteBudgetStore:
    """A fresh store with dataset 'adult' at epsilon=1, delta=1e-9."""
    s = SqliteBudgetStore(tmp_path / "ledger.sqlite")
    s.set_budget("adult", 1.0, 1e-9)
    return s


# -- semantics --------------------------------------------------------------------------


def test_set_budget_and_status(store: SqliteBudgetStore) -> None:
    st = store.status("adult")
    assert st["epsilon_budget"] == 1.0 and st["delta"] == 1e-9
    assert st["rho_budget"] == epsilon_to_zcdp(1.0, 1e-9)
    assert st["rho_spent"] == 0.0 and st["epsilon_spent"] == 0.0
    assert st["remaining"] == st["rho_budget"]
    assert store.datasets() == ["adult"]
    assert store.history("adult") == []


def test_charges_are_recorded_and_persist(store: SqliteBudgetStore) -> None:
    store.charge("adult", 0.001, "first")
    store.charge("adult", 0.002, "second")
    again = SqliteBudgetStore(store.path)
    st = again.status("adult")
    assert st["rho_spent"] == pytest.approx(0.003)
    assert st["epsilon_spent"] == pytest.approx(zcdp_to_epsilon(0.003, 1e-9))
    assert st["remaining"] == pytest.approx(st["rho_budget"] - 0.003)
    assert st["charges"] == 2
    hist = again.history("adult")
    assert [h["label"] for h in hist] == ["first", "second"]
    assert [h["rho"] for h in hist] == [0.001, 0.002]
    assert all(h["timestamp"].endswith("+00:00") for h in hist)


def test_overspend_refused_and_nothing_recorded(store: SqliteBudgetStore) -> None:
    budget = store.status("adult")["rho_budget"]
    store.charge("adult", budget * 0.6, "most")
    before = _snapshot(store, "adult")
    with pytest.raises(BudgetExceeded, match="lifetime budget"):
        store.charge("adult", budget * 0.5, "too much")
    assert _snapshot(store, "adult") == before
    store.charge("adult", budget * 0.4, "exactly the rest")
    assert store.status("adult")["remaining"] == pytest.approx(0.0, abs=1e-12)


def test_charge_without_budget_says_how_to_set_one(tmp_path: Path) -> None:
    s = SqliteBudgetStore(tmp_path / "l.sqlite")
    with pytest.raises(BudgetExceeded, match="privsynth budget set"):
        s.charge("nobudget", 0.01, "fit")
    assert s.history("nobudget") == []
    with pytest.raises(InputError, match="privsynth budget set"):
        s.status("nobudget")


def test_set_budget_changes_only_if_not_overspent(store: SqliteBudgetStore) -> None:
    store.charge("adult", 0.001, "fit")
    store.set_budget("adult", 2.0, 1e-9)  # raise
    assert store.status("adult")["rho_budget"] == epsilon_to_zcdp(2.0, 1e-9)
    store.set_budget("adult", 0.5, 1e-6)  # lower, still above what was spent
    st = store.status("adult")
    assert (st["epsilon_budget"], st["delta"]) == (0.5, 1e-6)
    before = _snapshot(store, "adult")
    tiny = 0.05  # rho(0.05, 1e-6) is far below the 0.001 already spent
    assert epsilon_to_zcdp(tiny, 1e-6) < 0.001
    with pytest.raises(BudgetExceeded, match="already spent"):
        store.set_budget("adult", tiny, 1e-6)
    assert _snapshot(store, "adult") == before


def test_several_datasets(store: SqliteBudgetStore) -> None:
    store.set_budget("census", 3.0, 1e-7)
    store.charge("census", 0.1, "fit")
    assert store.datasets() == ["adult", "census"]
    assert store.status("adult")["rho_spent"] == 0.0
    assert store.status("census")["rho_spent"] == 0.1


@pytest.mark.parametrize("rho", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_charges(store: SqliteBudgetStore, rho) -> None:
    with pytest.raises(ValueError):
        store.charge("adult", rho, "bad")
    assert store.history("adult") == []


def test_bad_budgets_and_names(store: SqliteBudgetStore) -> None:
    with pytest.raises(InputError):
        store.set_budget("adult", -1.0, 1e-9)
    with pytest.raises(InputError):
        store.set_budget("adult", 1.0, 1.5)
    with pytest.raises(InputError):
        store.set_budget("", 1.0, 1e-9)
    assert store.status("adult")["epsilon_budget"] == 1.0


def test_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="garbage.sqlite"):
        SqliteBudgetStore(bad)
    with pytest.raises(InputError):
        SqliteBudgetStore(tmp_path / "missing-folder" / "l.sqlite")


def test_uses_wal(store: SqliteBudgetStore) -> None:
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


# -- the Ledger with a store ------------------------------------------------------------


def test_ledger_charges_the_store_once_before_any_spend(store: SqliteBudgetStore) -> None:
    led = Ledger(1.0, 1e-9, store=store, dataset="adult", label="mst")
    hist = store.history("adult")
    assert [(h["label"], h["rho"]) for h in hist] == [
        ("mst: epsilon=1, delta=1e-09", led.rho_budget)
    ]
    led.spend(GaussianEvent(20.0, count=3), label="marginals")
    assert led.rho_spent == pytest.approx(3 / 800)
    assert len(store.history("adult")) == 1


def test_store_refusal_creates_no_ledger_and_changes_nothing(tmp_path: Path) -> None:
    s = SqliteBudgetStore(tmp_path / "l.sqlite")
    s.set_budget("adult", 0.5, 1e-9)  # lifetime smaller than the fit's budget
    before = _snapshot(s, "adult")
    with pytest.raises(BudgetExceeded, match="lifetime"):
        Ledger(2.0, 1e-9, store=s, dataset="adult")
    assert _snapshot(s, "adult") == before


def test_fit_refusal_never_reaches_the_store(store: SqliteBudgetStore) -> None:
    led = Ledger(0.1, 1e-9, store=store, dataset="adult")
    charged = store.history("adult")
    with pytest.raises(BudgetExceeded):
        led.spend(GaussianEvent(0.5), label="too much for the fit")
    assert store.history("adult") == charged
    assert led.entries == () and led.rho_spent == 0.0


# -- real processes ---------------------------------------------------------------------


def test_concurrent_processes_never_overspend(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    store = SqliteBudgetStore(path)
    store.set_budget("shared", 1.0, 1e-6)
    budget = store.status("shared")["rho_budget"]
    rho = budget / 9.5  # exactly 9 charges fit
    n_procs, attempts = 4, 5
    barrier = SPAWN.Barrier(n_procs)
    results = SPAWN.Queue()
    procs = [
        SPAWN.Process(target=_charge_worker, args=(str(path), rho, attempts, barrier, results))
        for _ in range(n_procs)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    ok = sum(o[0] for o in outcomes)
    assert ok == math.floor(budget / rho) == 9
    assert sum(o[1] for o in outcomes) == n_procs * attempts - ok
    st = store.status("shared")
    assert st["charges"] == ok
    assert st["rho_spent"] <= st["rho_budget"]
    assert st["rho_spent"] == pytest.approx(ok * rho)


def test_sigkill_mid_run_leaves_database_consistent(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite"
    log_path = tmp_path / "charged.log"
    store = SqliteBudgetStore(path)
    store.set_budget("crash", 10.0, 1e-6)
    proc = SPAWN.Process(target=_charge_forever, args=(str(path), str(log_path)))
    proc.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log_path.exists() and len(log_path.read_text().splitlines()) >= 30:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=30)
    assert proc.exitcode == -signal.SIGKILL

    logged = len(log_path.read_text().splitlines())
    assert logged >= 30
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    hist = store.history("crash")
    # Every charge the child saw succeed is durable; at most one more committed unlogged.
    assert logged <= len(hist) <= logged + 1
    assert [h["label"] for h in hist] == [f"charge {i}" for i in range(len(hist))]
    st = store.status("crash")
    assert st["rho_spent"] == pytest.approx(len(hist) * 1e-6)
    store.charge("crash", 1e-6, "after the crash")
    assert store.status("crash")["charges"] == len(hist) + 1


def test_sigkill_inside_open_transaction_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "txn.sqlite"
    store = SqliteBudgetStore(path, timeout=20)
    store.set_budget("crash", 10.0, 1e-6)
    store.charge("crash", 0.01, "committed")
    ready = SPAWN.Event()
    proc = SPAWN.Process(target=_die_inside_transaction, args=(str(path), ready))
    proc.start()
    assert ready.wait(timeout=60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=30)
    # The dead writer's lock is gone and its uncommitted charge never happened.
    store.charge("crash", 0.02, "after")
    assert [h["label"] for h in store.history("crash")] == ["committed", "after"]
    assert store.status("crash")["rho_spent"] == pytest.approx(0.03)


def test_reserved_delta_shrinks_the_lifetime_budget(store: SqliteBudgetStore) -> None:
    store.charge("adult", 0.0, "categories", delta=4e-10)
    st = store.status("adult")
    assert st["delta_reserved"] == 4e-10
    assert st["rho_budget"] == epsilon_to_zcdp(1.0, 6e-10)
    assert store.history("adult")[0]["delta"] == 4e-10
    store.charge("adult", st["rho_budget"], "the rest")
    assert store.status("adult")["epsilon_spent"] == pytest.approx(1.0, rel=1e-9)
    before = _snapshot(store, "adult")
    with pytest.raises(BudgetExceeded):
        store.charge("adult", 0.0, "more delta", delta=1e-10)  # rho spent no longer fits
    with pytest.raises(BudgetExceeded):
        store.charge("adult", 0.0, "all delta", delta=6e-10)
    with pytest.raises(BudgetExceeded, match="reserved"):
        store.set_budget("adult", 1.0, 4e-10)
    assert _snapshot(store, "adult") == before


def test_ledger_reservation_reaches_the_store(store: SqliteBudgetStore) -> None:
    led = Ledger(1.0, 1e-9, store=store, dataset="adult", reserve_delta=5e-10)
    led.spend(GaussianEvent(1.0 / math.sqrt(2 * led.rho_budget)), label="rest")
    st = store.status("adult")
    assert st["delta_reserved"] == 5e-10
    assert st["rho_spent"] == pytest.approx(led.rho_spent)
    assert st["remaining"] == pytest.approx(0.0, abs=1e-12)
    assert st["epsilon_spent"] == pytest.approx(led.epsilon())
