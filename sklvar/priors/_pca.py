"""PCA prior: projection onto k principal components (paper Table 1, "PCA")."""

import torch
from torch import nn

from ._base import Prior


class PCAPrior(Prior):
    r"""Linear projection on ``n_components`` principal components.

    .. math:: \Phi(x) = \mu_d + W_d^\top W_e (x - \mu_e)

    Encoder ``W_e`` and decoder ``W_d`` (and the two means) are separate
    parameters, initialised by :meth:`initialize_from_data` to the principal
    components of the training data, as in the authors' public code. They
    are frozen when the estimator uses
    ``joint=False`` and learned jointly with the solver otherwise.

    Parameters
    ----------
    shape : tuple of int
        Shape of one sample; it is flattened.
    n_components : int or None, default=None
        Number of components; None gives ``min(50, max(1, n_features // 2))``.
        When the training set has fewer samples, the extra components are 0.
    n_fill_iter : int, default=10
        With gappy training data, rounds of iterative PCA imputation (fit,
        project, refill the missing entries) used by
        :meth:`initialize_from_data`.
    """

    explicit_vjp = True

    def pretrain(self, x, observed_mask=None, **kwargs):
        """No-op: the fit is closed-form, in :meth:`initialize_from_data`."""
        return []

    def __init__(self, shape, *, n_components=None, n_fill_iter=10):
        super().__init__()
        self.shape = tuple(shape)
        n_features = 1
        for s in self.shape:
            n_features *= s
        if n_components is None:
            n_components = min(50, max(1, n_features // 2))
        if not 1 <= int(n_components) <= n_features:
            raise ValueError(
                f"prior_params['n_components'] must be in [1, n_features={n_features}]"
                f", got {n_components}."
            )
        self.n_features = n_features
        self.n_components = int(n_components)
        self.n_fill_iter = int(n_fill_iter)
        eye = torch.eye(self.n_components, n_features)
        self.encoder = nn.Parameter(eye.clone())
        self.decoder = nn.Parameter(eye.clone())
        self.mean_encoder = nn.Parameter(torch.zeros(n_features))
        self.mean_decoder = nn.Parameter(torch.zeros(n_features))

    def forward(self, x):
        flat = x.reshape(x.shape[0], -1)
        code = (flat - self.mean_encoder) @ self.encoder.T
        out = code @ self.decoder + self.mean_decoder
        return out.reshape(x.shape)

    def forward_vjp(self, x, *, create_graph=False):
        phi = self(x)

        def vjp(v):
            flat = v.reshape(v.shape[0], -1)
            return ((flat @ self.decoder.T) @ self.encoder).reshape(x.shape)

        return phi, vjp

    @torch.no_grad()
    def initialize_from_data(self, x, observed_mask=None):
        flat = x.reshape(x.shape[0], -1).to(torch.float64)
        observed = None
        if observed_mask is not None:
            observed = observed_mask.reshape(flat.shape).to(torch.bool)
            if bool(observed.all()):
                observed = None
        n_rounds = 1 if observed is None else max(1, self.n_fill_iter)
        k = self.n_components
        for _ in range(n_rounds):
            mean = flat.mean(0)
            _, _, vh = torch.linalg.svd(flat - mean, full_matrices=False)
            comps = torch.zeros(k, flat.shape[1], dtype=flat.dtype, device=flat.device)
            n = min(k, vh.shape[0])
            comps[:n] = vh[:n]
            if observed is not None:
                proj = (flat - mean) @ comps.T @ comps + mean
                flat = torch.where(observed, flat, proj)
        self.encoder.copy_(comps)
        self.decoder.copy_(comps)
        self.mean_encoder.copy_(mean)
        self.mean_decoder.copy_(mean)
        return self
