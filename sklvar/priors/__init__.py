"""Prior operators Phi (layer 1) and the name -> class table ``PRIORS``."""

from ._ae import AutoEncoderPrior
from ._base import Prior
from ._pca import PCAPrior

#: Prior classes by the name the estimators accept for ``prior``.
PRIORS = {
    "ae": AutoEncoderPrior,
    "pca": PCAPrior,
}

__all__ = ["PRIORS", "AutoEncoderPrior", "PCAPrior", "Prior"]
