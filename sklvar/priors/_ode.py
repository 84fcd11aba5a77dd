r"""ODE-informed priors: one RK4 step of a (known or learned) dynamical system.

:math:`\Phi(x)_t = \mathrm{RK4}(x_{t-1})`: the prior term
:math:`\|x - \Phi(x)\|^2` is the model error of weak-constraint 4D-Var
(paper §3.1). Samples are series whose last axis is time;
every other axis of a sample holds the variables of the ODE (``(D, L)``
series, or ``(1, D, L)`` images for Lorenz-96).
"""

import numpy as np
import torch
from torch import nn

from ..utils import rk4_step
from ._base import Prior

_DIRECTIONS = ("forward", "both")


def _as_param(module, name, value, learn):
    """Register ``value`` as a Parameter (``learn``) or as a buffer."""
    t = torch.as_tensor(value, dtype=torch.float32).clone()
    if learn:
        setattr(module, name, nn.Parameter(t))
    else:
        module.register_buffer(name, t)


class _OneStepODEPrior(Prior):
    """Shared machinery: time shift, first-state rule, units, RK4.

    Subclasses set ``n_vars`` and implement :meth:`vector_field` on physical
    states of shape (n_batch, n_vars, n_times).
    """

    def __init__(self, shape, *, dt, direction, n_vars_expected=None, name):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) < 2:
            raise ValueError(
                f"prior={name!r} needs a series sample (D, L) (time last); got sample "
                f"shape {self.shape}. Use window=L or sample_shape=(D, L) with "
                "layout='series'."
            )
        self.n_vars = int(np.prod(self.shape[:-1]))
        if n_vars_expected is not None and self.n_vars != n_vars_expected:
            raise ValueError(
                f"prior={name!r} expects {n_vars_expected} variables per time step; "
                f"the sample shape {self.shape} has {self.n_vars}."
            )
        if direction not in _DIRECTIONS:
            raise ValueError(
                f"prior_params['direction'] must be one of {_DIRECTIONS}, got "
                f"{direction!r}."
            )
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(
                f"prior_params['dt'] must be a positive float, got {dt!r}."
            )
        self.dt = float(dt)
        self.direction = direction

    def vector_field(self, X):
        """Right-hand side ``dX/dt`` for X of shape (n_batch, n_vars, n_times)."""
        raise NotImplementedError

    # hooks for priors that work in physical units (identity by default)
    def _to_physical(self, z):
        return z

    def _from_physical(self, X):
        return X

    def step(self, X, dt=None):
        """One RK4 step of ``dt`` (default ``self.dt``; negative: backward).

        Parameters
        ----------
        X : Tensor of shape (n_batch, n_vars, n_times)
            States in the prior's units (standardised).

        Returns
        -------
        X_next : Tensor of the same shape
        """
        dt = self.dt if dt is None else dt
        phys = self._to_physical(X)
        return self._from_physical(rk4_step(self.vector_field, phys, dt))

    def forward(self, x):
        """Apply :math:`\\Phi`.

        Parameters
        ----------
        x : Tensor of shape (n_batch, *sample_shape)
            States, time on the last axis; the other axes hold the ODE
            variables.

        Returns
        -------
        phi : Tensor of the same shape
            ``direction="forward"``: ``phi[..., 0] = x[..., 0]`` and
            ``phi[..., t] = RK4(x[..., t-1])``. ``direction="both"``:
            ``phi[..., t]`` is the mean of the forward prediction from
            ``t - 1`` and the backward one (a step of ``-dt``) from ``t + 1``;
            the first step gets the backward prediction only and the last the
            forward one only.
        """
        n_t = x.shape[-1]
        if n_t < 2:
            return x
        z = x.reshape(x.shape[0], self.n_vars, n_t)
        fwd = self.step(z[..., :-1])
        if self.direction == "forward":
            phi = torch.cat([z[..., :1], fwd], dim=-1)
        else:
            bwd = self.step(z[..., 1:], -self.dt)
            if n_t == 2:
                phi = torch.cat([bwd, fwd], dim=-1)
            else:
                mid = 0.5 * (fwd[..., :-1] + bwd[..., 1:])
                phi = torch.cat([bwd[..., :1], mid, fwd[..., -1:]], dim=-1)
        return phi.reshape(x.shape)


