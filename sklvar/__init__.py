"""sklvar: scikit-learn imputers built on learned variational solvers.

Fills gaps in multivariate time series, images and tables by minimising a
variational cost ``lambda_obs ||x - y||^2_Omega + lambda_prior ||x - Phi(x)||^2``
with a learned prior ``Phi`` and a learned solver (Fablet, Drumetz, Rousseau 2020).
The estimators are imported lazily: ``import sklvar`` does not import torch.
"""

__version__ = "0.1.0"

__all__ = ["DictionaryImputer", "VariationalImputer", "__version__"]


def __getattr__(name):
    if name in ("VariationalImputer", "DictionaryImputer"):
        from . import impute

        return getattr(impute, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
