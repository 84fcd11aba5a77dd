"""Prior operators Phi (layer 1) and the name -> class table ``PRIORS``."""

from ._ae import AutoEncoderPrior
from ._base import Prior, pretrain_by_gradient
from ._cnn import TwoScaleCNNPrior
from ._ode import BilinearODEPrior, Lorenz63Prior, Lorenz96Prior
from ._pca import PCAPrior

#: Prior classes by the name the estimators accept for ``prior``.
PRIORS = {
    "ae": AutoEncoderPrior,
    "bilinear_ode": BilinearODEPrior,
    "cnn": TwoScaleCNNPrior,
    "lorenz63": Lorenz63Prior,
    "lorenz96": Lorenz96Prior,
    "pca": PCAPrior,
}

__all__ = [
    "PRIORS",
    "AutoEncoderPrior",
    "BilinearODEPrior",
    "Lorenz63Prior",
    "Lorenz96Prior",
    "PCAPrior",
    "Prior",
    "TwoScaleCNNPrior",
    "pretrain_by_gradient",
]