class _PhysicalUnitsMixin:
    """Map standardised states to physical units around the RK4 step.

    :meth:`bind` takes the estimator's per-variable standardisation as
    ``mean`` and ``scale`` unless they were given to the constructor (by name
    and as an instance alike). :meth:`pretrain` does nothing: the
    coefficients start at the known physics; with ``joint=False`` they are
    used as given (frozen) rather than re-fitted on filled observations.
    """

    def pretrain(self, x, observed_mask=None, **kwargs):
        """No-op: known physics, not re-fitted on filled observations."""
        return []

    def bind(self, layout, scaling):
        """Take ``scaling`` as the physical units unless ``mean``/``scale`` were given."""
        if not self.scaling_given:
            self._set_scaling(scaling.mean, scaling.scale)
        return super().bind(layout, scaling)

    def _set_scaling(self, mean, scale):
        def per_var(value, default, name):
            v = np.asarray(default if value is None else value, dtype=float).ravel()
            if v.size not in (1, self.n_vars) or not np.all(np.isfinite(v)):
                raise ValueError(
                    f"prior_params[{name!r}] must be a finite scalar or hold one value "
                    f"per variable ({self.n_vars}), got an array of size {v.size}."
                )
            return torch.as_tensor(np.broadcast_to(v, (self.n_vars,)).copy(),
                                   dtype=torch.float32)[:, None]

        scale_t = per_var(scale, 1.0, "scale")
        if bool((scale_t <= 0).any()):
            raise ValueError("prior_params['scale'] must be positive.")
        self.register_buffer("mean", per_var(mean, 0.0, "mean"))
        self.register_buffer("scale", scale_t)

    def _to_physical(self, z):
        return z * self.scale + self.mean

    def _from_physical(self, X):
        return (X - self.mean) / self.scale


class Lorenz63Prior(_PhysicalUnitsMixin, _OneStepODEPrior):
    r"""One RK4 step of the Lorenz-63 system (the paper's "L63-RK4").

    .. math::

        \dot x_1 = \sigma (x_2 - x_1), \quad
        \dot x_2 = x_1 (\rho - x_3) - x_2, \quad
        \dot x_3 = x_1 x_2 - \beta x_3

    :math:`\Phi(x)_t = \mathrm{RK4}_{dt}(x_{t-1})` for :math:`t \ge 1`, so
    :math:`\|x - \Phi(x)\|^2` is the model error of weak-constraint 4D-Var.
    With ``direction="forward"`` (the choice of the authors' public code) the
    first state is copied, :math:`\Phi(x)_0 = x_0`: it is the free initial
    condition, constrained only through :math:`x_1 - \mathrm{RK4}(x_0)`.
    ``direction="both"`` also integrates backward (a step of :math:`-dt` from
    :math:`x_{t+1}`) and averages the two predictions, so every state,
    the first included, has a model-error term.

    The states are standardised; the step runs in physical units
    :math:`X = \mathrm{scale} \cdot x + \mathrm{mean}` (per variable). The
    estimators give the prior their standardisation through :meth:`bind`,
    whether it is passed by name (``prior="lorenz63"``) or as an instance;
    ``mean`` and ``scale`` given to the constructor are kept instead.

    Parameters
    ----------
    shape : tuple of int
        Sample shape with 3 variables and time last: ``(3, L)``.
    dt : float, default=0.01
        Time step between two samples of the series.
    sigma, rho, beta : float, default=10.0, 28.0, 8/3
        Initial values of the coefficients.
    learn_parameters : bool, default=True
        Learn ``sigma``, ``rho``, ``beta`` (otherwise they are fixed buffers).
    direction : {"forward", "both"}, default="forward"
        See above.
    mean, scale : array-like of shape (3,) or scalar, default=None
        Standardisation of the states: physical = scale * x + mean. None (both)
        means 0 and 1 until :meth:`bind` sets the estimator's.

    Attributes
    ----------
    scaling_given : bool
        Whether ``mean`` or ``scale`` was given (then :meth:`bind` keeps them).

    Examples
    --------
    >>> import torch
    >>> from sklvar.priors import Lorenz63Prior
    >>> prior = Lorenz63Prior((3, 5), mean=[0.0, 0.0, 25.0], scale=8.0)
    >>> x = torch.randn(2, 3, 5)
    >>> phi = prior(x)
    >>> bool(torch.equal(phi[..., 0], x[..., 0]))  # the first state is copied
    True
    """

    def __init__(self, shape, *, dt=0.01, sigma=10.0, rho=28.0, beta=8.0 / 3.0,
                 learn_parameters=True, direction="forward", mean=None, scale=None):
        super().__init__(shape, dt=dt, direction=direction, n_vars_expected=3,
                         name="lorenz63")
        self.scaling_given = mean is not None or scale is not None
        self._set_scaling(mean, scale)
        for name, value in (("sigma", sigma), ("rho", rho), ("beta", beta)):
            _as_param(self, name, value, learn_parameters)

    def vector_field(self, X):
        x1, x2, x3 = X[:, 0], X[:, 1], X[:, 2]
        return torch.stack([
            self.sigma * (x2 - x1),
            x1 * (self.rho - x3) - x2,
            x1 * x2 - self.beta * x3,
        ], dim=1)


