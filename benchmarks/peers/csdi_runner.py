#!/usr/bin/env python
"""Subprocess runner: draws of a gappy (n_steps, n_series) matrix from PyPOTS CSDI.

Run it with the benchmark-only virtualenv (see benchmarks/peers/README.md)::

    /work/venv-bench/bin/python benchmarks/peers/csdi_runner.py IN.npz OUT.npz \\
        --seed 0 --epochs 20 --n-samples 20 --window 48 --threads 1

IN.npz  : ``X``, float (n_steps, n_series), NaN where missing (z-scored); no
          truth is read.
OUT.npz : ``draws`` (n_samples, n_steps, n_series; observed entries equal to
          X), ``fit_seconds``, ``transform_seconds``, ``config`` (JSON).

Training uses overlapping windows (stride ``window // 2``) and PyPOTS's own
self-supervised CSDI objective (``target_strategy="random"``: random observed
entries are the conditional targets); sampling uses non-overlapping windows
(plus one last window ending at the last row), so every entry of a draw comes
from one reverse-diffusion sample, not an average of two (which would shrink
the spread). Model size: smaller than the CSDI paper's (``--n-layers 2
--n-channels 32``) so that it trains within the benchmark's budget on one CPU
thread; ``--n-diffusion-steps 50`` as in the paper.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pypots_runner import (  # noqa: E402
    _go_offline,
    _limit_threads_env,
    interp_fill,
    make_windows,
)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("inp")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--n-samples", type=int, default=20)
    p.add_argument("--window", type=int, default=48)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--n-channels", type=int, default=32)
    p.add_argument("--n-diffusion-steps", type=int, default=50)
    args = p.parse_args(argv)
    _limit_threads_env(args.threads)
    _go_offline()

    import random

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    _stdout, sys.stdout = sys.stdout, sys.stderr
    try:
        from pypots.imputation import CSDI
        from pypots.optim import Adam
    finally:
        sys.stdout = _stdout

    with np.load(args.inp) as f:
        X = np.asarray(f["X"], dtype=np.float64)
    n_steps, n_series = X.shape
    observed = np.isfinite(X)
    window = min(args.window, n_steps)
    W_train, _ = make_windows(X, window)
    hp = dict(n_layers=args.n_layers, n_heads=args.n_heads,
              n_channels=args.n_channels, d_time_embedding=64,
              d_feature_embedding=16, d_diffusion_embedding=64,
              n_diffusion_steps=args.n_diffusion_steps)
    model = CSDI(n_steps=window, n_features=n_series, **hp,
                 batch_size=args.batch_size, epochs=args.epochs,
                 optimizer=Adam(lr=1e-3), num_workers=0,
                 device=torch.device("cpu"), saving_path=None,
                 model_saving_strategy=None, verbose=False)
    t0 = time.perf_counter()
    model.fit({"X": W_train})
    fit_seconds = time.perf_counter() - t0

    starts = list(range(0, n_steps - window + 1, window))
    if starts[-1] != n_steps - window:
        starts.append(n_steps - window)
    W = np.stack([X[s:s + window] for s in starts]).astype(np.float32)
    t0 = time.perf_counter()
    res = model.predict({"X": W}, n_sampling_times=args.n_samples)
    S = np.asarray(res["imputation"], dtype=np.float64)  # (n_win, n_samp, L, D)
    draws = np.empty((args.n_samples, n_steps, n_series))
    for w, s in zip(S, starts):  # the last window overwrites the overlap
        draws[:, s:s + window] = w
    transform_seconds = time.perf_counter() - t0
    n_fallback = int((~np.isfinite(draws)).sum())
    for k in range(args.n_samples):
        if not np.isfinite(draws[k]).all():
            draws[k] = interp_fill(np.where(np.isfinite(draws[k]), draws[k], np.nan))
        draws[k][observed] = X[observed]
    config = dict(vars(args), window=window, hyperparameters=hp,
                  n_fallback=n_fallback,
                  pypots_version=__import__("pypots").__version__,
                  torch_version=torch.__version__)
    config.pop("inp"), config.pop("out")
    np.savez(args.out, draws=draws, fit_seconds=np.float64(fit_seconds),
             transform_seconds=np.float64(transform_seconds),
             config=np.array(json.dumps(config)))
    print(json.dumps(dict(fit_seconds=round(fit_seconds, 2),
                          transform_seconds=round(transform_seconds, 2),
                          n_fallback=n_fallback)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
