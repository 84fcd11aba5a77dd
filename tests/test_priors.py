"""Priors with known answers: RK4 order, Lorenz steps, CNN sizes and symmetries."""

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from sklvar.priors import (
    PRIORS,
    BilinearODEPrior,
    Lorenz63Prior,
    Lorenz96Prior,
    PCAPrior,
    Prior,
    TwoScaleCNNPrior,
)
from sklvar.utils import SampleLayout, Standardization, rk4_step


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Run torch on one thread: on a busy 2-core machine, 2 torch threads can
    be several times slower than one (benchmarks/SPEED.md)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_priors_table_names():
    for name in ("cnn", "lorenz63", "lorenz96", "bilinear_ode"):
        assert name in PRIORS


# ---------------------------------------------------------------- RK4 step
def test_rk4_fourth_order_on_linear_ode():
    """Global error of RK4 on dx/dt = A x falls ~16x when dt halves."""
    rng = np.random.RandomState(0)
    A = rng.normal(size=(4, 4))
    A = A - A.T - 0.5 * np.eye(4)  # damped rotation
    x0 = rng.normal(size=4)
    horizon = 2.0
    exact = expm(A * horizon) @ x0

    def error(n_steps):
        x, dt = x0.copy(), horizon / n_steps
        for _ in range(n_steps):
            x = rk4_step(lambda v: A @ v, x, dt)
        return np.linalg.norm(x - exact)

    errors = [error(n) for n in (10, 20, 40, 80)]
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 13) & (ratios < 19)), ratios
    # one step: local error O(dt^5) (ratio ~32)
    local = [np.linalg.norm(rk4_step(lambda v: A @ v, x0, dt) - expm(A * dt) @ x0)
             for dt in (0.1, 0.05)]
    assert 25 < local[0] / local[1] < 40


def test_rk4_step_on_torch_tensors_keeps_gradients():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    out = rk4_step(lambda v: -v, x, 0.1)
    out.sum().backward()
    expected = 1 - 0.1 + 0.1**2 / 2 - 0.1**3 / 6 + 0.1**4 / 24
    assert torch.allclose(x.grad, torch.full((2,), expected))


# ------------------------------------------------------------- ODE priors
def _lorenz63_trajectory(n, dt=0.01, seed=0):
    def rhs(t, v):
        return [10 * (v[1] - v[0]), v[0] * (28 - v[2]) - v[1],
                v[0] * v[1] - 8 / 3 * v[2]]

    rng = np.random.RandomState(seed)
    x0 = np.array([8.0, 0.0, 30.0]) + rng.normal(scale=0.1, size=3)
    t = 5.0 + dt * np.arange(n)
    sol = solve_ivp(rhs, (0, t[-1]), x0, t_eval=t, rtol=1e-10, atol=1e-10)
    return sol.y  # (3, n)


