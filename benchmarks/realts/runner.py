"""Run (method, data set, protocol) cells in worker processes, cache the results.

A cell runs every seed of one method on one data set and protocol in a fresh
``python -m realts.runner`` process (so that its peak memory is its own) with
one torch / BLAS thread, and prints one JSON line.
"""

import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_cell(method, dataset, protocol, seeds):
    """Run one cell in this process; return its result dict."""
    import numpy as np
    import torch

    from . import data
    from .methods import EXTRA, METHODS

    torch.set_num_threads(1)
    fn = {**METHODS, **EXTRA}[method]
    rows = []
    for seed in seeds:
        truth, X, miss = data.case(dataset, protocol, seed)
        X_in = X.copy()
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X_hat = fn(X_in, seed=seed)
        elapsed = time.perf_counter() - t0
        X_hat = np.asarray(X_hat, dtype=float)
        if not np.all(np.isfinite(X_hat)):
            raise RuntimeError(f"{method} left non-finite values on {dataset}")
        if not np.array_equal(X_hat[~miss], truth[~miss]):
            if np.max(np.abs(X_hat[~miss] - truth[~miss])) > 1e-9:
                raise RuntimeError(f"{method} changed observed entries on {dataset}")
        rmse, mae = data.scores(truth, X_hat, miss)
        rows.append({"seed": seed, "rmse": rmse, "mae": mae, "seconds": elapsed})
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"method": method, "dataset": dataset, "protocol": protocol,
            "runs": rows, "peak_rss_mb": max(self_kb, child_kb) / 1024}


def spawn_cell(method, dataset, protocol, seeds):
    """Run one cell in a fresh worker process; return its result dict."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "realts.runner", method, dataset, protocol,
           ",".join(str(s) for s in seeds)]
    proc = subprocess.run(cmd, cwd=HERE.parent, env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        return {"method": method, "dataset": dataset, "protocol": protocol,
                "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    method, dataset, protocol, seeds = sys.argv[1:5]
    result = run_cell(method, dataset, protocol, [int(s) for s in seeds.split(",")])
    print(json.dumps(result))
