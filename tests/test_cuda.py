"""CUDA path: no host-device synchronisation inside the solver loop (issue 7).

Skipped without a GPU. ``torch.cuda.set_sync_debug_mode("error")`` makes any
operation that waits for the device (``.item()``, ``.cpu()``, ``nonzero``,
host tensors built from device values, ...) raise, so a solver loop that
passes here runs its iterations without stalling the GPU.
"""

import numpy as np
import pytest
import torch

from sklvar import VariationalImputer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

CASES = [
    # (prior, solver, sample_shape, layout, prior_params)
    ("pca", "gd", (6,), "auto", None),
    ("ae", "fixed_point", (6,), "auto", None),
    ("ae", "lstm", (6,), "auto", None),
    ("cnn", "lstm", (3, 40), "series", None),
    ("cnn", "gd", (3, 40), "series", None),
    ("cnn", "lstm", (8, 16), "image", {"periodic_axes": (0,)}),
    ("bilinear_ode", "lstm", (3, 40), "series", None),
]


@pytest.fixture(autouse=True)
def _reset_sync_mode():
    yield
    torch.cuda.set_sync_debug_mode(0)


@pytest.mark.parametrize("prior, solver, shape, layout, prior_params", CASES)
def test_solver_loop_has_no_host_sync(prior, solver, shape, layout, prior_params):
    rng = np.random.RandomState(0)
    n_features = int(np.prod(shape))
    X = rng.normal(size=(16, n_features))
    X[rng.uniform(size=X.shape) < 0.5] = np.nan
    params = dict(prior=prior, solver=solver, n_solver_iter=4, max_epochs=0,
                  batch_size=8, device="cuda", random_state=0)
    if len(shape) > 1:
        params.update(sample_shape=shape, layout=layout)
    if prior_params:
        params["prior_params"] = prior_params
    imp = VariationalImputer(**params).fit(X)
    module = imp.net_.module_
    Y, M = imp.codec_.encode(X)
    Y, M = torch.from_numpy(Y).float().cuda(), torch.from_numpy(M).cuda()
    torch.cuda.synchronize()

    torch.cuda.set_sync_debug_mode("error")
    with torch.no_grad():  # inference: the transform path
        out = module(Y, M)
    module.train()
    out = module(Y, M)  # training: the unrolled solver, then its backward
    loss = (out - Y).pow(2).mean()
    loss.backward()
    torch.cuda.set_sync_debug_mode(0)

    assert torch.isfinite(out).all().item()
    grads = [p.grad for p in module.parameters() if p.requires_grad]
    grads = [g for g in grads if g is not None]
    assert grads and all(torch.isfinite(g).all().item() for g in grads)
