"""The real series of ``../shared/data/realts`` and the gap protocols of its README."""

import math
import os
from pathlib import Path

import numpy as np

DATASETS = (
    "eeg-reading", "etth1", "motion", "sport-activity", "stock-exchange",
    "temperature", "traffic",
)
PROTOCOLS = ("mcar@0.2", "aligned@0.2", "points@0.1")
N_STEPS, MAX_SERIES = 2000, 200


def data_dir():
    """``$SKLVAR_REALTS``, else ``../shared/data/realts`` beside the repository."""
    env = os.environ.get("SKLVAR_REALTS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "realts"


def load(name, root=None):
    """First 2000 steps and at most 200 series of a data set, each series z-scored.

    The mean and standard deviation come from the complete truth, as the
    protocol says (before any gap is cut).
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}.")
    path = Path(root or data_dir()) / f"{name}.txt.gz"
    X = np.loadtxt(path, skiprows=1 if name == "eeg-reading" else 0)
    X = X[:N_STEPS, :MAX_SERIES].astype(float)
    std = X.std(axis=0)
    std[std == 0] = 1.0
    return (X - X.mean(axis=0)) / std


def missing_mask(shape, protocol, seed):
    """Boolean mask (True = cut) of a protocol ``"kind@rate"`` on a (T, D) table."""
    kind, rate = protocol.split("@")
    rate = float(rate)
    n_t, n_d = shape
    rng = np.random.RandomState(seed)
    miss = np.zeros(shape, dtype=bool)
    n_series = math.ceil(rate * n_d)
    if kind == "mcar":
        series = rng.choice(n_d, size=n_series, replace=False)
        n_blocks = int(rate * n_t) // 10
        first = int(0.1 * n_t)
        for j in series:
            starts = rng.randint(first, n_t - 10 + 1, size=n_blocks)
            for s in starts:
                miss[s:s + 10, j] = True
    elif kind == "aligned":
        start, length = int(0.1 * n_t), int(rate * n_t)
        miss[start:start + length, :n_series] = True
    elif kind == "points":
        miss = rng.uniform(size=shape) < rate
    else:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}.")
    return miss


def case(name, protocol, seed, root=None):
    """(truth, gappy matrix with NaN, missing mask) of one benchmark case."""
    Z = load(name, root)
    miss = missing_mask(Z.shape, protocol, seed)
    X = Z.copy()
    X[miss] = np.nan
    return Z, X, miss


def scores(truth, X_hat, miss):
    """RMSE and MAE on the cut entries (z-scored units)."""
    err = (X_hat - truth)[miss]
    return float(np.sqrt(np.mean(err**2))), float(np.mean(np.abs(err)))
