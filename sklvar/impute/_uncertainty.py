r"""Calibrated uncertainty of the sklvar imputers (numpy / scipy only).

A conformal layer that works with any imputer of the package: at fit, shifted
copies of the table's own gaps, those nearest in time to the real gaps at the
scale of a twentieth of the series (``near_gaps_hides``; random observed
entries for rows that are independent samples), are hidden on observed
entries, a third of each copy's runs at a time (``split_gap_runs``: aligned
runs stay together), and imputed (a series table: by its field model refitted
without them); the residuals are recorded with what explains their size:

- the column (series or feature), and
- a *difficulty*: for series, the bridge distance :math:`2ab/(a+b)` from the
  entry to the entries of its series that the model saw (``gap_bridge``; a
  and b: steps to the previous and the next one); for rows (samples), the
  number of missing entries of the row;
- for series tables, the share of the other series missing at the entry's
  time step.

A scale :math:`\sigma(j, d, m) = s_j\, g(d)\, h(m)` is fitted to the absolute
residuals (monotone, non-decreasing :math:`g` and :math:`h`, pooled over the
columns, :math:`h = 1` with no other series missing, and a column factor
:math:`s_j` shrunk to the pooled scale where a column has few residuals), and
the quantile function :math:`F^{-1}` of the normalised residuals
:math:`r / \sigma` is kept: the :math:`p`-quantile of an imputed entry is
:math:`\hat x + \sigma\, F^{-1}(p)` (split conformal
prediction with a normalised score, Lei et al. 2018, here with the residuals
of hidden gaps shaped like the real ones). No truth of the gaps is used.

Draws for multiple imputation have these quantiles as marginals (Gaussian
copula: :math:`u = F^{-1}(\Phi(z))`); along each gap of a series :math:`z` is
an AR(1) process whose lag-one correlation is estimated on the hidden-gap
residuals, so a draw is a plausible trajectory rather than white noise.
"""

from numbers import Integral, Real

import numpy as np
from scipy.special import ndtr, ndtri
from sklearn.isotonic import IsotonicRegression

from ..utils import hide_observed
from ..utils._gmrf import near_gaps_hides, split_gap_runs

__all__ = ["ResidualCalibration", "check_level", "gap_bridge", "gap_distance"]

#: probabilities at which the quantile function of the normalised residuals
#: is stored
_PROBS = np.concatenate([[0.0005], np.linspace(0.001, 0.999, 999), [0.9995]])
#: edges of the difficulty bins (distance in steps, or missing entries a row)
_EDGES = np.unique(np.round(np.geomspace(1, 1e6, 61)).astype(np.int64))
# a bin with fewer residuals is merged with the next one
_MIN_BIN = 50
# pseudo-count of the shrinkage of the column factors to 1
_SHRINK = 200.0


def check_level(level, name="level"):
    """Validate a coverage level in (0, 1) and return it as a float."""
    if isinstance(level, bool) or not isinstance(level, Real) or \
            not 0.0 < float(level) < 1.0:
        raise ValueError(
            f"{name} must be a float in (0, 1) (the probability that the interval "
            f"holds the true value, e.g. 0.9), got {level!r}."
        )
    return float(level)


