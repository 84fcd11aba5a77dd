#!/usr/bin/env python
"""Subprocess runner: impute a gappy (n_steps, n_series) matrix with a PyPOTS
deep imputer (SAITS or BRITS), for use as a benchmark peer.

Run it with the benchmark-only virtualenv (see benchmarks/peers/README.md)::

    /work/venv-bench/bin/python benchmarks/peers/pypots_runner.py IN.npz OUT.npz \
        --method saits --seed 0 --epochs 100 --window 48 --threads 1

IN.npz  : ``X``, float array (n_steps, n_series), NaN where missing (already
          z-scored).  Nothing else is read: the runner never sees any truth.
OUT.npz : ``X_imputed`` (same shape, no NaN, observed entries unchanged),
          ``fit_seconds``, ``transform_seconds``, plus diagnostics
          (``n_fallback``, ``n_windows``, ``best_epoch``, ``config`` as JSON).

What it does, using only the gappy matrix:

1. cuts the series into windows of ``--window`` consecutive time steps
   (rows), stride ``window // 2``; one extra window is added at the end so
   that the last rows are covered;
2. trains the PyPOTS model on ``{"X": windows}`` for ``--epochs`` epochs.
   SAITS uses PyPOTS's own self-supervised objective (ORT on the observed
   entries + MIT on 20% of the observed entries that PyPOTS hides at random,
   afresh, in every batch).  BRITS uses PyPOTS's own objective (reconstruction
   of observed entries).  By default there is NO validation set, and PyPOTS
   then keeps the epoch with the lowest training loss.  With
   ``--val-frac F > 0`` a validation set is built by hiding a random fraction
   F of the *observed* entries of the whole matrix: the model is trained on
   the matrix without them and validated on recovering them (early stopping
   with ``--patience``); the final imputation still uses every observed entry.
3. imputes every window, stitches the windows back (overlapping windows are
   averaged), and puts the observed entries back unchanged;
4. any entry still NaN (should not happen) is filled by linear interpolation
   along time within its series (edges: nearest value; an all-NaN series: 0,
   the z-scored mean); the number of such entries is ``n_fallback``.

The runner never touches the network: HF/transformers are put in offline mode
and outbound socket connections are refused for the whole process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("inp", help="input .npz with key X (n_steps, n_series), NaN = missing")
    p.add_argument("out", help="output .npz")
    p.add_argument("--method", choices=("saits", "brits"), default="saits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--window", type=int, default=48)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument(
        "--val-frac",
        type=float,
        default=0.0,
        help="fraction of observed entries hidden to form a validation set (0 = no val set)",
    )
    p.add_argument(
        "--patience",
        type=int,
        default=0,
        help="early-stopping patience in epochs (only with --val-frac > 0; 0 = none)",
    )
    # SAITS hyperparameters
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--d-k", type=int, default=16)
    p.add_argument("--d-v", type=int, default=16)
    p.add_argument("--d-ffn", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--attn-dropout", type=float, default=0.1)
    # BRITS hyperparameter
    p.add_argument("--rnn-hidden", type=int, default=64)
    p.add_argument("--verbose", action="store_true", help="print PyPOTS per-epoch logs")
    return p.parse_args(argv)


def _limit_threads_env(n: int) -> None:
    # must run before numpy / torch are imported
    for var in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
    ):
        os.environ[var] = str(n)


def _go_offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    import socket

    def _refuse(*_a, **_k):
        raise OSError("pypots_runner: network access is disabled")

    socket.socket.connect = _refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = _refuse  # type: ignore[method-assign]
    socket.create_connection = _refuse  # type: ignore[assignment]


def make_windows(X, window: int):
    """Return (windows (n_win, window, n_series), list of start rows)."""
    import numpy as np

    n = X.shape[0]
    stride = max(1, window // 2)
    starts = list(range(0, n - window + 1, stride))
    if starts[-1] != n - window:
        starts.append(n - window)
    W = np.stack([X[s : s + window] for s in starts]).astype(np.float32)
    return W, starts


def stitch(W, starts, n_steps: int):
    """Average overlapping windows back into an (n_steps, n_series) matrix."""
    import numpy as np

    window, d = W.shape[1], W.shape[2]
    acc = np.zeros((n_steps, d), dtype=np.float64)
    cnt = np.zeros((n_steps, d), dtype=np.float64)
    for w, s in zip(W, starts):
        ok = np.isfinite(w)
        acc[s : s + window][ok] += w[ok]
        cnt[s : s + window] += ok
    out = np.full((n_steps, d), np.nan)
    np.divide(acc, cnt, out=out, where=cnt > 0)
    return out


def interp_fill(X):
    """Linear interpolation along time per column; edges nearest; all-NaN -> 0."""
    import numpy as np

    X = X.copy()
    t = np.arange(X.shape[0])
    for j in range(X.shape[1]):
        col = X[:, j]
        m = np.isfinite(col)
        if m.all():
            continue
        if not m.any():
            X[:, j] = 0.0
            continue
        X[~m, j] = np.interp(t[~m], t[m], col[m])
    return X


def build_model(args, window: int, n_series: int):
    import torch
    from pypots.optim import Adam

    common = dict(
        n_steps=window,
        n_features=n_series,
        batch_size=args.batch_size,
        epochs=args.epochs,
        patience=(args.patience if (args.val_frac > 0 and args.patience > 0) else None),
        optimizer=Adam(lr=args.lr),
        num_workers=0,
        device=torch.device("cpu"),
        saving_path=None,
        model_saving_strategy=None,
        verbose=args.verbose,
    )
    if args.method == "saits":
        from pypots.imputation import SAITS

        hp = dict(
            n_layers=args.n_layers,
            d_model=args.d_model,
            n_heads=args.n_heads,
            d_k=args.d_k,
            d_v=args.d_v,
            d_ffn=args.d_ffn,
            dropout=args.dropout,
            attn_dropout=args.attn_dropout,
        )
        return SAITS(**hp, **common), hp
    from pypots.imputation import BRITS

    hp = dict(rnn_hidden_size=args.rnn_hidden)
    return BRITS(**hp, **common), hp


def main(argv=None) -> int:
    args = parse_args(argv)
    _limit_threads_env(args.threads)
    _go_offline()

    import random

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(args.threads)
    except RuntimeError:
        pass
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    # PyPOTS prints a banner on stdout at import; keep stdout clean for callers.
    _stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        import pypots  # noqa: F401
        import pypots.imputation  # noqa: F401
    finally:
        sys.stdout = _stdout
    if not args.verbose:
        import logging

        logging.getLogger("pypots").setLevel(logging.WARNING)
        try:
            from pypots.utils.logging import logger as _pl

            _pl.setLevel(logging.WARNING)
        except Exception:
            pass

    with np.load(args.inp) as f:
        X = np.asarray(f["X"], dtype=np.float64)
    if X.ndim != 2:
        raise SystemExit(f"X must be 2-D (n_steps, n_series), got shape {X.shape}")
    X[~np.isfinite(X)] = np.nan
    n_steps, n_series = X.shape
    observed = np.isfinite(X)

    window = args.window
    if window > n_steps:
        print(f"pypots_runner: window {window} > n_steps {n_steps}; using {n_steps}", file=sys.stderr)
        window = n_steps
    if window < 2:
        raise SystemExit("window must be >= 2")

    W_full, starts = make_windows(X, window)

    model, hp = build_model(args, window, n_series)

    # ---------------- fit (only the gappy matrix) ----------------
    t0 = time.perf_counter()
    if args.val_frac > 0:
        rng = np.random.default_rng(args.seed + 12345)
        hide = observed & (rng.random(X.shape) < args.val_frac)
        X_train = X.copy()
        X_train[hide] = np.nan
        W_train, _ = make_windows(X_train, window)
        train_set = {"X": W_train}
        val_set = {"X": W_train, "X_ori": W_full}
        model.fit(train_set, val_set=val_set)
    else:
        model.fit({"X": W_full})
    fit_seconds = time.perf_counter() - t0

    # ---------------- impute ----------------
    t0 = time.perf_counter()
    W_imp = np.asarray(model.impute({"X": W_full}), dtype=np.float64)
    W_imp = W_imp.reshape(W_full.shape)
    X_imp = stitch(W_imp, starts, n_steps)
    X_imp[observed] = X[observed]
    nan_left = ~np.isfinite(X_imp)
    n_fallback = int(nan_left.sum())
    if n_fallback:
        print(
            f"pypots_runner: {n_fallback} entries left NaN by PyPOTS; filled by linear interpolation",
            file=sys.stderr,
        )
        X_imp = interp_fill(X_imp)
    transform_seconds = time.perf_counter() - t0

    assert np.isfinite(X_imp).all()
    config = dict(
        method=args.method,
        seed=args.seed,
        epochs=args.epochs,
        window=window,
        stride=max(1, window // 2),
        n_windows=len(starts),
        threads=args.threads,
        batch_size=args.batch_size,
        lr=args.lr,
        val_frac=args.val_frac,
        patience=args.patience,
        hyperparameters=hp,
        pypots_version=__import__("pypots").__version__,
        torch_version=torch.__version__,
    )
    np.savez(
        args.out,
        X_imputed=X_imp,
        fit_seconds=np.float64(fit_seconds),
        transform_seconds=np.float64(transform_seconds),
        n_fallback=np.int64(n_fallback),
        n_windows=np.int64(len(starts)),
        best_epoch=np.int64(getattr(model, "best_epoch", -1) or -1),
        config=np.array(json.dumps(config)),
    )
    print(
        json.dumps(
            dict(
                fit_seconds=round(fit_seconds, 3),
                transform_seconds=round(transform_seconds, 3),
                n_fallback=n_fallback,
                n_windows=len(starts),
                best_epoch=int(getattr(model, "best_epoch", -1) or -1),
            )
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
