"""Iterative solvers Gamma (layer 3) and the name -> class table ``SOLVERS``."""

from ._base import Solver, gradient_scale
from ._fixed_point import FixedPointSolver
from ._gd import GradientDescentSolver
from ._lstm import ConvLSTMCell, LSTMSolver

#: Solver classes by the name the estimators accept for ``solver``.
SOLVERS = {
    "fixed_point": FixedPointSolver,
    "gd": GradientDescentSolver,
    "lstm": LSTMSolver,
}

__all__ = [
    "SOLVERS",
    "ConvLSTMCell",
    "FixedPointSolver",
    "GradientDescentSolver",
    "LSTMSolver",
    "Solver",
    "gradient_scale",
]