def check_n_samples(n_samples):
    """Validate the number of draws of ``sample``."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or \
            n_samples < 1:
        raise ValueError(
            f"n_samples must be an int >= 1 (the number of imputations drawn), "
            f"got {n_samples!r}."
        )
    return int(n_samples)


def gap_distance(observed):
    """Distance in rows from each entry to the nearest observed one of its column.

    Parameters
    ----------
    observed : ndarray of bool of shape (T, D)

    Returns
    -------
    distance : ndarray of int of shape (T, D)
        0 on observed entries; ``T`` in a column with no observed entry.
    """
    n_t, n_d = observed.shape
    t = np.arange(n_t)[:, None]
    big = 10 * n_t + 10
    last = np.where(observed, t, -big)
    last = np.maximum.accumulate(last, axis=0)
    nxt = np.where(observed, t, 2 * big)
    nxt = np.minimum.accumulate(nxt[::-1], axis=0)[::-1]
    dist = np.minimum(t - last, nxt - t)
    return np.minimum(dist, n_t).astype(np.int64)


def gap_bridge(observed):
    """Bridge distance of each entry to the observed ones of its column.

    ``2 a b / (a + b)``, with ``a`` and ``b`` the distances in rows to the
    previous and the next observed entry of the column (the variance, up to
    a factor, of a Brownian bridge pinned at both): the distance to the
    nearest observation in the middle of a gap, up to twice that where the
    far side of the gap is far (a long gap, or an edge).

    Returns
    -------
    distance : ndarray of int of shape (T, D)
        0 on observed entries, at most ``2 T``.
    """
    n_t, n_d = observed.shape
    t = np.arange(n_t)[:, None]
    big = 10 * n_t + 10
    last = np.maximum.accumulate(np.where(observed, t, -big), axis=0)
    nxt = np.minimum.accumulate(np.where(observed, t, 2 * big)[::-1], axis=0)[::-1]
    a = np.where(last < 0, np.inf, t - last).astype(float)  # inf: no side
    b = np.where(nxt >= n_t, np.inf, nxt - t).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 2.0 / (1.0 / a + 1.0 / b)  # one side: twice its distance
    out = np.where(observed, 0.0, np.minimum(np.nan_to_num(out, nan=2 * n_t), 2 * n_t))
    return np.rint(out).astype(np.int64)


def _difficulty(observed, kind, shape):
    """Difficulty of each entry of a (n_rows, n_features) array.

    ``kind`` ``"series"``: rows are time steps, distance in time within the
    column; ``"sample_series"``: each row is a ``shape == (C, L)`` sample,
    distance along L within each channel; ``"rows"``: the number of missing
    entries of the row.
    """
    if kind == "series":
        return gap_bridge(observed)
    if kind == "sample_series":
        n = observed.shape[0]
        C, L = shape
        obs = observed.reshape(n * C, L).T  # (L, n C): columns are channels
        return gap_bridge(obs).T.reshape(observed.shape)
    count = (~observed).sum(axis=1, keepdims=True)
    return np.broadcast_to(count, observed.shape).astype(np.int64)


#: lower edges of the bins of the fraction of the other series missing at
#: the same time step (series tables)
_MIX_EDGES = np.array([0.0, 0.05, 0.15, 0.3, 0.5, 0.75])


def _others_missing(observed):
    """Fraction of the other series missing at each entry's time step, (T, D)."""
    n_d = observed.shape[1]
    if n_d < 2:
        return np.zeros(observed.shape)
    missing = ~observed
    count = missing.sum(axis=1, keepdims=True) - missing
    return count / (n_d - 1.0)


def _bins(values, edges):
    """Index of the bin (lower ``edges``) of each value; below the first: 0."""
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0,
                   len(edges) - 1)


def _lag_pairs(hidden):
    """Flat indices (a, b) of entries hidden at consecutive rows of one column."""
    both = hidden[:-1] & hidden[1:]
    a = np.flatnonzero(both)
    return a, a + hidden.shape[1]


