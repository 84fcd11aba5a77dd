"""Data sets of the paper and missing-data generators (numpy, scipy, sklearn only).

- :func:`make_lorenz63`, :func:`make_lorenz96`: the paper's Lorenz benchmarks,
  windows of noisy, sub-sampled observations with their true states.
- :func:`make_missing`: random, block (time-series gaps) and hole (image
  patches) missing-data patterns.
- :func:`load_mnist`: reads MNIST IDX files from a local folder.
"""

from ._lorenz import make_lorenz63, make_lorenz96
from ._missing import make_missing
from ._mnist import load_mnist

__all__ = ["load_mnist", "make_lorenz63", "make_lorenz96", "make_missing"]
