"""Plot helpers: energy pathways, series and image grids."""

import sys

import numpy as np
import pytest
import torch

from sklvar import VariationalImputer
from sklvar.diagnostics import energy_path
from sklvar.plotting import plot_energy_path, plot_image_grid, plot_series


@pytest.fixture(scope="module")
def series():
    rng = np.random.RandomState(0)
    t = np.arange(120)
    X_true = np.c_[np.sin(t / 6), np.cos(t / 6)]
    X = X_true.copy()
    X[rng.uniform(size=X.shape) < 0.25] = np.nan
    return X_true, X


@pytest.fixture(scope="module")
def fitted(series):
    _, X = series
    torch.manual_seed(0)
    return VariationalImputer(
        prior="pca", solver="gd", window=20, max_epochs=1, n_solver_iter=3,
        random_state=0,
    ).fit(X)


@pytest.fixture
def plt():
    plt = pytest.importorskip("matplotlib.pyplot")
    pytest.importorskip("matplotlib").use("Agg")
    yield plt
    plt.close("all")


def test_energy_path_records_every_iteration(fitted, series):
    X_true, X = series
    path = energy_path(fitted, X, X_true=X_true, n_iter=6)
    assert path.energy.shape == (7,) and path.error.shape == (7,)
    assert np.all(np.isfinite(path.energy)) and np.all(path.energy >= 0)
    # gradient descent with a step bounded by 1/curvature decreases the cost
    assert path.energy[-1] < path.energy[0]


def test_energy_path_matches_the_cost_of_the_model_output(fitted, series):
    _, X = series
    module = fitted.net_.module_
    Z, observed = fitted.codec_.encode(X)
    Z = np.where(observed, Z, np.nan)
    path = energy_path(module, Z, n_iter=4, max_samples=None)
    y = torch.as_tensor(np.nan_to_num(Z), dtype=torch.float32)
    m = torch.as_tensor(observed)
    with torch.no_grad():
        x_hat = module(y, m, n_iter=4)
        expected = float(module.cost(x_hat, y, m).mean())
    np.testing.assert_allclose(path.energy[-1], expected, rtol=1e-5)
    assert path.error is None


def test_energy_path_rejects_other_objects(series):
    with pytest.raises(TypeError, match="VariationalModel or a fitted imputer"):
        energy_path(object(), series[1])


def test_plot_energy_path(fitted, series, plt):
    X_true, X = series
    axes = plot_energy_path({"gd": fitted, "gd again": fitted}, X, X_true=X_true,
                            n_iter=3, relative=True)
    assert len(axes) == 2
    assert len(axes[0].lines) == 2
    assert axes[0].lines[0].get_ydata()[0] == pytest.approx(1.0)


def test_plot_series(series, plt):
    X_true, X = series
    X_hat = np.where(np.isnan(X), 0.0, X)
    fig = plot_series(X, X_hat, X_true, others={"zero": np.zeros_like(X)},
                      columns=["u", "v"])
    assert [ax.get_ylabel() for ax in fig.axes] == ["u", "v"]
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["true", "zero", "imputed", "observed"]


def test_plot_series_dataframe_index(series, plt):
    pd = pytest.importorskip("pandas")
    _, X = series
    df = pd.DataFrame(X, columns=["p", "q"],
                      index=pd.date_range("2024", periods=len(X), freq="D"))
    fig = plot_series(df, df.fillna(0.0))
    assert [ax.get_ylabel() for ax in fig.axes] == ["p", "q"]


def test_plot_series_shape_mismatch(series, plt):
    with pytest.raises(ValueError, match="X_imputed must have the shape of X"):
        plot_series(series[1], series[1][:10])


def test_plot_image_grid(plt):
    rng = np.random.RandomState(0)
    images = rng.uniform(size=(5, 16))
    holes = images.copy()
    holes[:, :4] = np.nan
    fig = plot_image_grid([images, holes], row_labels=["true", "observed"],
                          n_images=3)
    assert len(fig.axes) == 6
    assert fig.axes[0].get_ylabel() == "true"
    with pytest.raises(ValueError, match="image_shape"):
        plot_image_grid(rng.uniform(size=(2, 15)))
    fig = plot_image_grid(rng.uniform(size=(2, 3, 5)))
    assert len(fig.axes) == 2


def test_clear_error_without_matplotlib(monkeypatch, series):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    for call in (lambda: plot_series(series[1]),
                 lambda: plot_image_grid(np.zeros((1, 4))),
                 lambda: plot_energy_path(None, series[1])):
        with pytest.raises(ImportError, match=r"pip install .sklvar\[plot\]"):
            call()
