"""The sample layout: the "auto" rule, its warning and what verbose shows (gh-19)."""

import re
import warnings

import numpy as np
import pytest

from sklvar import DictionaryImputer, VariationalImputer
from sklvar.utils import resolve_layout

AMBIGUOUS = re.escape(
    "sample_shape=(3, 8) with layout='auto' is read as a one-channel image of "
    "shape (1, 3, 8) (2-D convolutions); if each row holds 3 series of 8 time "
    "steps, pass layout='series'. Pass layout='image' or layout='series' "
    "explicitly to silence this warning."
)


@pytest.fixture
def rows_of_3_by_8():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(24, 24))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    return X


def test_two_entries_under_auto_are_an_image_with_a_warning():
    with pytest.warns(UserWarning, match=AMBIGUOUS):
        layout = resolve_layout(24, sample_shape=(3, 8))
    assert (layout.kind, layout.shape, layout.window) == ("image", (1, 3, 8), None)


@pytest.mark.parametrize("kwargs, kind, shape", [
    (dict(sample_shape=(3, 8), layout="series"), "series", (3, 8)),
    (dict(sample_shape=(3, 8), layout="image"), "image", (1, 3, 8)),
    (dict(sample_shape=(2, 3, 4)), "image", (2, 3, 4)),
    (dict(sample_shape=(24,)), "vector", (24,)),
    (dict(), "vector", (24,)),
    (dict(window=8), "series", (24, 8)),
])
def test_unambiguous_layouts_do_not_warn(kwargs, kind, shape):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layout = resolve_layout(24, **kwargs)
    assert (layout.kind, layout.shape) == (kind, shape)


def test_describe_names_kind_shape_and_window():
    assert resolve_layout(3, window=64).describe() == (
        "series, sample shape (3, 64), windows of 64 rows of X"
    )
    assert resolve_layout(6, sample_shape=(3, 2), layout="series").describe() == (
        "series, sample shape (3, 2)"
    )


@pytest.mark.parametrize("make", [
    lambda **kw: VariationalImputer(prior="pca", max_epochs=1, n_solver_iter=2,
                                    n_solver_iter_start=1, random_state=0, **kw),
    lambda **kw: DictionaryImputer(n_components=3, max_iter=1, random_state=0, **kw),
], ids=["VariationalImputer", "DictionaryImputer"])
def test_estimators_warn_on_ambiguous_sample_shape(make, rows_of_3_by_8):
    with pytest.warns(UserWarning, match=AMBIGUOUS):
        imp = make(sample_shape=(3, 8)).fit(rows_of_3_by_8)
    assert imp.layout_.kind == "image"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        imp = make(sample_shape=(3, 8), layout="series").fit(rows_of_3_by_8)
    assert imp.layout_.kind == "series" and imp.layout_.shape == (3, 8)


def test_verbose_prints_the_layout_and_the_model(rows_of_3_by_8, capsys):
    VariationalImputer(prior="cnn", solver="lstm", sample_shape=(3, 8),
                       layout="series", max_epochs=1, n_solver_iter=2,
                       n_solver_iter_start=1, random_state=0, verbose=1,
                       prior_params={"n_hidden": 4, "n_channels": 4},
                       ).fit(rows_of_3_by_8)
    out = capsys.readouterr().out
    assert re.search(
        r"\[VariationalImputer\] layout: series, sample shape \(3, 8\); model: "
        r"TwoScaleCNNPrior prior \([\d,]+ parameters\), LSTMSolver solver "
        r"\([\d,]+ parameters\), [\d,]+ parameters in all; 1 torch thread\(s\), "
        r"device 'cpu'", out
    ), out


def test_dictionary_verbose_prints_the_layout(rows_of_3_by_8, capsys):
    DictionaryImputer(n_components=3, max_iter=1, random_state=0, verbose=1,
                      sample_shape=(3, 8), layout="series").fit(rows_of_3_by_8)
    assert ("[DictionaryImputer] layout: series, sample shape (3, 8); 3 atoms"
            in capsys.readouterr().out)
