"""
==========================================================
Gaps in a table of correlated series: the field prior
==========================================================

A table whose rows are time steps and whose columns are series (stations,
sensors, prices) is the most common gappy data.
``VariationalImputer(layout="series")`` imputes it as one multivariate
series with the **field prior**: every entry is predicted from the entries of
all series within a few steps of it, the coefficients are those of a
stationary Gaussian field fitted by EM on the observed entries, and the
imputation is the paper's fixed point :math:`x = \\Omega y + (1-\\Omega)
\\Phi(x)`, solved exactly. The model is chosen on the table's own gaps shifted
onto observed entries, so no ground truth is needed. It uses time (like
interpolation) and the other series (like
:class:`~sklearn.impute.IterativeImputer`) at once.
"""

# %%
# Eight stations that share two slow patterns
# -------------------------------------------
# Eight series of 1500 steps: mixtures of two smooth latent signals, each
# with its own offset, scale and noise. Three stations lose blocks of 20
# steps at random, and two stations lose the same 300 steps (an outage).
import numpy as np

rng = np.random.RandomState(0)
n_steps, n_series = 1500, 8
latent = np.zeros((n_steps, 2))
for t in range(2, n_steps):
    latent[t] = 1.6 * latent[t - 1] - 0.7 * latent[t - 2] + rng.normal(size=2)
mixing = rng.normal(size=(2, n_series))
X_true = latent @ mixing + rng.normal(scale=1.0, size=(n_steps, n_series))
X_true = 10 + X_true * rng.uniform(0.5, 2.0, n_series)

X = X_true.copy()
for j in (0, 3, 5):
    for start in rng.randint(100, n_steps - 20, size=12):
        X[start:start + 20, j] = np.nan
X[600:900, [1, 2]] = np.nan
print(f"{np.isnan(X).mean():.1%} of the entries are missing")

# %%
# Impute with the field prior and with two classical peers
# --------------------------------------------------------
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer

from sklvar import VariationalImputer

imp = VariationalImputer(layout="series", random_state=0)
X_field = imp.fit_transform(X)
print("chosen models:", [(spec["kind"], spec["order"], round(w, 2))
                         for spec, w, _ in imp.field_models_])

t = np.arange(n_steps)
X_linear = np.column_stack(
    [np.interp(t, t[~np.isnan(X[:, j])], X[~np.isnan(X[:, j]), j])
     for j in range(n_series)]
)
X_iter = IterativeImputer(random_state=0).fit_transform(X)

missing = np.isnan(X)
for name, X_hat in [("field prior (sklvar)", X_field),
                    ("linear interpolation", X_linear),
                    ("IterativeImputer", X_iter)]:
    rmse = np.sqrt(np.mean((X_hat - X_true)[missing] ** 2))
    print(f"{name:22s} RMSE on the gaps: {rmse:.3f}")

# %%
# The outage and a few gaps
# -------------------------
from sklvar.plotting import plot_series

fig = plot_series(
    X[450:1050], X_field[450:1050], X_true[450:1050], index=t[450:1050],
    columns=[f"station {j}" for j in range(n_series)],
    others={"linear interpolation": X_linear[450:1050]}, max_columns=4,
)
fig.suptitle("Field prior (sklvar) against linear interpolation")
