"""scikit-learn conformance of the sklvar estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklvar import VariationalImputer


def _cheap(solver):
    return VariationalImputer(
        prior="pca", solver=solver, max_epochs=1, batch_size=8, n_solver_iter=2,
        n_solver_iter_start=1, random_state=0,
    )


ESTIMATORS = [
    _cheap("lstm"), _cheap("gd"), _cheap("fixed_point"),
    # the series-table configuration (field prior, exact fixed point)
    VariationalImputer(layout="series", random_state=0),
]


def _expected_failed_checks(estimator):
    # no expected failure: every check passes
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