class Lorenz96Prior(_PhysicalUnitsMixin, _OneStepODEPrior):
    r"""One RK4 step of the Lorenz-96 system (the paper's "L96-RK4").

    .. math::

        \dot x_i = (s_1 * x)_i \, (s_2 * x)_i - x_i + F

    with two learnable circular stencils along the component axis,
    initialised to the true model: :math:`(s_1 * x)_i = x_{i+1} - x_{i-2}`
    (kernel 5, ``[-1, 0, 0, 1, 0]`` on offsets -2..2) and
    :math:`(s_2 * x)_i = x_{i-1}` (kernel 3, ``[1, 0, 0]`` on offsets -1..1),
    and a learnable forcing :math:`F` (9 parameters, as in the authors' public
    code).
    Time shift, first-state rule and units as in :class:`Lorenz63Prior`.

    Parameters
    ----------
    shape : tuple of int
        ``(J, L)`` (series, the components are the channels) or ``(1, J, L)``
        (image; the component axis is periodic), ``J >= 4`` components (40 in
        the paper) and time last.
    dt : float, default=0.05
        Time step between two samples of the series.
    forcing : float, default=8.0
        Initial value of :math:`F`.
    learn_parameters : bool, default=True
        Learn :math:`F` and the stencils (otherwise fixed buffers).
    direction : {"forward", "both"}, default="forward"
        See :class:`Lorenz63Prior`.
    mean, scale : array-like of shape (J,) or scalar, default=None
        Standardisation of the states, as in :class:`Lorenz63Prior`.

    Attributes
    ----------
    periodic_axes : tuple of int
        ``(0,)`` for an image sample (its component axis), ``()`` for a series.
    scaling_given : bool
        Whether ``mean`` or ``scale`` was given (then :meth:`bind` keeps them).
    """

    def __init__(self, shape, *, dt=0.05, forcing=8.0, learn_parameters=True,
                 direction="forward", mean=None, scale=None):
        super().__init__(shape, dt=dt, direction=direction, name="lorenz96")
        if self.n_vars < 4:
            raise ValueError(
                f"prior='lorenz96' needs at least 4 components, got {self.n_vars} "
                f"(sample shape {self.shape})."
            )
        if len(self.shape) == 3:
            self.periodic_axes = (0,)
        self.scaling_given = mean is not None or scale is not None
        self._set_scaling(mean, scale)
        _as_param(self, "forcing", forcing, learn_parameters)
        _as_param(self, "stencil1", [-1.0, 0.0, 0.0, 1.0, 0.0], learn_parameters)
        _as_param(self, "stencil2", [1.0, 0.0, 0.0], learn_parameters)
        j = torch.arange(self.n_vars)
        # index[k, i] = (i + k - half) mod J: the stencil's neighbours of i
        idx1 = (j[None] + torch.arange(-2, 3)[:, None]) % self.n_vars
        idx2 = (j[None] + torch.arange(-1, 2)[:, None]) % self.n_vars
        self.register_buffer("_idx1", idx1, persistent=False)
        self.register_buffer("_idx2", idx2, persistent=False)

    def _stencil(self, X, weight, idx):
        # X: (B, J, T) -> neighbours (B, K, J, T) -> weighted sum (B, J, T)
        return torch.einsum("k,bkjt->bjt", weight, X[:, idx])

    def vector_field(self, X):
        return (self._stencil(X, self.stencil1, self._idx1)
                * self._stencil(X, self.stencil2, self._idx2) - X + self.forcing)


