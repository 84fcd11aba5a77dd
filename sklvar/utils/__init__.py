"""Low-level helpers shared by every layer of sklvar (layer 0).

This package imports only numpy, scipy and scikit-learn. The torch helpers live
in :mod:`sklvar.utils._torch` and are imported explicitly by the torch layers,
so that :mod:`sklvar.datasets`, :mod:`sklvar.metrics` and the dictionary
baseline stay importable without torch.
"""

from ._codec import SampleCodec, Standardization
from ._layout import SampleLayout, resolve_layout
from ._masks import hide_observed, linear_fill
from ._ode import rk4_step
from ._threads import blas_threads, check_n_threads
from ._windows import WindowStitcher, cut_windows, stitch_weights, window_starts

__all__ = [
    "SampleCodec",
    "SampleLayout",
    "Standardization",
    "WindowStitcher",
    "blas_threads",
    "check_n_threads",
    "cut_windows",
    "hide_observed",
    "linear_fill",
    "resolve_layout",
    "rk4_step",
    "stitch_weights",
    "window_starts",
]
