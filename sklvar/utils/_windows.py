"""Cutting one long series into overlapping windows and stitching them back."""

import numpy as np


def window_starts(n_timesteps, window, stride):
    """Start indices of overlapping windows that cover ``n_timesteps`` steps.

    The last window ends at the last time step (it may overlap its neighbour
    by more than the others). A series shorter than the window gets one
    window, padded at the end by :func:`cut_windows`.

    Returns
    -------
    starts : ndarray of int

    Raises
    ------
    ValueError
        If ``stride > window``: the windows would leave steps uncovered, and
        those steps would come back from the stitching without a value.
    """
    if stride > window:
        raise ValueError(
            f"stride={stride} must be <= window={window}: with a larger stride "
            "the windows leave time steps uncovered. Use a stride between 1 and "
            "the window length (None gives window // 2)."
        )
    if n_timesteps <= window:
        return np.zeros(1, dtype=int)
    starts = np.arange(0, n_timesteps - window + 1, stride)
    if starts[-1] != n_timesteps - window:
        starts = np.append(starts, n_timesteps - window)
    return starts


def cut_windows(A, starts, window, fill=0):
    """Windows of a (T, D) array as a (n_windows, D, window) array.

    Steps beyond the end of ``A`` (only when T < window) get ``fill``.
    """
    A = np.asarray(A)
    n_t, n_d = A.shape
    out = np.full((len(starts), n_d, window), fill, dtype=A.dtype)
    for i, s in enumerate(starts):
        stop = min(s + window, n_t)
        out[i, :, : stop - s] = A[s:stop].T
    return out


def stitch_weights(window):
    """Triangular weights of a window's steps: low at the edges, never zero.

    Overlapping windows are blended with these weights, so each step's value
    comes mostly from the windows where it lies far from the edges, where the
    reconstruction is best, and there are no seams.
    """
    t = np.arange(window)
    return np.minimum(t + 1, window - t).astype(float)


class WindowStitcher:
    """Accumulate imputed windows into a (T, D) array with overlap weights.

    Parameters
    ----------
    n_timesteps, n_features, window : int
    """

    def __init__(self, n_timesteps, n_features, window):
        self.n_timesteps = n_timesteps
        self.window = window
        self.weights = stitch_weights(window)
        self.total = np.zeros((n_timesteps, n_features))
        self.weight_sum = np.zeros((n_timesteps, 1))

    def add(self, starts, windows):
        """Add windows (n, D, window) that start at ``starts``."""
        for s, w in zip(starts, windows):
            stop = min(s + self.window, self.n_timesteps)
            n = stop - s
            self.total[s:stop] += w[:, :n].T * self.weights[:n, None]
            self.weight_sum[s:stop, 0] += self.weights[:n]

    def result(self):
        """The weighted average of the windows, shape (T, D)."""
        return self.total / np.maximum(self.weight_sum, 1e-300)
