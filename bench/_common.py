"""Helpers shared by the marginal benchmark driver and the reference runner.

This module is imported from two different virtual environments (privsynth's own and the
smartnoise-synth reference environment), so at import time it needs only the standard
library, numpy and pandas; scikit-learn is imported inside :func:`tstr_auc`, which only the
driver calls.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import resource
import shutil
from collections.abc import Mapping, Sequence
from math import prod
from pathlib import Path

import numpy as np
import pandas as pd

#: Column the TSTR classifier predicts.
TARGET = "income>50K"

#: Fraction of rows that go to the training split.
TRAIN_FRACTION = 0.8

#: Seed of the train/test permutation (``numpy.random.default_rng(SPLIT_SEED).permutation``).
SPLIT_SEED = 0

#: Environment that pins every numeric library in a child process to one thread.
SINGLE_THREAD_ENV: dict[str, str] = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "JAX_PLATFORMS": "cpu",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "PYTHONHASHSEED": "0",
}

# Cells above which a marginal is compared through np.unique instead of a dense bincount.
_DENSE_LIMIT = 4_000_000


def parse_params(items: Sequence[str] | None) -> dict[str, object]:
    """``["key=value", ...]`` to a dict; values are read as JSON when they parse, else text."""
    params: dict[str, object] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def load_domain(path: str | os.PathLike[str]) -> dict[str, int]:
    """Read a ``{column: number of codes}`` JSON file, preserving column order."""
    with open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    return {str(k): int(v) for k, v in raw.items()}


def split_train_test(
    df: pd.DataFrame, *, seed: int = SPLIT_SEED, train_fraction: float = TRAIN_FRACTION
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows 80/20 (by default) with ``numpy.random.default_rng(seed).permutation``.

    The first ``int(train_fraction * len(df))`` permuted rows form the training split, the
    rest the test split; both keep the permuted order and get a fresh RangeIndex.
    """
    perm = np.random.default_rng(seed).permutation(len(df))
    n_train = int(train_fraction * len(df))
    train = df.iloc[perm[:n_train]].reset_index(drop=True)
    test = df.iloc[perm[n_train:]].reset_index(drop=True)
    return train, test


def check_codes(df: pd.DataFrame, domain: Mapping[str, int]) -> None:
    """Raise ValueError unless ``df`` has exactly the domain's columns, in codes 0..size-1."""
    if list(df.columns) != list(domain):
        raise ValueError(f"columns {list(df.columns)} differ from the domain {list(domain)}")
    for col, size in domain.items():
        values = df[col].to_numpy()
        if not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"column {col!r} is not integer-coded (dtype {values.dtype})")
        if len(values) and (values.min() < 0 or values.max() >= size):
            raise ValueError(f"column {col!r}: codes outside 0..{size - 1}")


def _flat_index(df: pd.DataFrame, attrs: Sequence[str], shape: Sequence[int]) -> np.ndarray:
    cols = tuple(df[a].to_numpy(dtype=np.int64) for a in attrs)
    return np.ravel_multi_index(cols, tuple(shape))


def marginal_tvd(
    real: pd.DataFrame, synth: pd.DataFrame, attrs: Sequence[str], domain: Mapping[str, int]
) -> float:
    """Total variation distance ``0.5 * ||p - q||_1`` between two normalized marginals."""
    shape = [domain[a] for a in attrs]
    fr = _flat_index(real, attrs, shape)
    fs = _flat_index(synth, attrs, shape)
    if len(fr) == 0 or len(fs) == 0:
        raise ValueError("cannot compare marginals of an empty table")
    weights = np.concatenate([np.full(len(fr), 1.0 / len(fr)), np.full(len(fs), -1.0 / len(fs))])
    keys = np.concatenate([fr, fs])
    cells = prod(shape)
    if cells <= _DENSE_LIMIT:
        diff = np.bincount(keys, weights=weights, minlength=cells)
    else:
        _, inverse = np.unique(keys, return_inverse=True)
        diff = np.bincount(inverse, weights=weights)
    return float(0.5 * np.abs(diff).sum())


def mean_kway_tvd(
    real: pd.DataFrame, synth: pd.DataFrame, domain: Mapping[str, int], k: int
) -> float:
    """Mean TVD over every k-way marginal (all ``C(d, k)`` attribute subsets)."""
    subsets = list(itertools.combinations(domain, k))
    return float(np.mean([marginal_tvd(real, synth, s, domain) for s in subsets]))


def tstr_auc(
    synth: pd.DataFrame, test: pd.DataFrame, domain: Mapping[str, int], target: str = TARGET
) -> float:
    """Train on synthetic, test on real: ROC AUC of a fixed gradient-boosting classifier.

    ``HistGradientBoostingClassifier(random_state=0)`` with every feature declared
    categorical is fitted on ``synth`` to predict ``target`` and scored on ``test``. A
    synthetic sample with a single target class cannot train a classifier; its constant
    predictor scores 0.5. Runs on one thread.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    features = [c for c in domain if c != target]
    y_train = synth[target].to_numpy()
    y_test = test[target].to_numpy()
    if np.unique(y_train).size < 2:
        return 0.5
    clf = HistGradientBoostingClassifier(
        random_state=0, categorical_features=[True] * len(features)
    )
    # One OpenMP thread: fast and stable next to other work on a small machine.
    with threadpool_limits(limits=1):
        clf.fit(synth[features].to_numpy(), y_train)
        scores = clf.predict_proba(test[features].to_numpy())[:, 1]
    return float(roc_auc_score(y_test, scores))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def single_thread_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default: ``os.environ``) with :data:`SINGLE_THREAD_ENV` applied."""
    env = dict(os.environ if base is None else base)
    env.update(SINGLE_THREAD_ENV)
    return env


def pinned_command(cmd: Sequence[str], cpu: str | None) -> list[str]:
    """Prefix ``cmd`` with ``taskset -c cpu`` when ``cpu`` is given and taskset exists.

    taskset execs the command, so the child keeps the pid (and the rusage) of the process
    that the caller waits on.
    """
    taskset = shutil.which("taskset")
    if cpu is None or taskset is None:
        return list(cmd)
    return [taskset, "-c", str(cpu), *cmd]


def machine_info() -> dict[str, object]:
    """Logical CPU count, CPU model name, total memory and platform of this machine."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib: float | None = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_gib = round(int(line.split()[1]) / 2**20, 1)
                    break
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "mem_gib": mem_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def write_json(path: str | os.PathLike[str], data: object) -> None:
    """Write ``data`` as indented JSON atomically (temp file then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