def _lorenz96_trajectory(n, J=40, dt=0.05):
    def rhs(t, v):
        return (np.roll(v, -1) - np.roll(v, 2)) * np.roll(v, 1) - v + 8.0

    x0 = 8.0 * np.ones(J)
    x0[J // 2] += 0.01
    t = 5.0 + dt * np.arange(n)
    sol = solve_ivp(rhs, (0, t[-1]), x0, t_eval=t, rtol=1e-10, atol=1e-10)
    return sol.y  # (J, n)


def test_lorenz63_prior_is_one_rk4_step_in_physical_units():
    traj = _lorenz63_trajectory(60)
    mean, scale = traj.mean(1), traj.std(1)
    z = torch.tensor((traj - mean[:, None]) / scale[:, None], dtype=torch.float32)[None]
    prior = Lorenz63Prior((3, 60), mean=mean, scale=scale)
    assert prior.scaling_given  # bind keeps a scaling given to the constructor
    assert prior.pretrain(z) == []  # known physics, not re-fitted
    assert _n_params(prior) == 3
    assert [float(prior.sigma), float(prior.rho), float(prior.beta)] == pytest.approx(
        [10.0, 28.0, 8 / 3])
    phi = prior(z)
    assert phi.shape == z.shape
    assert torch.equal(phi[..., 0], z[..., 0])  # the first state is copied
    persistence = ((z[..., 1:] - z[..., :-1]) ** 2).mean()
    assert ((phi - z) ** 2).mean() < 1e-6 * persistence
    # the same prior without its scaling integrates the wrong physics
    wrong = Lorenz63Prior((3, 60))(z)
    assert ((wrong - z) ** 2).mean() > 1e3 * ((phi - z) ** 2).mean()
    # bind gives an unscaled prior the estimator's standardisation
    layout = SampleLayout("series", (3, 60))
    bound = Lorenz63Prior((3, 60)).bind(layout, Standardization(mean, scale))
    assert torch.equal(bound(z), phi)
    built = Lorenz63Prior.build(layout, Standardization(mean, scale))
    assert torch.equal(built(z), phi)
    kept = prior.bind(layout, Standardization(np.zeros(3), np.ones(3)))
    assert torch.equal(kept(z), phi)


def test_ode_prior_both_directions():
    traj = _lorenz63_trajectory(30)
    z = torch.tensor(traj, dtype=torch.float32)[None]
    prior = Lorenz63Prior((3, 30), direction="both")
    phi = prior(z)
    assert not torch.equal(phi[..., 0], z[..., 0])  # backward step from x_1
    assert ((phi - z) ** 2).mean() < 1e-6 * ((z[..., 1:] - z[..., :-1]) ** 2).mean()
    # forward-only agrees with "both" at the last step
    assert torch.allclose(Lorenz63Prior((3, 30))(z)[..., -1], phi[..., -1])


@pytest.mark.parametrize("image", [False, True])
def test_lorenz96_prior_true_model(image):
    traj = _lorenz96_trajectory(25)
    mean, scale = traj.mean(), traj.std()
    z = torch.tensor((traj - mean) / scale, dtype=torch.float32)[None]
    shape = (1, 40, 25) if image else (40, 25)
    z = z.reshape((1,) + shape)
    prior = Lorenz96Prior(shape, mean=mean, scale=scale)
    assert _n_params(prior) == 9  # F and the two stencils (the authors' public code)
    assert prior.periodic_axes == ((0,) if image else ())
    phi = prior(z)
    persistence = ((z[..., 1:] - z[..., :-1]) ** 2).mean()
    assert ((phi - z) ** 2).mean() < 1e-5 * persistence
    # equivariant to a circular shift of the components
    shifted = prior(torch.roll(z, 7, dims=-2))
    assert torch.allclose(shifted, torch.roll(phi, 7, dims=-2), atol=1e-5)


def test_ode_prior_scaling_per_variable_or_scalar():
    prior = Lorenz96Prior((1, 8, 5), mean=2.0, scale=[3.0] * 8)
    assert prior.mean.shape == (8, 1)
    with pytest.raises(ValueError, match="one value per variable"):
        Lorenz96Prior((8, 5), mean=[0.0, 1.0])
    with pytest.raises(ValueError, match="scale"):
        Lorenz63Prior((3, 5), scale=[1.0, 0.0, 1.0])


def test_ode_prior_shape_errors():
    with pytest.raises(ValueError, match="expects 3 variables"):
        Lorenz63Prior((4, 10))
    with pytest.raises(ValueError, match="series sample"):
        Lorenz63Prior((3,))
    with pytest.raises(ValueError, match="direction"):
        Lorenz63Prior((3, 10), direction="backward")


def test_ode_prior_short_series():
    prior = Lorenz63Prior((3, 1))
    x = torch.randn(2, 3, 1)
    assert torch.equal(prior(x), x)
    both = Lorenz63Prior((3, 2), direction="both")
    assert both(torch.randn(2, 3, 2)).shape == (2, 3, 2)


def test_bilinear_ode_recovers_lorenz63_from_complete_states():
    traj = _lorenz63_trajectory(2000)
    mean, scale = traj.mean(1), traj.std(1)
    z = (traj - mean[:, None]) / scale[:, None]
    windows = torch.tensor(
        np.stack([z[:, s:s + 50] for s in range(0, 1950, 25)]), dtype=torch.float32)
    prior = BilinearODEPrior((3, 50))
    assert _n_params(prior) == 3 * 3 + 3 * 6 + 3
    assert torch.equal(prior(windows)[..., 1:], windows[..., :-1])  # zero field
    prior.initialize_from_data(windows)
    residual = ((prior(windows) - windows) ** 2).mean()
    persistence = ((windows[..., 1:] - windows[..., :-1]) ** 2).mean()
    assert residual < 1e-3 * persistence


def test_bilinear_ode_gappy_data_keeps_zero_field_and_low_rank():
    x = torch.randn(4, 5, 12)
    observed = torch.rand(4, 5, 12) < 0.3
    prior = BilinearODEPrior((5, 12)).initialize_from_data(x, observed)
    assert float(prior.quadratic.abs().sum()) == 0.0  # too few observed triples
    low = BilinearODEPrior((5, 12), rank=2)
    assert _n_params(low) == 5 * 5 + 5 + 3 * 5 * 2
    assert low(x).shape == x.shape


# ---------------------------------------------------------------- 2S-CNN
@pytest.mark.parametrize(
    ("shape", "params", "expected"),
    [
        ((3, 200), {}, 15_300),  # L63 2S-CNN (authors' code; paper ~15,000)
        ((1, 40, 200), {"periodic_axes": (0,)}, 52_150),  # L96 (§5d; paper ~52,000)
        ((1, 28, 28), {}, 155_900),  # MNIST checkpoint (§5c; paper text says ~55,000)
    ],
)
def test_cnn_reference_sizes(shape, params, expected):
    assert _n_params(TwoScaleCNNPrior(shape, **params)) == expected


@pytest.mark.parametrize(
    "shape", [(3, 200), (3, 13), (3, 2), (3, 1), (1, 9, 11), (2, 5, 3)]
)
def test_cnn_any_size(shape):
    prior = TwoScaleCNNPrior(shape, n_hidden=6, n_channels=4)
    x = torch.randn(2, *shape, requires_grad=True)
    phi = prior(x)
    assert phi.shape == x.shape
    phi.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_cnn_series_is_one_dimensional_along_time():
    prior = TwoScaleCNNPrior((3, 40), n_hidden=6, n_channels=4, pool_size=1)
    x = torch.randn(1, 3, 40)
    x2 = x.clone()
    x2[..., 30:] += 1.0
    # a change after t=30 does not reach t < 30 - 5 (first kernel 11, then 1x1)
    assert torch.allclose(prior(x)[..., :25], prior(x2)[..., :25])


def test_cnn_periodic_axis_is_circular():
    torch.manual_seed(0)
    prior = TwoScaleCNNPrior((1, 12, 16), n_hidden=4, n_channels=3,
                             periodic_axes=(0,))
    assert prior.preset == "lorenz96" and prior.pool_size == (1, 4)
    x = torch.randn(2, 1, 12, 16)
    phi = prior(x)
    assert torch.allclose(prior(torch.roll(x, 5, dims=2)), torch.roll(phi, 5, dims=2),
                          atol=1e-5)
    # without periodic padding the equivariance breaks at the borders
    plain = TwoScaleCNNPrior((1, 12, 16), n_hidden=4, n_channels=3, preset="lorenz96")
    plain.load_state_dict(prior.state_dict())
    assert not torch.allclose(plain(torch.roll(x, 5, dims=2)),
                              torch.roll(plain(x), 5, dims=2), atol=1e-5)


@pytest.mark.parametrize("shape, params", [
    ((3, 21), {}),
    ((1, 28, 28), {"hr_kernel_size": 3}),
    ((1, 12, 30), {"periodic_axes": (0,), "pool_size": (1, 4)}),
])
def test_cnn_channels_last_same_function(shape, params):
    """The same function and the same VJP in either memory format (images
    with one channel included: every hidden tensor stays channels-last)."""
    torch.manual_seed(0)
    a = TwoScaleCNNPrior(shape, n_hidden=6, n_channels=4, channels_last=False, **params)
    b = TwoScaleCNNPrior(shape, n_hidden=6, n_channels=4, channels_last=True, **params)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, *shape)
    v = torch.randn(2, *shape)
    assert torch.allclose(a(x), b(x), atol=1e-5)
    with torch.no_grad():
        (pa, va), (pb, vb) = a.forward_vjp(x), b.forward_vjp(x)
        torch.testing.assert_close(va(v), vb(v), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("periodic", [(), (2,), (3,), (2, 3)])
@pytest.mark.parametrize("c_in, kernel", [(1, (11, 11)), (3, (3, 5)), (6, (5, 3))])
def test_same_conv_adjoint(c_in, kernel, periodic, channels_last):
    """<conv(z), g> = <z, conv.adjoint(g)> on every path (fold or flipped
    convolution), with zero or circular padding, including pads wider than
    the axis."""
    from sklvar.priors._cnn import _SameConv

    torch.manual_seed(0)
    conv = _SameConv(c_in, 7, kernel, periodic).double()
    conv.channels_last = channels_last  # as the prior sets it (fold by 1x1 conv)
    z = torch.randn(2, c_in, 4, 9, dtype=torch.float64)
    g = torch.randn(2, 7, 4, 9, dtype=torch.float64)
    if channels_last:
        z = z.contiguous(memory_format=torch.channels_last)
        g = g.contiguous(memory_format=torch.channels_last)
    lhs = (conv(z) * g).sum()
    rhs = (z * conv.adjoint(g)).sum()
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)