class ResidualCalibration:
    """The fitted conformal model of an imputer's errors (``calibration_``).

    Parameters
    ----------
    kind : {"series", "sample_series", "rows"}
        What the difficulty measures (see :func:`_difficulty`).
    shape : tuple of int
        The sample shape (used by ``"sample_series"``).
    unit : ndarray of shape (n_features,)
        Unit of each column (its standard deviation on the observed entries):
        residuals are pooled across columns in these units.
    col_scale : ndarray of shape (n_features,)
        Column factors :math:`s_j`.
    bin_edges : ndarray of int
        Lower edges of the difficulty bins.
    bin_scale : ndarray of float
        Non-decreasing :math:`g` on each bin.
    probs, quantiles : ndarray
        Quantile function of the normalised residuals on a grid of
        probabilities.
    rho : ndarray of shape (n_features,)
        Lag-one correlation of the normal scores of the normalised residuals
        along a gap, per column (series; 0 for rows).
    n_residuals : int
        Number of hidden entries the calibration is fitted on.
    mix_edges, mix_scale : ndarray of float
        Series tables: lower edges of the bins of the fraction of the other
        series missing at the entry's time step, and the non-decreasing factor
        :math:`h` on each (one bin of factor 1 otherwise). The hidden gaps
        fall beside the real ones, so more series are missing around them
        than around the real gaps; :math:`h` carries the residual scale over
        to the real gaps' share of missing neighbours.
    """

    def __init__(self, kind, shape, unit, col_scale, bin_edges, bin_scale, probs,
                 quantiles, rho, n_residuals, mix_edges=(0.0,), mix_scale=(1.0,)):
        self.kind = kind
        self.shape = tuple(shape)
        self.unit = np.asarray(unit, dtype=float)
        self.col_scale = np.asarray(col_scale, dtype=float)
        self.bin_edges = np.asarray(bin_edges, dtype=np.int64)
        self.bin_scale = np.asarray(bin_scale, dtype=float)
        self.probs = np.asarray(probs, dtype=float)
        self.quantiles = np.asarray(quantiles, dtype=float)
        self.rho = np.broadcast_to(np.asarray(rho, dtype=float),
                                   self.unit.shape).copy()
        self.n_residuals = int(n_residuals)
        self.mix_edges = np.asarray(mix_edges, dtype=float)
        self.mix_scale = np.asarray(mix_scale, dtype=float)

    # -------------------------------------------------------------- state
    def to_state(self):
        """Plain values and arrays (for :meth:`_BaseImputer.save`)."""
        return {k: getattr(self, k) for k in (
            "kind", "shape", "unit", "col_scale", "bin_edges", "bin_scale",
            "probs", "quantiles", "rho", "n_residuals", "mix_edges",
            "mix_scale")}

    @classmethod
    def from_state(cls, state):
        return cls(**state)

    # -------------------------------------------------------------- fit
    @classmethod
    def fit(cls, X_true, observed, predict, hides, *, kind, shape):
        """Fit the calibration on the residuals of hidden observed entries.

        Parameters
        ----------
        X_true : ndarray of shape (n_rows, n_features)
            The training data (only observed entries are read).
        observed : ndarray of bool, same shape
        predict : callable
            ``predict(input_mask)`` returns the imputation of X with only
            ``input_mask`` observed, in the units of X.
        hides : list of ndarray of bool
            Hidden subsets of ``observed`` (one imputation each).
        kind, shape
            See the class.
        """
        n_features = observed.shape[1]
        with np.errstate(invalid="ignore"):
            unit = np.nanstd(np.where(observed, X_true, np.nan), axis=0)
        unit = np.where(np.isfinite(unit) & (unit > 0), unit, 1.0)
        res, col, dif, mix, pairs = [], [], [], [], []
        offset = 0
        for hidden in hides:
            if not hidden.any():
                continue
            seen = observed & ~hidden
            X_hat = np.asarray(predict(seen), dtype=float)
            d = _difficulty(seen, kind, shape)
            flat = np.flatnonzero(hidden)
            r = ((X_hat - X_true) / unit).ravel()[flat]
            ok = np.isfinite(r)
            res.append(r[ok])
            col.append((flat % n_features)[ok])
            dif.append(d.ravel()[flat][ok])
            if kind == "series":
                mix.append(_others_missing(seen).ravel()[flat][ok])
            if kind == "series":
                # positions in the concatenated residuals of consecutive pairs
                pos = np.full(hidden.size, -1)
                pos[flat[ok]] = offset + np.arange(int(ok.sum()))
                a, b = _lag_pairs(hidden)
                keep = (pos[a] >= 0) & (pos[b] >= 0)
                pairs.append(np.stack([pos[a][keep], pos[b][keep]]))
            offset += int(ok.sum())
        if not res or offset < 2:
            # nothing to learn from: unit-scale Gaussian errors
            return cls(kind, shape, unit, np.ones(n_features), _EDGES[:1],
                       np.ones(1), _PROBS, ndtri(_PROBS), np.zeros(n_features),
                       offset)
        r, col, dif = np.concatenate(res), np.concatenate(col), np.concatenate(dif)
        edges, bins = _merge_bins(dif)
        n_bins = len(edges)
        if mix:
            mix_edges, mbins = _merge_bins(np.concatenate(mix), _MIX_EDGES)
        else:
            mix_edges, mbins = np.zeros(1), np.zeros(len(r), dtype=np.int64)
        n_mix = len(mix_edges)
        s = np.ones(n_features)
        h = np.ones(n_mix)
        a = np.abs(r)
        for _ in range(3):
            g = _isotonic_means(a / (s[col] * h[mbins]), bins, n_bins)
            if n_mix > 1:
                h = _isotonic_means(a / (s[col] * g[bins]), mbins, n_mix)
                h = h / h[0]  # g carries the scale, h the ratio to no neighbour missing
            w = a / (g[bins] * h[mbins])
            n_j = np.bincount(col, minlength=n_features)
            m_j = np.bincount(col, w, minlength=n_features)
            s = (m_j + _SHRINK * w.mean()) / (n_j + _SHRINK)
            s = np.maximum(s / w.mean(), 1e-6)
        sigma = s[col] * g[bins] * h[mbins]
        u = r / sigma
        n = len(u)
        # conformal finite-sample adjustment: the order statistic of rank
        # ceil((n + 1) p) on the upper side, floor((n + 1) p) on the lower
        p_adj = np.where(_PROBS >= 0.5, np.ceil((n + 1) * _PROBS) / n,
                         np.floor((n + 1) * _PROBS) / n)
        q = np.quantile(u, np.clip(p_adj, 0.0, 1.0))
        rho = np.zeros(n_features)
        if kind == "series" and pairs:
            P = np.concatenate(pairs, axis=1)
            if P.shape[1] > 10:
                rho = _lag_correlation(u, q, P, col, n_features)
        return cls(kind, shape, unit, s, edges, g, _PROBS, q, rho, n,
                   mix_edges, h)

    # -------------------------------------------------------------- predict
    def scale(self, observed):
        """:math:`\\sigma` of every entry in the units of X (0 where observed)."""
        d = _difficulty(observed, self.kind, self.shape)
        b = _bins(d, self.bin_edges)
        sigma = self.bin_scale[b] * (self.col_scale * self.unit)[None, :]
        if self.kind == "series" and len(self.mix_edges) > 1:
            sigma = sigma * self.mix_scale[
                _bins(_others_missing(observed), self.mix_edges)]
        return np.where(observed, 0.0, sigma)

    def ppf(self, p):
        """Quantile function of the normalised residuals (``p`` in [0, 1])."""
        return np.interp(p, self.probs, self.quantiles)

    @property
    def unit_std(self):
        """Standard deviation of the normalised residuals (from the quantiles)."""
        mid = self.ppf(np.linspace(0.0025, 0.9975, 400))
        return float(np.std(mid))

    def quantiles_of(self, X_hat, observed, probs):
        """(n_probs, *X_hat.shape) quantiles, X_hat on observed entries."""
        sigma = self.scale(observed)
        z = self.ppf(np.asarray(probs, dtype=float))
        return X_hat[None] + sigma[None] * z.reshape(-1, 1, 1)

    def draws(self, X_hat, observed, n_samples, rng):
        """(n_samples, *X_hat.shape) draws; observed entries are X_hat."""
        sigma = self.scale(observed)
        missing = ~observed
        e = rng.standard_normal((n_samples,) + X_hat.shape)
        if self.kind == "series" and np.any(self.rho > 0):
            rho = self.rho  # one per column
            c = np.sqrt(1.0 - rho**2)
            z = e
            for t in range(1, X_hat.shape[0]):  # AR(1) along each gap
                cont = missing[t] & missing[t - 1]
                z[:, t] = np.where(cont, rho * z[:, t - 1] + c * e[:, t], e[:, t])
        else:
            z = e
        u = self.ppf(ndtr(z))
        return np.where(missing[None], X_hat[None] + sigma[None] * u, X_hat[None])


