"""Mask helpers (numpy only): hiding observed entries, linear interpolation."""

import numpy as np


def hide_observed(observed_mask, fraction, rng, block=(1,)):
    """Draw a random subset of the observed entries to hide.

    Used for self-supervised training (the model learns to reconstruct the
    hidden entries) and by the label-free ``score``.

    Parameters
    ----------
    observed_mask : ndarray of bool, shape (n_samples, C, *spatial)
        True where a value is observed.
    fraction : float in (0, 1)
        Probability that a block is hidden; about this fraction of the observed
        entries is hidden.
    rng : numpy.random.Generator or RandomState
        Source of randomness.
    block : tuple of int
        Block shape ``(1, *spatial_block)``: hidden entries come in contiguous
        blocks of this size along the spatial axes (gaps in time for series,
        square patches for images); channels are hidden independently.

    Returns
    -------
    hidden_mask : ndarray of bool, same shape as ``observed_mask``
        A subset of ``observed_mask``. At least one entry is hidden whenever at
        least one entry is observed.
    """
    observed_mask = np.asarray(observed_mask, dtype=bool)
    shape = observed_mask.shape
    block = tuple(block) + (1,) * (len(shape) - 1 - len(block))
    coarse = [shape[0]] + [
        -(-(n + b - 1) // b) for n, b in zip(shape[1:], block)
    ]
    draw = rng.random_sample if hasattr(rng, "random_sample") else rng.random
    hidden = draw(tuple(coarse)) < fraction
    for axis, b in enumerate(block, start=1):
        if b > 1:
            hidden = np.repeat(hidden, b, axis=axis)
    # random phase so that block borders are not always at multiples of b
    index = [slice(None)]
    for n, b in zip(shape[1:], block):
        off = int(draw() * b) if b > 1 else 0
        index.append(slice(off, off + n))
    hidden = hidden[tuple(index)] & observed_mask
    if not hidden.any() and observed_mask.any():
        flat = np.flatnonzero(observed_mask)
        hidden.flat[flat[int(draw() * len(flat))]] = True
    return hidden


def linear_fill(values, observed_mask):
    """Fill unobserved entries by linear interpolation along the last axis.

    Values before the first and after the last observation are held constant;
    a row without any observation is filled with 0 (the mean, after
    standardisation).

    Parameters
    ----------
    values : ndarray of shape (..., L)
        Values; only the observed ones are read.
    observed_mask : ndarray of bool, same shape
        True where a value is observed.

    Returns
    -------
    filled : ndarray of float, same shape
        A new array.
    """
    values = np.asarray(values, dtype=float)
    observed_mask = np.asarray(observed_mask, dtype=bool)
    length = values.shape[-1]
    flat_v = values.reshape(-1, length)
    flat_m = observed_mask.reshape(-1, length)
    out = np.zeros_like(flat_v)
    t = np.arange(length)
    for i in range(flat_v.shape[0]):
        m = flat_m[i]
        if m.all():
            out[i] = flat_v[i]
        elif m.any():
            out[i] = np.interp(t, t[m], flat_v[i, m])
    return out.reshape(values.shape)
