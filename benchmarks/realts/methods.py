"""The methods of the real-data benchmark: sklvar configurations and peers.

Every method maps a gappy (T, D) matrix (NaN = missing, z-scored) and a seed
to a complete matrix; none sees the truth.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import peers

HERE = Path(__file__).resolve().parent


def sklvar_default(X, seed=0):
    """``VariationalImputer(layout="series")``: what ``sklvar impute`` runs."""
    from sklvar import VariationalImputer

    return VariationalImputer(layout="series", random_state=seed).fit_transform(X)


def sklvar_field1(X, seed=0):
    """One field model, order 1, ridge 1e-3, no model choice."""
    from sklvar import VariationalImputer

    return VariationalImputer(
        prior="field", layout="series", random_state=seed,
        prior_params={"order": 1, "alpha": 1e-3},
    ).fit_transform(X)


def sklvar_cnn_lstm(X, seed=0):
    """The previous default of ``sklvar impute``: 2S-CNN + LSTM, window 64, 30 epochs."""
    from sklvar import VariationalImputer

    return VariationalImputer(
        prior="cnn", solver="lstm", window=64, max_epochs=30, random_state=seed,
    ).fit_transform(X)


def _pypots(method):
    def run(X, seed=0, epochs=None):
        python = os.environ.get("SKLVAR_BENCH_PYTHON", "/work/venv-bench/bin/python")
        epochs = epochs or int(os.environ.get("SKLVAR_PYPOTS_EPOCHS", "100"))
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
            np.savez(src, X=X)
            cmd = [python, str(HERE.parent / "peers" / "pypots_runner.py"), str(src),
                   str(dst), "--method", method, "--seed", str(seed),
                   "--epochs", str(epochs), "--window", "48", "--threads", "1"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"{method} failed: {proc.stderr[-2000:]}")
            out = np.load(dst)
            return out["X_imputed"]
    run.__doc__ = (f"PyPOTS {method.upper()} (separate venv, "
                   "benchmarks/peers/pypots_runner.py), trained on the gappy matrix.")
    return run


METHODS = {
    "sklvar": sklvar_default,
    "sklvar field(1)": sklvar_field1,
    **peers.PEERS,
    "SAITS": _pypots("saits"),
    "BRITS": _pypots("brits"),
}
#: methods run on request only (--methods), outside the ranking
EXTRA = {
    "sklvar cnn+lstm (old default)": sklvar_cnn_lstm,
}
