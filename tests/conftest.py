import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seeds_fixed():
    np.random.seed(0)
    torch.manual_seed(0)
    # tiny tensors: one thread is as fast, and far faster on a loaded machine
    torch.set_num_threads(1)
    yield


def low_rank(n_samples=120, n_features=8, rank=2, missing_rate=0.2, seed=0, noise=0.0):
    """Low-rank data and a copy with NaN holes."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, rank)) @ rng.normal(size=(rank, n_features))
    X = X + noise * rng.normal(size=X.shape)
    X_missing = X.copy()
    X_missing[rng.uniform(size=X.shape) < missing_rate] = np.nan
    return X, X_missing


@pytest.fixture(scope="session")
def gappy():
    return low_rank()


@pytest.fixture(scope="session")
def fitted_lstm(gappy):
    from sklvar import VariationalImputer

    _, X_missing = gappy
    return VariationalImputer(
        prior="pca", solver="lstm", max_epochs=3, batch_size=32, n_solver_iter=3,
        random_state=0,
    ).fit(X_missing)
