"""Torch helpers: seeding from ``random_state``, device checks, conversions."""

import numpy as np
import torch
from sklearn.utils import check_random_state


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
