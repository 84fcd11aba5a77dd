"""Torch helpers: seeding from ``random_state``, device checks, thread counts."""

import contextlib

import numpy as np
import torch
from sklearn.utils import check_random_state

from ._threads import check_n_threads


def seed_from_random_state(random_state):
    """Return an int seed drawn from a scikit-learn ``random_state``.

    An int is returned as is, so the same int gives the same seed.
    """
    if isinstance(random_state, (int, np.integer)) and not isinstance(
        random_state, bool
    ):
        return int(random_state) % (2**31)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def check_device(device):
    """Validate a torch device string and return it.

    Raises
    ------
    ValueError
        If the device string cannot be parsed, or asks for CUDA when CUDA is not
        available.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be a torch device string such as 'cpu' or 'cuda', got "
            f"{device!r}."
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this "
            "machine (torch.cuda.is_available() is False); use device='cpu'."
        )
    return device


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run the block with ``n_threads`` torch intra-op threads, then restore.

    ``torch.set_num_threads`` is process-wide: the count in use before the
    block is put back on exit, also when the block raises, so that no global
    torch state is left changed. None leaves the count as it is. The interop
    threads are left alone (torch refuses to change them after their first
    use).

    Parameters
    ----------
    n_threads : int >= 1 or None
        Number of intra-op threads inside the block.

    Raises
    ------
    ValueError
        If ``n_threads`` is neither None nor an int >= 1.

    Notes
    -----
    The count is per process, not per Python thread: blocks running at the
    same time in several threads of one process (a threading backend) see
    each other's setting. Processes (joblib's default loky backend) are
    independent.
    """
    n_threads = check_n_threads(n_threads)
    previous = torch.get_num_threads()
    if n_threads is not None and n_threads != previous:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
