"""
==============================================================
Tuning the cost weight and the iteration count without labels
==============================================================

``VariationalImputer.score`` needs no ground truth: it hides a seeded part of
the *observed* entries, imputes them and returns minus their normalised mean
squared error. :class:`~sklearn.model_selection.GridSearchCV` can therefore
tune the weight of the prior term ``lambda_prior`` and the number of solver
iterations ``n_solver_iter`` on gappy data alone. Here the data are simulated,
so we can check the choice against the true error on the missing entries.
"""

# %%
# Gappy low-rank data
# -------------------
# 600 rows of 20 features that lie near a 3-dimensional subspace, with 30 %
# of the entries missing at random. Each row is one sample.
import numpy as np

rng = np.random.RandomState(0)
X_true = rng.normal(size=(600, 3)) @ rng.normal(size=(3, 20))
X_true += 0.1 * rng.normal(size=X_true.shape)
observed = rng.uniform(size=X_true.shape) > 0.3
X = np.where(observed, X_true, np.nan)

# %%
# The search
# ----------
# A PCA prior with 3 components and fixed-step gradient descent (the paper's
# PCA-FSGD): with few iterations the solver stops far from the minimum of the
# cost, and ``lambda_prior`` sets how much the prior counts against the
# observations. ``GridSearchCV(...).fit(X)`` gets no ``y``: each candidate is
# scored by the label-free ``score`` on the held-out rows.
from sklearn.model_selection import GridSearchCV

from sklvar import VariationalImputer

imputer = VariationalImputer(prior="pca", solver="gd", prior_params={"n_components": 3},
                             max_epochs=5, batch_size=64, lr=1e-2, random_state=0)
param_grid = {"lambda_prior": [0.1, 1.0, 10.0], "n_solver_iter": [1, 5, 20]}
search = GridSearchCV(imputer, param_grid, cv=3).fit(X)
print("best parameters:", search.best_params_)
print(f"best label-free score: {search.best_score_:.4f}")

# %%
# Label-free score versus the true error
# --------------------------------------
# For each candidate, the model refitted on all rows is compared with the
# truth on the missing entries (:func:`~sklvar.metrics.interpolation_error`).
# The label-free cross-validated error (minus the score, left) and the true
# error (right) agree on what matters most, the number of iterations: both
# put the 20-iteration models first. Among those, the label-free score picks
# ``lambda_prior=1`` where the truth would pick 0.1, the second best.
import matplotlib.pyplot as plt
from sklearn.base import clone

from sklvar.metrics import interpolation_error

lambdas, iterations = param_grid["lambda_prior"], param_grid["n_solver_iter"]
cv_error = np.empty((len(lambdas), len(iterations)))
true_error = np.empty_like(cv_error)
for params, score in zip(search.cv_results_["params"],
                         search.cv_results_["mean_test_score"]):
    i = lambdas.index(params["lambda_prior"])
    j = iterations.index(params["n_solver_iter"])
    cv_error[i, j] = -score
    X_filled = clone(imputer).set_params(**params).fit_transform(X)
    true_error[i, j] = interpolation_error(X_true, X_filled, observed_mask=observed)

fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
for ax, values, title in [(axes[0], cv_error, "label-free CV error"),
                          (axes[1], true_error, "true error on the missing entries")]:
    log = np.log(values)
    ax.imshow(log, cmap="viridis_r")
    shade = (log - log.min()) / np.ptp(log)  # 0 (best, bright) to 1 (dark)
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:.3f}", ha="center", va="center",
                color="k" if shade[i, j] < 0.5 else "w")
    ax.set_xticks(range(len(iterations)), labels=iterations)
    ax.set_yticks(range(len(lambdas)), labels=lambdas)
    ax.set_xlabel("n_solver_iter")
    ax.set_ylabel("lambda_prior")
    ax.set_title(title)