def _isotonic_means(y, bins, n_bins):
    """Per-bin means of y, made non-decreasing across bins (count-weighted)."""
    cnt = np.bincount(bins, minlength=n_bins)
    m = np.bincount(bins, y, minlength=n_bins) / np.maximum(cnt, 1)
    if n_bins > 1:
        m = IsotonicRegression(increasing=True).fit(
            np.arange(n_bins), m, sample_weight=np.maximum(cnt, 1e-9)
        ).predict(np.arange(n_bins))
    return np.maximum(m, 1e-12)


def _lag_correlation(u, q, pairs, col, n_features):
    """Lag-one correlation of the normal scores of u along gaps, per column.

    Each column's correlation (of the pairs of consecutive hidden entries)
    is shrunk to the pooled one with a pseudo-count of ``_SHRINK`` pairs;
    clipped to [0, 0.999].
    """
    z = ndtri(np.clip(np.interp(u, q, _PROBS), 1e-4, 1 - 1e-4))
    za, zb = z[pairs[0]], z[pairs[1]]
    c = col[pairs[0]]
    pooled = float(np.mean(za * zb) / max(np.sqrt(np.mean(za**2) * np.mean(zb**2)),
                                          1e-12))
    n_c = np.bincount(c, minlength=n_features)
    num = np.bincount(c, za * zb, minlength=n_features)
    den = np.sqrt(np.bincount(c, za**2, minlength=n_features)
                  * np.bincount(c, zb**2, minlength=n_features))
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(den > 0, num / np.where(den > 0, den, 1.0), pooled)
    rho = (n_c * own + _SHRINK * pooled) / (n_c + _SHRINK)
    return np.clip(np.nan_to_num(rho, nan=0.0), 0.0, 0.999)


