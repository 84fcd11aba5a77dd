"""
=================================================
Filling gaps in a chaotic series: Lorenz-63
=================================================

A Lorenz-63 trajectory loses 30 % of its values in gaps of 25 time steps.
We fit :class:`~sklvar.VariationalImputer` on the gappy series alone
(self-supervised: no complete data is ever shown to the model), impute the
gaps and compare with linear interpolation. We then compare the learned LSTM
solver with fixed-step gradient descent on the same variational cost, by
their energy per iteration.
"""

# %%
# A gappy series
# --------------
# :func:`~sklvar.datasets.make_lorenz63` integrates the Lorenz-63 system;
# its ``trajectory`` is one long run of shape (n_steps, 3) (rows are time
# steps). :func:`~sklvar.datasets.make_missing` removes 30 % of each variable
# in gaps of 25 steps.
import numpy as np

from sklvar import VariationalImputer
from sklvar.datasets import make_lorenz63, make_missing
from sklvar.metrics import interpolation_error
from sklvar.plotting import plot_energy_path, plot_series
from sklvar.utils import linear_fill

n_steps = 3000
data = make_lorenz63(n_train=1, n_test=1, n_steps=n_steps, window=200,
                     train_range=(0, 1500), test_range=(1500, 3000),
                     random_state=0)
X_true = data.trajectory
X, observed = make_missing(X_true, pattern="blocks", missing_rate=0.3,
                           block_length=25, random_state=0)
print(f"{X.shape[0]} steps x {X.shape[1]} variables, "
      f"{np.isnan(X).mean():.0%} missing")

# %%
# Fit and impute
# --------------
# ``window=100`` cuts the series into overlapping windows of 100 steps that
# are imputed in batches and stitched back. The prior is the paper's
# two-scale CNN (``prior="cnn"``), the solver the learned LSTM
# (``solver="lstm"``); both are trained together, end to end, by hiding
# random blocks of the observed values and learning to reconstruct them.
imputer = VariationalImputer(prior="cnn", solver="lstm", window=100, stride=25,
                             max_epochs=20, batch_size=64, lr=3e-3,
                             random_state=0)
X_hat = imputer.fit_transform(X)

X_lin = linear_fill(np.where(observed, X, 0.0).T, observed.T).T
for name, X_pred in [("VariationalImputer", X_hat), ("linear interpolation", X_lin)]:
    error = interpolation_error(X_true, X_pred, observed_mask=observed)
    print(f"{name:>22}: normalised MSE on the gaps {error:.4f}")

# %%
# The first 600 steps: the observed values (dots), the truth (grey), the
# imputation (red) and linear interpolation (dashed), gaps shaded.
fig = plot_series(X[:600], X_hat[:600], X_true[:600], columns=["x1", "x2", "x3"],
                  others={"linear interpolation": X_lin[:600]})

# %%
# Learned solver versus gradient descent
# --------------------------------------
# The same model with ``solver="gd"`` runs fixed-step gradient descent on
# the normalised gradient of the cost (the paper's FSGD). The energy path
# shows the variational cost :math:`U_\Phi(x^{(k)})` after each solver
# iteration ``k`` (left), and the error on the gaps (right; here we know the
# truth). Each model uses its own learned prior, so the energies are shown
# relative to their initial value. The LSTM solver is trained on the
# reconstruction error, not on the cost: it lowers the cost less than
# gradient descent, but it reaches a lower error on the gaps, as in the
# paper's Fig. 1.
gd_imputer = VariationalImputer(prior="cnn", solver="gd", window=100, stride=25,
                                max_epochs=20, batch_size=64, lr=3e-3,
                                random_state=0).fit(X)
X_gd = gd_imputer.transform(X)
print("gradient descent: normalised MSE on the gaps "
      f"{interpolation_error(X_true, X_gd, observed_mask=observed):.4f}")
axes = plot_energy_path({"LSTM": imputer, "gradient descent": gd_imputer}, X,
                        X_true=X_true, n_iter=20, relative=True)
