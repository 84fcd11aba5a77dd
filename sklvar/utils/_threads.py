"""Thread counts of the estimators (``n_threads``), torch-free.

:func:`check_n_threads` validates the parameter and :func:`blas_threads` limits
the BLAS threads for the duration of a call (the dictionary baseline). The torch
version, :func:`sklvar.utils._torch.torch_threads`, lives with the other torch
helpers.
"""

import contextlib
from numbers import Integral


def check_n_threads(n_threads, name="n_threads"):
    """Return ``n_threads`` if it is None or an int >= 1, else raise ValueError.

    The estimators' ``_parameter_constraints`` check it at fit already; this is
    for the calls after fit (``transform``, ``score``...), where ``set_params``
    may have changed it, and for direct callers of the context managers.
    """
    if n_threads is None:
        return None
    if isinstance(n_threads, Integral) and not isinstance(n_threads, bool) \
            and n_threads >= 1:
        return int(n_threads)
    raise ValueError(
        f"{name} must be None (leave the thread count as it is) or an int >= 1, "
        f"got {n_threads!r}."
    )


@contextlib.contextmanager
def blas_threads(n_threads):
    """Limit the BLAS libraries to ``n_threads`` threads inside the block.

    None leaves them as they are. The previous limits are restored on exit,
    also when the block raises (threadpoolctl, installed with scikit-learn).
    """
    n_threads = check_n_threads(n_threads)
    if n_threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_threads, user_api="blas"):
        yield