def _merge_bins(values, grid=_EDGES):
    """Bins of ``grid`` (lower edges) merged to hold ``_MIN_BIN`` values each.

    Returns the kept edges and the bin of each value.
    """
    idx = np.searchsorted(grid, values, side="right") - 1
    cnt = np.bincount(np.maximum(idx, 0), minlength=len(grid))
    edges, acc = [], 0
    for i, c in enumerate(cnt):
        if c == 0 and not edges:
            continue
        if not edges or acc >= _MIN_BIN:
            if c == 0:
                continue
            edges.append(grid[i])
            acc = 0
        acc += c
    if len(edges) > 1 and acc < _MIN_BIN:
        edges.pop()  # the last bin is too small: merged into the previous one
    edges = np.asarray(edges or grid[:1], dtype=grid.dtype)
    return edges, _bins(values, edges)


#: parts each shifted copy of a series table's gaps is split into (one
#: imputation each, :func:`~sklvar.utils._gmrf.split_gap_runs`)
_SPLIT = 3


def calibration_hides(est, observed, rng, n_draws, split=_SPLIT):
    """Hidden subsets of the observed entries for the calibration of ``est``.

    Series (tables and windows): the table's own gaps rolled in time, by the
    offsets that put them nearest in time to the real gaps, distances
    compared to a twentieth of the series
    (:func:`~sklvar.utils._gmrf.near_gaps_hides`: where the gaps are spread
    over the series this is a random shift; where they sit in one stretch of
    time, the residuals are those of the series around that stretch), each
    copy split by its runs into ``split`` parts hidden one at a time
    (:func:`~sklvar.utils._gmrf.split_gap_runs`; aligned blocks stay whole),
    so the other entries around a hidden one are missing about as often as
    around a real gap; rows: random observed entries (``hide_fraction``, in
    blocks for series and image samples).
    """
    layout = est.layout_
    if layout.kind == "table" or layout.window is not None:
        hides = near_gaps_hides(observed, rng, n_draws,
                                resolution=max(1, observed.shape[0] // 20))
        if split > 1:
            hides = [p for h in hides for p in split_gap_runs(h, split, rng)]
        return hides
    obs = observed.reshape((observed.shape[0],) + layout.shape)
    return [
        hide_observed(obs, est.hide_fraction, rng,
                      layout.default_block()).reshape(observed.shape)
        for _ in range(n_draws)
    ]


def calibration_kind(layout):
    """(kind, shape) of the difficulty for a fitted layout."""
    if layout.kind == "table" or layout.window is not None:
        return "series", ()
    if layout.kind == "series" and len(layout.shape) == 2:
        return "sample_series", tuple(layout.shape)
    return "rows", ()
