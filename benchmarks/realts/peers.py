"""Classical peers of the real-data benchmark, all fed the same gappy matrix."""

import numpy as np
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer


def linear_interpolation(X, seed=0):
    """Linear interpolation along time, series by series; ends held constant."""
    out = X.copy()
    t = np.arange(X.shape[0])
    for j in range(X.shape[1]):
        obs = ~np.isnan(X[:, j])
        if obs.any():
            out[:, j] = np.interp(t, t[obs], X[obs, j])
        else:
            out[:, j] = 0.0
    return out


def knn(X, seed=0):
    """scikit-learn's KNNImputer, defaults (5 neighbours among the time steps)."""
    return KNNImputer().fit_transform(X)


def iterative(X, seed=0):
    """scikit-learn's IterativeImputer, defaults (BayesianRidge, 10 rounds)."""
    return IterativeImputer(random_state=seed).fit_transform(X)


def soft_impute(X, seed=0, max_iter=100, tol=1e-5):
    """SoftImpute (Mazumder, Hastie & Tibshirani 2010) as fancyimpute runs it.

    Shrinkage of the singular values by max singular value / 50 of the
    zero-filled matrix (fancyimpute's default), initial fill 0, stop when the
    relative change is below ``tol``.
    """
    obs = ~np.isnan(X)
    Y = np.where(obs, X, 0.0)
    shrink = np.linalg.svd(Y, compute_uv=False)[0] / 50.0
    Z = Y.copy()
    for _ in range(max_iter):
        U, s, Vt = np.linalg.svd(Z, full_matrices=False)
        s = np.maximum(s - shrink, 0.0)
        low = (U * s) @ Vt
        new = np.where(obs, X, low)
        delta = np.sum((new - Z) ** 2) / max(np.sum(Z**2), 1e-12)
        Z = new
        if delta < tol:
            break
    return Z


PEERS = {
    "linear interpolation": linear_interpolation,
    "KNNImputer": knn,
    "IterativeImputer": iterative,
    "SoftImpute": soft_impute,
}
