"""
=======================================
Inpainting MNIST digits with holes
=======================================

The image experiment of the paper (its Table 1): digits lose three 9x9
squares each, and the missing pixels are filled by a variational model
learned on damaged digits and their complete versions. With
``sample_shape=(28, 28)`` and ``layout="image"``, each row of ``X`` is one
image; the LSTM solver then runs 2-D convolutions.

The MNIST files are not shipped with sklvar and nothing is downloaded: the
example reads the IDX files from the folder named by the environment
variable ``SKLVAR_MNIST``, or from ``../shared/data/mnist`` (relative
to the repository root), and stops cleanly when they are absent.

.. note::

    This example is **not run in CI**: the documentation build of CI
    (``SKLVAR_GALLERY=fast``) runs only the fast examples, and the MNIST
    files are not available there. The outputs and figures shown on this
    page come from a local build with the MNIST files (``SKLVAR_GALLERY=all``);
    when the page has none, the example was not run.
"""

# %%
# Load and damage the digits
# --------------------------
import os
import pathlib
import sys

import numpy as np

from sklvar.datasets import load_mnist, make_missing


def find_mnist():
    """The folder of the MNIST IDX files, or None."""
    candidates = [os.environ.get("SKLVAR_MNIST"), "../shared/data/mnist",
                  "../../shared/data/mnist"]
    for folder in filter(None, candidates):
        if list(pathlib.Path(folder).glob("t10k-images-idx3-ubyte*")):
            return folder
    return None


folder = find_mnist()
if folder is None:
    print("MNIST files not found (set SKLVAR_MNIST to the folder of the IDX "
          "files); skipping this example.")
    sys.exit(0)

digits = load_mnist(folder, kind="t10k").data / 255.0
X_train_true, X_test_true = digits[:1000], digits[5000:5300]
X_train, _ = make_missing(X_train_true, pattern="holes", n_holes=3, hole_size=9,
                          sample_shape=(28, 28), random_state=0)
X_test, observed = make_missing(X_test_true, pattern="holes", n_holes=3,
                                hole_size=9, sample_shape=(28, 28), random_state=1)
print(f"{len(X_train)} training and {len(X_test)} test digits, "
      f"{np.isnan(X_test).mean():.0%} of the test pixels missing")

# %%
# Fixed-step gradient descent versus the learned LSTM solver
# ----------------------------------------------------------
# Both models use a PCA prior with 30 components. The complete training
# digits are given as ``y``: the training is supervised, as in the paper.
# The first model descends the variational cost with a fixed (learned) step;
# the second learns its updates with a convolutional LSTM fed with the
# gradient of the cost.
from sklearn.impute import SimpleImputer

from sklvar import VariationalImputer
from sklvar.metrics import interpolation_error

common = dict(prior="pca", prior_params={"n_components": 30},
              sample_shape=(28, 28), layout="image", batch_size=64, lr=1e-2,
              random_state=0)
models = {
    "mean": SimpleImputer(keep_empty_features=True),
    "PCA + gradient descent": VariationalImputer(solver="gd", max_epochs=10, **common),
    "PCA + LSTM": VariationalImputer(solver="lstm", max_epochs=6, **common),
}
variance = X_train_true.var()
imputed = {}
for name, model in models.items():
    if isinstance(model, VariationalImputer):
        model.fit(X_train, y=X_train_true)
    else:
        model.fit(X_train)
    imputed[name] = model.transform(X_test)
    error = interpolation_error(X_test_true, imputed[name], observed_mask=observed,
                                variance=variance)
    print(f"{name:>24}: I-score (normalised MSE on the holes) {error:.3f}")

# %%
# The first test digits: complete, damaged (missing pixels in red), and
# the two variational reconstructions.
from sklvar.plotting import plot_image_grid

fig = plot_image_grid(
    [X_test_true, X_test, imputed["PCA + gradient descent"], imputed["PCA + LSTM"]],
    row_labels=["true", "observed", "PCA + GD", "PCA + LSTM"], n_images=8,
)