class BilinearODEPrior(_OneStepODEPrior):
    r"""Learned bilinear vector field integrated by one RK4 step.

    .. math:: \dot x = A x + B (x \otimes x) + c

    for the ``D`` variables of a multivariate series (Fablet et al. 2018's
    bilinear residual network with one RK4 step). With ``rank=None`` the
    quadratic term holds one coefficient per variable and pair
    :math:`x_i x_j,\ i \le j` (:math:`D^2(D+1)/2` parameters); with an int
    ``rank`` it is the low-rank form :math:`W[(U x) \odot (V x)]`
    (:math:`3 D r` parameters). Time shift and first-state rule as in
    :class:`Lorenz63Prior`. The field acts on the standardised states
    directly (an affine change of variables keeps a bilinear field
    bilinear), so no scaling is needed.

    :meth:`initialize_from_data` fits :math:`A, B, c` by ridge regression of
    central differences :math:`(x_{t+1} - x_{t-1}) / (2\,dt)` on
    :math:`[x_t, x_t \otimes x_t, 1]` when enough fully observed triples of
    time steps exist (always with complete training states); otherwise the
    field starts at zero (:math:`\Phi(x)_t = x_{t-1}`) and small random
    low-rank factors.

    Parameters
    ----------
    shape : tuple of int
        ``(D, L)`` (or any shape with time last; the other axes are
        flattened into the ``D`` variables).
    dt : float, default=1.0
        Integration step, in the units in which the field is learned; with
        the default one unit is one time step of the series.
    rank : int or None, default=None
        Rank of the quadratic term; None for the full form.
    direction : {"forward", "both"}, default="forward"
        See :class:`Lorenz63Prior`.
    ridge : float, default=1e-3
        Ridge penalty of the regression of :meth:`initialize_from_data`
        (relative to the mean diagonal of the Gram matrix); 0 gives a plain
        least-squares fit.
    """

    def __init__(self, shape, *, dt=1.0, rank=None, direction="forward", ridge=1e-3):
        super().__init__(shape, dt=dt, direction=direction, name="bilinear_ode")
        d = self.n_vars
        self.rank = None if rank is None else int(rank)
        if self.rank is not None and self.rank < 1:
            raise ValueError(
                f"prior_params['rank'] must be None or >= 1, got {rank!r}."
            )
        if not ridge >= 0:
            raise ValueError(f"prior_params['ridge'] must be >= 0, got {ridge!r}.")
        self.ridge = float(ridge)
        self.linear = nn.Parameter(torch.zeros(d, d))
        self.bias = nn.Parameter(torch.zeros(d))
        if self.rank is None:
            iu, ju = torch.triu_indices(d, d)
            self.register_buffer("_pairs_i", iu, persistent=False)
            self.register_buffer("_pairs_j", ju, persistent=False)
            self.quadratic = nn.Parameter(torch.zeros(d, iu.numel()))
        else:
            # W starts at 0 (zero field) but U, V do not, so gradients reach all
            std = 1.0 / np.sqrt(d)
            self.left = nn.Parameter(torch.randn(self.rank, d) * std)
            self.right = nn.Parameter(torch.randn(self.rank, d) * std)
            self.mix = nn.Parameter(torch.zeros(d, self.rank))

    def _quadratic_features(self, X):
        return X[:, self._pairs_i] * X[:, self._pairs_j]

    def vector_field(self, X):
        out = torch.einsum("ij,bjt->bit", self.linear, X) + self.bias[:, None]
        if self.rank is None:
            return out + torch.einsum("ip,bpt->bit", self.quadratic,
                                      self._quadratic_features(X))
        u = torch.einsum("rj,bjt->brt", self.left, X)
        v = torch.einsum("rj,bjt->brt", self.right, X)
        return out + torch.einsum("ir,brt->bit", self.mix, u * v)

    @torch.no_grad()
    def initialize_from_data(self, x, observed_mask=None):
        """Fit the full bilinear field by ridge regression (see class doc)."""
        if self.rank is not None or x.shape[-1] < 3:
            return self
        n, n_t = x.shape[0], x.shape[-1]
        z = x.reshape(n, self.n_vars, n_t).to(torch.float64)
        ok = torch.ones(n, n_t - 2, dtype=torch.bool, device=z.device)
        if observed_mask is not None:
            m = observed_mask.reshape(n, self.n_vars, n_t).to(torch.bool).all(1)
            ok = m[:, :-2] & m[:, 1:-1] & m[:, 2:]
        center = z[..., 1:-1].permute(0, 2, 1)[ok]                       # (R, D)
        deriv = ((z[..., 2:] - z[..., :-2]) / (2 * self.dt)).permute(0, 2, 1)[ok]
        n_rows = center.shape[0]
        pairs_i, pairs_j = self._pairs_i.to(z.device), self._pairs_j.to(z.device)
        quad = center[:, pairs_i] * center[:, pairs_j]
        feats = torch.cat([center, quad, torch.ones_like(center[:, :1])], dim=1)
        if n_rows < 2 * feats.shape[1]:
            return self
        if n_rows > 200_000:  # cap the cost; rows are drawn deterministically
            g = torch.Generator().manual_seed(0)
            keep = torch.randperm(n_rows, generator=g)[:200_000].to(z.device)
            feats, deriv = feats[keep], deriv[keep]
        gram = feats.T @ feats
        penalty = self.ridge * gram.diagonal().mean()
        eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        eye[-1, -1] = 0.0  # no penalty on the constant term
        coef = torch.linalg.solve(gram + penalty * eye, feats.T @ deriv)  # (F, D)
        d = self.n_vars
        self.linear.copy_(coef[:d].T)
        self.quadratic.copy_(coef[d:-1].T)
        self.bias.copy_(coef[-1])
        return self
