"""Fixed-step integration that works on numpy arrays and torch tensors alike."""


def rk4_step(f, x, dt):
    """One classical fourth-order Runge-Kutta step of ``dx/dt = f(x)``.

    Uses only ``+`` and ``*``, so ``x`` may be a numpy array or a torch tensor
    (and gradients flow through it).

    Parameters
    ----------
    f : callable
        Autonomous vector field, ``f(x)`` has the shape of ``x``.
    x : array or Tensor
        State.
    dt : float or Tensor
        Time step.

    Returns
    -------
    x_next : array or Tensor, same shape as ``x``
    """
    k1 = f(x)
    k2 = f(x + (0.5 * dt) * k1)
    k3 = f(x + (0.5 * dt) * k2)
    k4 = f(x + dt * k3)
    return x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