def _autograd_vjp(prior, x, v, create_graph):
    return Prior.forward_vjp(prior, x, create_graph=create_graph)[1](v)


@pytest.mark.parametrize(
    "shape, params",
    [
        ((3, 37), {}),  # series, length not a multiple of the pooling factor
        ((3, 200), {"channels_last": False}),
        ((1, 40, 50), {"periodic_axes": (0,), "n_hidden": 6, "n_channels": 5}),
        ((1, 28, 28), {"n_hidden": 8, "n_channels": 6}),  # hr_kernel_size 3
        ((1, 28, 28), {"n_hidden": 8, "n_channels": 6, "channels_last": True}),
        ((1, 40, 50), {"periodic_axes": (0,), "n_hidden": 6, "n_channels": 5,
                       "channels_last": True}),
        ((2, 13, 18), {"n_hidden": 5, "n_channels": 4, "periodic_axes": (1,),
                       "pool_size": (3, 4), "shared_output": True}),
        ((2, 13, 18), {"n_hidden": 5, "n_channels": 4, "periodic_axes": (0, 1),
                       "hr_kernel_size": 3, "kernel_size": (3, 5)}),
    ],
)
def test_cnn_hand_written_vjp_matches_autograd(shape, params):
    """forward_vjp (transposed convolutions) = autograd's VJP, and so are
    their derivatives (the first-order training graph = the double backward)."""
    torch.manual_seed(0)
    prior = TwoScaleCNNPrior(shape, **params).double()
    assert prior.explicit_vjp
    for p in prior.parameters():
        p.data.normal_(0, 0.3)  # no zero weights: every path matters
    x = torch.randn(3, *shape, dtype=torch.float64, requires_grad=True)
    v = torch.randn(3, *shape, dtype=torch.float64)
    phi, vjp = prior.forward_vjp(x)
    torch.testing.assert_close(phi, prior(x))
    g = vjp(v)
    g_ref = _autograd_vjp(prior, x, v, create_graph=True)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-10)
    w = torch.randn_like(g)
    inputs = [x] + list(prior.parameters())
    d = torch.autograd.grad((g * w).sum(), inputs)
    d_ref = torch.autograd.grad((g_ref * w).sum(), inputs)
    for a, b in zip(d, d_ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    # without a graph (inference): same numbers
    with torch.no_grad():
        phi2, vjp2 = prior.forward_vjp(x.detach())
        torch.testing.assert_close(vjp2(v), g_ref.detach())


def test_pca_hand_written_vjp_matches_autograd():
    torch.manual_seed(0)
    prior = PCAPrior((12,), n_components=4).double()
    for p in prior.parameters():
        p.data.normal_()
    x = torch.randn(5, 12, dtype=torch.float64)
    v = torch.randn(5, 12, dtype=torch.float64)
    assert prior.explicit_vjp
    torch.testing.assert_close(prior.forward_vjp(x)[1](v),
                               _autograd_vjp(prior, x, v, create_graph=False))


def test_cnn_errors():
    with pytest.raises(ValueError, match="series .* or image"):
        TwoScaleCNNPrior((6,))
    with pytest.raises(ValueError, match="periodic_axes"):
        TwoScaleCNNPrior((3, 10), periodic_axes=(1,))
    with pytest.raises(ValueError, match="odd"):
        TwoScaleCNNPrior((3, 10), kernel_size=4)
    with pytest.raises(ValueError, match="preset"):
        TwoScaleCNNPrior((3, 10), preset="big")
    with pytest.raises(ValueError, match="pool_size"):
        TwoScaleCNNPrior((3, 10), pool_size=(2, 2))
    with pytest.raises(ValueError, match="channels_last"):
        TwoScaleCNNPrior((3, 10), channels_last="yes")


@pytest.mark.parametrize("shape", [(2, 1, 11, 11, 4, 9), (1, 3, 3, 5, 7, 2), (2, 2, 1, 1, 3, 3)])
def test_fold_sum_equals_fold(shape):
    """The shifted-sum col2im of the first convolutions' adjoint = F.fold."""
    from sklvar.priors._cnn import _fold_sum

    torch.manual_seed(0)
    n, c, kh, kw, h, w = shape
    cols = torch.randn(*shape, dtype=torch.float64)
    # F.fold onto the full (h + kh - 1, w + kw - 1) grid, no padding: tap
    # (i, j) of position (y, x) lands at (y + i, x + j)
    ref = torch.nn.functional.fold(cols.reshape(n, c * kh * kw, h * w),
                                   (h + kh - 1, w + kw - 1), (kh, kw))
    torch.testing.assert_close(_fold_sum(cols), ref, rtol=1e-12, atol=1e-12)
