"""
==========================================================
How good is a filled gap? Calibrated intervals and draws
==========================================================

A filled gap is a guess. :class:`~sklvar.VariationalImputer` says how good
each guess is: ``transform(X, return_std=True)`` gives a spread per entry,
``predict_interval(X, level)`` a central interval, ``predict_quantiles`` any
quantiles, and ``sample(X, n_samples)`` draws for multiple imputation (observed
entries equal to X in every draw). The intervals are calibrated at fit on the
data alone: copies of the table's own gaps are shifted in time onto observed
entries, imputed, and the residuals there, normalised by a scale that grows
with the distance to the nearest observation, give the quantiles (split
conformal prediction). No truth of the gaps is used, and intervals are wider
in the middle of a long gap than next to an observation.

The series here is real: the ETTh1 electricity-transformer table (hourly, 7
series) of the shared development data (``../shared/data/realts``, or the
folder in ``$SKLVAR_REALTS``). Where that folder is missing, a simulated
series of the same size is used instead and the title says so.
"""

# %%
# A real table with gaps cut in it
# --------------------------------
# The first 2000 hours of ETTh1, z-scored. We cut the gaps ourselves (so
# their truth is known, to check the intervals): 40 blocks of 10 hours in two
# series, and one outage of 150 hours in the oil temperature (the last
# series).
import os
from pathlib import Path

import numpy as np


def _realts_folder():
    here = Path(globals().get("__file__", "examples/x.py")).resolve().parent
    for folder in (os.environ.get("SKLVAR_REALTS"),
                   here.parent.parent / "shared" / "data" / "realts"):
        if folder and (Path(folder) / "etth1.txt.gz").exists():
            return Path(folder)
    return None


folder = _realts_folder()
if folder is not None:
    X_true = np.loadtxt(folder / "etth1.txt.gz")[:2000]
    source = "ETTh1 (real)"
else:  # a stand-in with daily cycles, when the shared data are absent
    rng = np.random.RandomState(0)
    t = np.arange(2000)[:, None]
    X_true = np.sin(2 * np.pi * t / 24 + np.arange(7)) + np.cumsum(
        rng.normal(scale=0.1, size=(2000, 7)), axis=0)
    source = "simulated (shared data not found)"
X_true = (X_true - X_true.mean(axis=0)) / X_true.std(axis=0)

rng = np.random.RandomState(0)
X = X_true.copy()
for j in (2, 6):
    for start in rng.randint(200, 1990, size=40):
        X[start:start + 10, j] = np.nan
X[1200:1350, 6] = np.nan
missing = np.isnan(X)
print(f"{source}: {X.shape}, {missing.mean():.1%} missing")

# %%
# Fit once, then intervals and draws are cheap
# --------------------------------------------
import time

from sklvar import VariationalImputer

imp = VariationalImputer(layout="series", random_state=0).fit(X)
t0 = time.perf_counter()
X_hat, X_std = imp.transform(X, return_std=True)
lo50, up50 = imp.predict_interval(X, 0.5)
lo90, up90 = imp.predict_interval(X, 0.9)
draws = imp.sample(X, n_samples=20, random_state=0)
print(f"spread, two intervals and 20 draws in {time.perf_counter() - t0:.2f} s")
assert all(np.array_equal(d[~missing], X[~missing]) for d in draws)

# %%
# Do the intervals hold the truth as often as they say?
# -----------------------------------------------------
# The truth of the gaps was never seen by the imputer; here we use it to
# check the calibration.
for level, (lo, up) in ((0.5, (lo50, up50)), (0.9, (lo90, up90))):
    inside = (X_true[missing] >= lo[missing]) & (X_true[missing] <= up[missing])
    print(f"{level:.0%} intervals hold {inside.mean():.1%} of the true gap values")
rmse = np.sqrt(np.mean((X_hat - X_true)[missing] ** 2))
print(f"RMSE of the imputation on the gaps: {rmse:.3f} (z-scored units)")

# %%
# The bands around the outage
# ---------------------------
# The 90 % band (light) and the 50 % band (dark) widen towards the middle of
# the 150-hour outage and stay narrow in the short gaps; two draws show
# plausible trajectories through the gap (their errors are correlated in
# time, as the residuals of the shifted gaps were).
import matplotlib.pyplot as plt

j, window = 6, slice(1100, 1450)
t = np.arange(X.shape[0])[window]
fig, ax = plt.subplots(figsize=(9, 3.6))
ax.fill_between(t, lo90[window, j], up90[window, j], color="tab:blue", alpha=0.2,
                lw=0, label="90 % interval")
ax.fill_between(t, lo50[window, j], up50[window, j], color="tab:blue", alpha=0.4,
                lw=0, label="50 % interval")
for k in range(2):
    ax.plot(t, np.where(missing[window, j], draws[k, window, j], np.nan),
            color="tab:green", lw=0.7, alpha=0.8, label="draws" if k == 0 else None)
ax.plot(t, X_true[window, j], color="0.5", lw=0.8, label="truth (hidden)")
ax.plot(t, X[window, j], color="k", lw=1.0, label="observed")
ax.plot(t, np.where(missing[window, j], X_hat[window, j], np.nan), color="tab:red",
        lw=1.2, label="imputed")
ax.set_xlabel("hour")
ax.set_ylabel("oil temperature (z-scored)")
ax.set_title(f"{source}: imputed gaps with calibrated 50 % and 90 % bands")
ax.legend(loc="upper left", ncol=3, fontsize=8)
fig.tight_layout()
plt.show()
