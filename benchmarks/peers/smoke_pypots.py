#!/usr/bin/env python
"""Smoke test / timing for pypots_runner.py on a synthetic table.

Builds a 2000 x 20 z-scored random-walk-like matrix (20 series mixing 4 latent
random walks + noise), hides ~20% of the entries in blocks of 10 consecutive
time steps, runs the PyPOTS runner in the benchmark venv, and prints fit time,
time per epoch and RMSE on the hidden entries vs linear interpolation.

    python benchmarks/peers/smoke_pypots.py --epochs 30 --method saits
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "pypots_runner.py")


def make_data(n=2000, d=20, k=4, block=10, frac=0.2, seed=0):
    rng = np.random.default_rng(seed)
    latent = np.cumsum(rng.standard_normal((n, k)), axis=0)
    load = rng.standard_normal((k, d))
    Y = latent @ load + 0.5 * np.cumsum(rng.standard_normal((n, d)), axis=0) * 0.2
    Y += 0.3 * Y.std(0) * rng.standard_normal((n, d))
    Y = (Y - Y.mean(0)) / Y.std(0)
    mask = np.zeros((n, d), bool)
    while mask.sum() < frac * n * d:
        j = rng.integers(d)
        s = rng.integers(0, n - block + 1)
        mask[s : s + block, j] = True
    X = Y.copy()
    X[mask] = np.nan
    return Y, X, mask


def interp(X):
    X = X.copy()
    t = np.arange(X.shape[0])
    for j in range(X.shape[1]):
        m = np.isfinite(X[:, j])
        X[~m, j] = np.interp(t[~m], t[m], X[m, j])
    return X


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--python", default="/work/venv-bench/bin/python")
    p.add_argument("--method", default="saits")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--window", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("extra", nargs="*", help="extra args passed to the runner (after --)")
    a = p.parse_args()

    Y, X, mask = make_data(seed=a.seed)
    rmse_lin = float(np.sqrt(np.mean((interp(X)[mask] - Y[mask]) ** 2)))
    with tempfile.TemporaryDirectory() as td:
        inp, out = os.path.join(td, "in.npz"), os.path.join(td, "out.npz")
        np.savez(inp, X=X)
        cmd = [a.python, RUNNER, inp, out, "--method", a.method, "--seed", str(a.seed),
               "--epochs", str(a.epochs), "--window", str(a.window), "--threads", str(a.threads),
               *a.extra]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if r.returncode:
            sys.stderr.write(r.stderr)
            raise SystemExit(r.returncode)
        with np.load(out) as f:
            Xi = f["X_imputed"]
            fit_s = float(f["fit_seconds"])
            tr_s = float(f["transform_seconds"])
            nfb = int(f["n_fallback"])
            best = int(f["best_epoch"])
            cfg = json.loads(str(f["config"]))
    assert Xi.shape == X.shape and np.isfinite(Xi).all()
    assert np.array_equal(Xi[~mask], X[~mask])
    rmse = float(np.sqrt(np.mean((Xi[mask] - Y[mask]) ** 2)))
    print(json.dumps(dict(
        method=a.method, epochs=a.epochs, missing_frac=round(float(mask.mean()), 4),
        n_windows=cfg["n_windows"], fit_seconds=round(fit_s, 2),
        seconds_per_epoch=round(fit_s / a.epochs, 3), transform_seconds=round(tr_s, 3),
        wall_seconds_incl_startup=round(wall, 2), best_epoch=best, n_fallback=nfb,
        rmse_model=round(rmse, 4), rmse_linear_interp=round(rmse_lin, 4),
    ), indent=1))


if __name__ == "__main__":
    main()
