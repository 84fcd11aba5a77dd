r"""Linear Gaussian-field prior over time x series (numpy / scipy only).

The prior predicts every entry :math:`x_{t,j}` of a (T, D) table from its
neighbours in a window of ``2 * order + 1`` time steps across all series, the
entry itself excluded:

.. math::

    \Phi(x)_{t,j} = c_j + \sum_{(s,k) \ne (0,j),\ |s| \le S} B_{j,s,k}\, x_{t+s,k}.

These are the coefficients of the conditional mean of a stationary Gaussian
field: a ridge regression of each series on its window, fitted on the time
steps where that series is observed (:func:`fit_field`; without a mask, from
the precision matrix :math:`P` of the window,
:math:`B_{j,s,k} = -P_{(0,j),(s,k)} / P_{(0,j),(0,j)}`). Imputation is the
fixed point of the paper's fixed-point solver
:math:`x = \Omega y + (1 - \Omega) \Phi(x)`, computed exactly by a sparse
linear solve (:func:`solve_field`: the limit of the iteration where it
converges, and defined where it would not); for a Gaussian field it is the
conditional mean of the missing entries given the observed ones (kriging in
time x series). The coefficients are fitted by EM rounds (:func:`em_field`:
fit on the current fill, solve, refit) and the model is chosen on held-out
observed entries shaped like the table's own gaps and put nearest in time to
them (:func:`select_field`, :func:`near_gaps_hides`, :func:`shifted_gaps_hide`).
``VariationalImputer(layout="series")`` runs this.
"""

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from ._masks import linear_fill

__all__ = [
    "FIELD_CANDIDATES",
    "FIELD_KINDS",
    "em_field",
    "field_phi",
    "fit_field",
    "fit_increments",
    "increments_phi",
    "fit_temporal",
    "gap_shaped_hide",
    "linear_fill_table",
    "linear_phi_coefs",
    "near_gaps_hides",
    "select_field",
    "shifted_gaps_hide",
    "solve_field",
    "solve_increments",
    "split_gap_runs",
    "system_cost",
]


def _lagged(Z, order):
    """(T, (2 S + 1) D) stack of the shifted copies of Z, edges repeated."""
    n_t = Z.shape[0]
    P = np.pad(Z, ((order, order), (0, 0)), mode="edge")
    return np.concatenate(
        [P[order + s:order + s + n_t] for s in range(-order, order + 1)], axis=1
    )


def fit_field(Z, order, alpha, observed=None):
    r"""Coefficients of the field on a complete (filled) standardised table.

    Parameters
    ----------
    Z : ndarray of shape (T, D)
        Complete table (observations and the current fill), standardised.
    order : int
        Half-width S of the time window (0: across series only).
    alpha : float
        Ridge added to the window covariance (relative to unit variances).
    observed : ndarray of bool of shape (T, D) or None
        When given, the regression of each series is fitted on the time steps
        where that series is observed only (its own filled values are never a
        target, as in scikit-learn's IterativeImputer); None fits every series
        on every step, from the precision matrix of the window.

    Returns
    -------
    B : ndarray of shape (D, 2 S + 1, D)
        ``B[j, S + s, k]`` weighs :math:`x_{t+s,k}` in the prediction of
        :math:`x_{t,j}`; ``B[j, S, j] == 0``.
    c : ndarray of shape (D,)
        Intercepts: :math:`\Phi(x)_{t,j} = c_j + \sum B_{j,s,k} x_{t+s,k}`.
    """
    n_t, n_d = Z.shape
    F = _lagged(Z, order)
    n_f = F.shape[1]
    c0 = order * n_d
    centre = np.arange(n_d)
    if observed is None:
        mu = F.mean(axis=0)
        Fc = F - mu
        G = Fc.T @ Fc / n_t
        G[np.diag_indices_from(G)] += alpha
        P = np.linalg.inv(G)
        rows = P[c0:c0 + n_d]
        B = -rows / P[c0 + centre, c0 + centre][:, None]
        B[centre, c0 + centre] = 0.0
        c = mu[c0:c0 + n_d] - B @ mu
        return B.reshape(n_d, 2 * order + 1, n_d), c
    G = F.T @ F
    total = F.sum(axis=0)
    B = np.zeros((n_d, n_f))
    c = np.zeros(n_d)
    for j in range(n_d):
        miss = ~observed[:, j]
        n_obs = n_t - int(miss.sum())
        if n_obs < 2:
            continue
        Fm = F[miss]
        mu = (total - Fm.sum(axis=0)) / n_obs
        Gj = (G - Fm.T @ Fm) / n_obs - np.outer(mu, mu)
        keep = np.ones(n_f, dtype=bool)
        keep[c0 + j] = False
        A = Gj[np.ix_(keep, keep)]
        A[np.diag_indices_from(A)] += alpha
        B[j, keep] = np.linalg.solve(A, Gj[keep, c0 + j])
        c[j] = mu[c0 + j] - B[j] @ mu
    return B.reshape(n_d, 2 * order + 1, n_d), c


def _operator(B, n_t, rows=None):
    """Sparse matrix of Phi (no intercept) on the row-major flattened table.

    Only the rows of the flat indices ``rows`` are built (all when None):
    ``len(rows) x T D`` with ``(2 S + 1) D`` entries a row at most.
    """
    n_d, width, _ = B.shape
    order = (width - 1) // 2
    rows = np.arange(n_t * n_d) if rows is None else np.asarray(rows)
    t, j = np.divmod(rows, n_d)
    r_idx, c_idx, vals = [], [], []
    local = np.arange(len(rows))
    for i, s in enumerate(range(-order, order + 1)):
        C = B[:, i, :]  # (D, D)
        used = np.flatnonzero(np.any(C != 0, axis=0))
        if used.size == 0:
            continue
        ts = np.clip(t + s, 0, n_t - 1)  # edges repeated, as in the fit
        v = C[j][:, used]  # (n_rows, n_used)
        keep = v != 0
        r_idx.append(np.broadcast_to(local[:, None], v.shape)[keep])
        c_idx.append((ts[:, None] * n_d + used[None, :])[keep])
        vals.append(v[keep])
    shape = (len(rows), n_t * n_d)
    if not vals:
        return sp.csr_matrix(shape)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(r_idx), np.concatenate(c_idx))),
        shape=shape,
    )


def _lagged_phi(Z, B, c):
    """:func:`field_phi` by a dense product with the lagged table (faster)."""
    n_d = Z.shape[1]
    order = (B.shape[1] - 1) // 2
    return _lagged(Z, order) @ B.reshape(n_d, -1).T + c


def field_phi(Z, B, c):
    r""":math:`\Phi(x)` of a field on a complete (T, D) table (edges repeated)."""
    n_t, n_d = Z.shape
    return (_operator(B, n_t) @ Z.ravel()).reshape(n_t, n_d) + c


def linear_phi_coefs(n_d):
    """(B, c) of linear interpolation: the mean of the two time neighbours."""
    B = np.zeros((n_d, 3, n_d))
    B[np.arange(n_d), 0, np.arange(n_d)] = 0.5
    B[np.arange(n_d), 2, np.arange(n_d)] = 0.5
    return B, np.zeros(n_d)


def solve_field(Z, observed, B, c=None):
    """Exact fixed point :math:`x = \\Omega y + (1-\\Omega)\\Phi(x)`.

    Parameters
    ----------
    Z : ndarray of shape (T, D)
        Standardised table; only observed entries are read.
    observed : ndarray of bool, shape (T, D)
    B : ndarray of shape (D, 2 S + 1, D)
        Field coefficients (:func:`fit_field`).
    c : ndarray of shape (D,) or None
        Intercepts (None: 0).

    Returns
    -------
    X : ndarray of shape (T, D)
        Observed entries kept, missing ones solved. Non-finite if the system
        is singular (the caller checks).
    """
    n_t, n_d = Z.shape
    y = np.where(observed, Z, 0.0).ravel()
    miss = ~observed.ravel()
    out = y.copy()
    if not miss.any():
        return out.reshape(n_t, n_d)
    Phi = _operator(B, n_t, np.flatnonzero(miss))
    A = sp.identity(int(miss.sum()), format="csc") - Phi[:, miss].tocsc()
    rhs = Phi[:, ~miss] @ y[~miss]
    if c is not None:
        rhs = rhs + np.tile(np.asarray(c, dtype=float), n_t)[miss]
    with np.errstate(all="ignore"):
        try:
            out[miss] = spl.spsolve(A, rhs)
        except (RuntimeError, ValueError):  # singular factor
            out[miss] = np.nan
    return out.reshape(n_t, n_d)


def _runs(mask_1d):
    """(start, length) of the runs of True in a 1-D boolean array."""
    padded = np.concatenate([[False], mask_1d, [False]])
    diff = np.diff(padded.astype(np.int8))
    starts = np.flatnonzero(diff == 1)
    ends = np.flatnonzero(diff == -1)
    return starts, ends - starts


def gap_shaped_hide(observed, fraction, rng, default_length=10):
    """Hide observed entries in runs shaped like the table's own gaps.

    The lengths of the hidden runs are drawn from the lengths of the runs of
    missing entries of each column (all columns pooled; ``default_length``
    when the table has no gap); runs are placed at random positions of random
    columns until about ``fraction`` of the observed entries are hidden.

    Parameters
    ----------
    observed : ndarray of bool, shape (T, D)
    fraction : float in (0, 1)
    rng : numpy RandomState
    default_length : int, default=10

    Returns
    -------
    hidden : ndarray of bool, shape (T, D)
        A subset of ``observed``.
    """
    n_t, n_d = observed.shape
    lengths = []
    for j in range(n_d):
        _, lens = _runs(~observed[:, j])
        lengths.extend(lens.tolist())
    lengths = np.asarray(lengths or [default_length])
    lengths = np.minimum(lengths, max(1, n_t // 2))
    target = fraction * observed.sum()
    hidden = np.zeros_like(observed)
    n_hidden, tries = 0, 0
    while n_hidden < target and tries < 100000:
        tries += 1
        length = int(lengths[rng.randint(len(lengths))])
        j = rng.randint(n_d)
        start = rng.randint(0, n_t - length + 1)
        block = observed[start:start + length, j] & ~hidden[start:start + length, j]
        if block.sum() < 0.5 * length:
            continue
        hidden[start:start + length, j] |= block
        n_hidden += int(block.sum())
    if not hidden.any() and observed.any():
        flat = np.flatnonzero(observed)
        hidden.flat[flat[rng.randint(len(flat))]] = True
    return hidden


def fit_temporal(Z, order, alpha, observed=None):
    """(B, c) of each series from its own neighbours in time only."""
    n_d = Z.shape[1]
    B = np.zeros((n_d, 2 * order + 1, n_d))
    c = np.zeros(n_d)
    for j in range(n_d):
        obs = None if observed is None else observed[:, j:j + 1]
        Bj, cj = fit_field(Z[:, j:j + 1], order, alpha, obs)
        B[j, :, j], c[j] = Bj[0, :, 0], cj[0]
    return B, c


def _column_std(A, rows=None):
    """Standard deviation of each column of A over its ``rows`` (NaN: < 2 rows)."""
    out = np.full(A.shape[1], np.nan)
    for j in range(A.shape[1]):
        a = A[:, j] if rows is None else A[rows[:, j], j]
        if a.size >= 2:
            out[j] = a.std()
    return out


def fit_increments(Z, order, alpha, observed=None):
    r"""(B, c, w) of the field on the first differences of a filled table.

    The increments :math:`\Delta x_t = x_{t+1} - x_t` are modelled by a field
    (:func:`fit_field`, on the steps where both ends of an increment are
    observed); ``w`` are the inverse residual standard deviations of each
    series' increments, the weights of :func:`solve_increments`. With ``B = 0``
    the solve is linear interpolation; the field adds what the other series
    say about how a series moves, which suits random-walk-like series (levels
    that wander, increments that are correlated across series).
    """
    n_t, n_d = Z.shape
    if n_t < 3:
        return np.zeros((n_d, 2 * order + 1, n_d)), np.zeros(n_d), np.ones(n_d)
    D = np.diff(Z, axis=0)
    obs_d = None if observed is None else observed[1:] & observed[:-1]
    # the ridge is relative to unit variances: fit on increments scaled to
    # unit standard deviation, then scale the coefficients back
    scale = _column_std(D, obs_d)
    scale[~(scale > 0)] = 1.0
    B, c = fit_field(D / scale, order, alpha, obs_d)
    B = B * scale[:, None, None] / scale[None, None, :]
    c = c * scale
    sd = _column_std(D - _lagged_phi(D, B, c), obs_d)
    sd[np.isnan(sd)] = 1.0
    floor = 1e-6 * max(float(sd.max()), 1e-12)
    return B, c, 1.0 / np.maximum(sd, floor)


def _increment_rows(observed, order):
    """Flat indices of the increment residuals that involve a missing entry."""
    n_t, n_d = observed.shape
    any_miss = (~observed).any(axis=1)
    # the residual of increment t reads x at steps t - S ... t + S + 1
    times = np.flatnonzero(np.convolve(
        any_miss.astype(float), np.ones(2 * order + 2), mode="full"
    )[order + 1:order + n_t] > 0)
    return (times[:, None] * n_d + np.arange(n_d)[None, :]).ravel()


def system_cost(observed, candidate):
    """Size of a candidate's sparse system, in entries (an estimate of its cost).

    The rows of the missing entries of a field read ``(2 S + 1) D`` entries
    each; an increment field's least-squares system about four times as many
    (two increments per entry, and its normal equations).
    """
    n_miss, n_d = int((~observed).sum()), observed.shape[1]
    width = 2 * candidate["order"] + 1
    if candidate["kind"] == "field":
        return n_miss * width * n_d
    if candidate["kind"] == "increments":
        return 4 * n_miss * width * n_d
    return n_miss * width


def _increment_system(B, c, w, n_t, rows):
    """(A, b): the weighted increment residuals ``A x - b`` of the given rows."""
    n_d = B.shape[0]
    n = (n_t - 1) * n_d
    r = np.arange(n)
    diff = sp.csr_matrix(
        (np.r_[np.ones(n), -np.ones(n)], (np.r_[r, r], np.r_[r + n_d, r])),
        shape=(n, n_t * n_d),
    )
    select = sp.csr_matrix(
        (np.ones(len(rows)), (np.arange(len(rows)), rows)), shape=(len(rows), n)
    )
    wr = np.asarray(w, dtype=float)[rows % n_d]
    A = (sp.diags(wr) @ (select - _operator(B, n_t - 1, rows)) @ diff).tocsc()
    return A, wr * np.asarray(c, dtype=float)[rows % n_d]


def increments_phi(Z, B, c, w):
    r""":math:`\Phi(x)` of an increment field on a complete (T, D) table.

    Each entry is replaced by the value that minimises the increment energy of
    :func:`solve_increments` with every other entry fixed (its conditional
    mode; for ``B = 0``, the mean of its two time neighbours).
    """
    n_t, n_d = Z.shape
    if n_t < 2:
        return np.array(Z, dtype=float)
    A, b = _increment_system(B, c, w, n_t, np.arange((n_t - 1) * n_d))
    x = np.asarray(Z, dtype=float).ravel()
    grad = A.T @ (A @ x - b)
    curv = np.asarray(A.multiply(A).sum(axis=0)).ravel()
    return (x - grad / np.maximum(curv, 1e-300)).reshape(n_t, n_d)


def _phi_columns(B, n_t, cols):
    """Columns ``cols`` of the sparse matrix of :func:`_operator` (all rows).

    Built from the transposed coefficients: row ``(t, j)`` reads column
    ``(u, k)`` with weight ``B[j, s, k]`` where ``t + s = u``; near the two
    ends, where :func:`_operator` repeats the edge step, those rows are built
    exactly and replace the transposed ones.
    """
    n_d, width, _ = B.shape
    order = (width - 1) // 2
    cols = np.asarray(cols)
    u, k = np.divmod(cols, n_d)
    r_idx, c_idx, vals = [], [], []
    local = np.arange(len(cols))
    for i, s in enumerate(range(-order, order + 1)):
        C = B[:, i, :]  # (D, D): row j reads series k
        used = np.flatnonzero(np.any(C != 0, axis=1))
        if used.size == 0:
            continue
        t = u - s
        ok = (t >= 0) & (t < n_t)
        v = C[used][:, k[ok]].T  # (n_ok, n_used)
        keep = v != 0
        c_idx.append(np.broadcast_to(local[ok][:, None], v.shape)[keep])
        r_idx.append((t[ok][:, None] * n_d + used[None, :])[keep])
        vals.append(v[keep])
    shape = (n_t * n_d, len(cols))
    P = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(r_idx), np.concatenate(c_idx))),
        shape=shape,
    ) if vals else sp.csr_matrix(shape)
    if order == 0:
        return P
    edge_t = np.unique(np.r_[np.arange(min(order, n_t)),
                             np.arange(max(0, n_t - order), n_t)])
    edge = (edge_t[:, None] * n_d + np.arange(n_d)[None, :]).ravel()
    inner = np.ones(n_t * n_d)
    inner[edge] = 0.0
    exact = _operator(B, n_t, edge)[:, cols]
    place = sp.csr_matrix(
        (np.ones(len(edge)), (edge, np.arange(len(edge)))),
        shape=(n_t * n_d, len(edge)),
    )
    return (sp.diags(inner) @ P + place @ exact).tocsr()


def solve_increments(Z, observed, B, c, w):
    r"""Missing entries that best fit the increment field, by least squares.

    Minimises :math:`\sum_{t,j} w_j^2 \big((I - \tilde\Phi)(\Delta x)_{t,j}
    - c_j\big)^2` over the missing entries, observed ones kept (the energy of
    the increment field; an SPD sparse solve). The system is built from the
    columns of the missing entries only, so its cost grows with their number,
    not with the table's size.
    """
    n_t, n_d = Z.shape
    y = np.where(observed, Z, 0.0)
    out = y.ravel().copy()
    miss = np.flatnonzero(~observed.ravel())
    if miss.size == 0:
        return out.reshape(n_t, n_d)
    if n_t < 2:
        out[miss] = np.nan
        return out.reshape(n_t, n_d)
    w = np.asarray(w, dtype=float)
    c = np.asarray(c, dtype=float)
    n = (n_t - 1) * n_d
    # D restricted to the missing columns: x_{t,k} enters the increments
    # (t - 1, k) with +1 and (t, k) with -1
    t, k = np.divmod(miss, n_d)
    m_idx = np.arange(miss.size)
    up, down = t >= 1, t <= n_t - 2
    D_m = sp.csr_matrix(
        (np.r_[np.ones(up.sum()), -np.ones(down.sum())],
         (np.r_[(t[up] - 1) * n_d + k[up], t[down] * n_d + k[down]],
          np.r_[m_idx[up], m_idx[down]])),
        shape=(n, miss.size),
    )
    touched = np.flatnonzero(D_m.getnnz(axis=1) > 0)
    Phi_D = _phi_columns(B, n_t - 1, touched) @ D_m[touched]
    A_m = (sp.diags(np.tile(w, n_t - 1)) @ (D_m - Phi_D)).tocsc()
    # residuals of the table with the missing entries at 0
    d0 = np.diff(y, axis=0)
    r0 = (d0 - _lagged_phi(d0, B, c)) * w
    rhs = -A_m.T @ r0.ravel()
    with np.errstate(all="ignore"):
        try:
            out[miss] = spl.spsolve((A_m.T @ A_m).tocsc(), rhs)
        except (RuntimeError, ValueError):  # singular factor
            out[miss] = np.nan
    return out.reshape(n_t, n_d)


def _solve_increments_rows(Z, observed, B, c, w):
    """:func:`solve_increments` from the full rows (reference, for tests)."""
    n_t, n_d = Z.shape
    y = np.where(observed, Z, 0.0).ravel()
    miss = ~observed.ravel()
    out = y.copy()
    order = (B.shape[1] - 1) // 2
    A, b = _increment_system(B, c, w, n_t, _increment_rows(observed, order))
    A_m, A_o = A[:, miss], A[:, ~miss]
    out[miss] = spl.spsolve((A_m.T @ A_m).tocsc(), A_m.T @ (b - A_o @ y[~miss]))
    return out.reshape(n_t, n_d)


#: how each kind of field model is fitted (on a filled table) and solved
FIELD_KINDS = {
    "field": (fit_field, solve_field),
    "temporal": (fit_temporal, solve_field),
    "increments": (fit_increments, solve_increments),
}


def linear_fill_table(Z, observed):
    """Linear interpolation of every column of a (T, D) table along time."""
    return linear_fill(np.asarray(Z).T, np.asarray(observed).T).T


def em_field(Z, observed, *, order, alpha, kind="field", n_rounds=3, X0=None,
             target_rows="observed", tol=0.0, max_final_change=None):
    """Fit the field by EM rounds and return (imputed table, (B, c)).

    ``kind`` is ``"field"`` (time x series), ``"temporal"`` (each series from
    its own past and future), ``"increments"`` (a field on the first
    differences, :func:`fit_increments`) or ``"linear"`` (linear
    interpolation, no fit).
    At most ``n_rounds`` rounds; fewer when the fill of the missing entries
    changes by less than ``tol`` (relative, in norm) from one round to the
    next. The first fill is ``X0`` (None: linear interpolation along time).
    ``target_rows="observed"`` fits each series on the steps where it is
    observed; ``"all"`` on every step, its own fill included (one precision
    matrix for all series: cheaper, less accurate, see
    ``benchmarks/REAL_ABLATION.md``). Returns ``(None, None)`` when a round
    diverges: non-finite values, or values beyond 5 times the largest
    observed magnitude (standardised units), which no stable field produces;
    and, when ``max_final_change`` is given, when the last round still moved
    the fill by more than that (relative): EM rounds of a consistent field
    settle geometrically, those of an ill-conditioned one oscillate or grow.
    """
    if target_rows not in ("observed", "all"):
        raise ValueError(
            f"target_rows must be 'observed' or 'all', got {target_rows!r}."
        )
    if kind == "linear":
        return linear_fill_table(Z, observed), None
    X = linear_fill_table(Z, observed) if X0 is None else X0
    bound = 5.0 * max(1.0, float(np.abs(Z[observed]).max(initial=0.0)))
    fit, solve = FIELD_KINDS[kind]
    coefs = None
    missing = ~observed
    change, scale = 0.0, 1.0
    for _ in range(n_rounds):
        coefs = fit(X, order, alpha, observed if target_rows == "observed" else None)
        X_new = solve(Z, observed, *coefs)
        if not np.all(np.isfinite(X_new)) or np.abs(X_new).max() > bound:
            return None, None
        change = np.linalg.norm((X_new - X)[missing])
        scale = max(np.linalg.norm(X_new[missing]), 1e-12)
        X = X_new
        if change <= tol * scale:
            break
    if max_final_change is not None and change > max_final_change * scale:
        return None, None
    return X, coefs


def _drop_edge_runs(rolled, missing):
    """``rolled`` without its runs that touch the first or last step.

    A run of a column is kept at an edge only where that column's own gaps
    reach the same edge (an interior gap moved onto an edge would be scored
    as an extrapolation, a different problem).
    """
    out = rolled.copy()
    n_t = rolled.shape[0]
    for j in range(rolled.shape[1]):
        starts, lengths = _runs(rolled[:, j])
        for start, length in zip(starts, lengths):
            end = start + length
            if (start == 0 and not missing[0, j]) or \
                    (end == n_t and not missing[-1, j]):
                out[start:end, j] = False
    return out


def _rolled_gaps(missing, offset, wrap="drop"):
    """The missing pattern rolled by ``offset`` steps, and the share kept.

    ``wrap="drop"`` drops the runs that the roll puts on the first or last
    step (:func:`_drop_edge_runs`); the share is of the rolled entries kept.
    """
    rolled = np.roll(missing, offset, axis=0)
    if wrap != "drop":
        return rolled, 1.0
    total = max(1, int(rolled.sum()))
    rolled = _drop_edge_runs(rolled, missing)
    return rolled, rolled.sum() / total


def shifted_gaps_hide(observed, rng, min_fraction=0.02, default_length=10,
                      wrap="drop"):
    """Hide observed entries where the table's own gaps fall when shifted in time.

    The missing pattern of the table is rolled along time by a random offset
    (the same for every column, so gaps aligned across series stay aligned,
    runs keep their lengths and stay in their series) and intersected with the
    observed entries; runs that the roll wraps onto the first or last step are
    dropped (``wrap="drop"``; ``"keep"`` keeps them), so an interior gap is
    not scored as an extrapolation, and the offset is redrawn (up to 20 times)
    until at least 90 % of the rolled entries are kept. Where that hides fewer than ``min_fraction`` of the
    observed entries (a table with few or no gaps), runs of the pattern's
    lengths are added at random (:func:`gap_shaped_hide`).

    Returns
    -------
    hidden : ndarray of bool, shape (T, D)
        A subset of ``observed``.
    """
    n_t = observed.shape[0]
    missing = ~observed
    hidden = np.zeros_like(observed)
    if missing.any() and n_t > 1:
        lo, hi = max(1, n_t // 10), max(2, n_t - n_t // 10)
        best, kept_best = None, -1.0
        for _ in range(20 if wrap == "drop" else 1):
            rolled, kept = _rolled_gaps(missing, rng.randint(lo, hi), wrap)
            if kept > kept_best:
                best, kept_best = rolled, kept
            if kept >= 0.9:
                break
        hidden = best & observed
    need = min_fraction * observed.sum() - hidden.sum()
    if need > 0:
        extra = gap_shaped_hide(
            observed & ~hidden, need / max(1, (observed & ~hidden).sum()), rng,
            default_length,
        )
        hidden |= extra
    return hidden


def split_gap_runs(hidden, n_groups, rng):
    """Split a hidden pattern into ``n_groups`` parts by its runs.

    Each run of a column goes, at random, to one part; runs that start and
    end at the same steps in several columns (gaps aligned across series, a
    sensor outage) go together, so a part keeps the table's aligned blocks
    whole. Imputing one part at a time hides ``1 / n_groups`` of the shifted
    gaps on top of the real ones instead of all of them: the entries around a
    hidden one are then about as often missing as around a real gap (with
    the whole pattern hidden, twice as often).

    Returns
    -------
    parts : list of ndarray of bool, shape (T, D)
        At most ``n_groups`` non-empty, disjoint masks whose union is
        ``hidden`` (fewer when it has fewer groups of runs).
    """
    groups = {}
    for j in range(hidden.shape[1]):
        for start, length in zip(*_runs(hidden[:, j])):
            groups.setdefault((int(start), int(length)), []).append(j)
    keys = sorted(groups)
    parts = [np.zeros_like(hidden) for _ in range(max(1, int(n_groups)))]
    for i, k in enumerate(rng.permutation(len(keys))):
        start, length = keys[k]
        parts[i % len(parts)][start:start + length, groups[keys[k]]] = True
    return [p for p in parts if p.any()]


def _time_distance(support):
    """Steps from each time step to the nearest step where ``support`` is True."""
    n_t = support.shape[0]
    idx = np.flatnonzero(support)
    if idx.size == 0:
        return np.zeros(n_t)
    t = np.arange(n_t)
    pos = np.searchsorted(idx, t)
    left = idx[np.clip(pos - 1, 0, idx.size - 1)]
    right = idx[np.clip(pos, 0, idx.size - 1)]
    return np.minimum(np.abs(t - left), np.abs(t - right)).astype(float)


def near_gaps_hides(observed, rng, n_hides, n_offsets=40, resolution=None):
    """``n_hides`` shifted copies of the gaps, those nearest in time to them.

    ``n_offsets`` offsets are drawn as in :func:`shifted_gaps_hide`
    (``wrap="drop"``); each is scored by the mean distance in time of its
    hidden entries to the nearest step where some series has a gap, and the
    ``n_hides`` nearest distinct offsets (among those that keep at least 90 %
    of the rolled entries, where any does) are returned. Where the gaps are
    spread over the whole series (random blocks or points) every offset is
    about as near, so this is a random draw; where they sit in one stretch of
    time (a block aligned across series) the hidden entries are put beside it,
    where a non-stationary series behaves most like in the gap.

    ``resolution`` (steps; None: exact) compares the distances in units of
    that many steps and draws the order of the offsets within a unit at
    random. With exact distances, gaps spread over the whole series get the
    few offsets whose copies fall closest to the real gaps, where the most
    other entries are missing: harder positions than the real gaps' own
    (an imputation error measured there is too large). The calibration of
    the intervals uses a twentieth of the series.

    Returns
    -------
    hides : list of ndarray of bool, shape (T, D)
        Subsets of ``observed``.
    """
    n_t = observed.shape[0]
    missing = ~observed
    if not missing.any() or n_t < 2:
        return [shifted_gaps_hide(observed, rng) for _ in range(n_hides)]
    dist = _time_distance(missing.any(axis=1))
    lo, hi = max(1, n_t // 10), max(2, n_t - n_t // 10)
    offsets = np.unique(rng.randint(lo, hi, size=n_offsets))
    # ties (within a unit of resolution) in a random order
    tie = offsets if resolution is None else rng.permutation(len(offsets))
    scored = []
    for off, order in zip(offsets, tie):
        rolled, kept = _rolled_gaps(missing, off)
        hidden = rolled & observed
        n_rows = hidden.sum(axis=1)
        if n_rows.sum() == 0:
            continue
        near = float(n_rows @ dist / n_rows.sum())
        if resolution is not None:
            near = near // max(1, int(resolution))
        scored.append((kept < 0.9, near, int(order), hidden))
    scored.sort(key=lambda x: x[:3])
    hides = [h for *_, h in scored[:n_hides]]
    while len(hides) < n_hides:
        hides.append(shifted_gaps_hide(observed, rng))
    return hides


#: Candidate models of ``prior="auto"`` on series tables, tried in this order.
FIELD_CANDIDATES = (
    {"kind": "field", "order": 1, "alpha": 1e-3},
    {"kind": "field", "order": 3, "alpha": 1e-3},
    {"kind": "field", "order": 1, "alpha": 1e-1},
    {"kind": "field", "order": 3, "alpha": 1e-1},
    {"kind": "field", "order": 0, "alpha": 1e-6},
    {"kind": "field", "order": 0, "alpha": 1e-3},
    {"kind": "temporal", "order": 3, "alpha": 1e-3},
    {"kind": "increments", "order": 0, "alpha": 1e-1},
    {"kind": "increments", "order": 1, "alpha": 1e-1},
    {"kind": "increments", "order": 3, "alpha": 1e-2},
    {"kind": "linear", "order": 0, "alpha": 0.0},
)


#: field candidates with more window entries ((2 S + 1) D) than this are not
#: tried by :func:`select_field` (cost: one D x (2 S + 1) D solve a series)
MAX_WINDOW_FEATURES = 512
#: candidates whose sparse system holds more entries than this are not tried
#: by :func:`select_field` (:func:`system_cost`)
MAX_SYSTEM_ENTRIES = 6_000_000


def select_field(Z, observed, candidates, rng, *, n_draws=3, n_rounds=2,
                 tol=0.0, deadline=None, clock=None, min_gain=0.02, n_near=0):
    """Choose field models on held-out observed entries (no truth needed).

    Each candidate is fitted on the table with some observed entries hidden
    (``n_draws`` draws: ``n_near`` of them by :func:`near_gaps_hides`, the
    shifted gaps nearest in time to the real ones, the others by
    :func:`shifted_gaps_hide`) and scored by its mean
    squared error there; the two best are blended with the convex weight that
    minimises the same error, if that lowers it by at least ``min_gain``
    (relative) over the best alone.

    Parameters
    ----------
    Z, observed : ndarray of shape (T, D)
        Standardised table and its observed mask.
    candidates : sequence of dict
        Keyword arguments of :func:`em_field` (``kind``, ``order``, ``alpha``).
    rng : numpy RandomState
    n_draws, n_rounds : int
        Hiding draws, and EM rounds (at most) of each trial fit.
    tol : float
        EM tolerance of the trial fits (:func:`em_field`).
    deadline : float or None
        ``clock()`` value after which no further candidate is tried (at least
        one is). Field candidates whose window holds more than
        ``MAX_WINDOW_FEATURES`` entries, and candidates after the first whose
        sparse system would hold more than ``MAX_SYSTEM_ENTRIES`` entries
        (:func:`system_cost`), are skipped (error inf).
    clock : callable or None
        Time source for ``deadline`` (``time.perf_counter``).

    Returns
    -------
    chosen : list of (dict, float)
        One or two (candidate, weight) pairs; weights sum to 1.
    errors : list of float
        Validation mean squared error of each candidate tried (inf where the
        fit diverged), in the order of ``candidates``.
    ranked : list of int
        Indices of the candidates that did not diverge, best first (the
        fallbacks, should a chosen model diverge on the whole table).
    """
    hides = [shifted_gaps_hide(observed, rng) for _ in range(n_draws - n_near)]
    if n_near:
        hides += near_gaps_hides(observed, rng, n_near)
    preds, errors = {}, []
    n_d = Z.shape[1]
    for i, cand in enumerate(candidates):
        if deadline is not None and i > 0 and clock() > deadline:
            break
        if cand["kind"] == "field" and \
                (2 * cand["order"] + 1) * n_d > MAX_WINDOW_FEATURES:
            errors.append(np.inf)  # too costly for this many series
            continue
        if system_cost(observed, cand) > MAX_SYSTEM_ENTRIES and i > 0:
            errors.append(np.inf)
            continue
        P = []
        for hidden in hides:
            X, _ = em_field(Z, observed & ~hidden, n_rounds=n_rounds, tol=tol,
                            **cand)
            if X is None:
                break
            P.append(X)
        if len(P) < len(hides):
            errors.append(np.inf)
            continue
        preds[i] = P
        errors.append(float(np.mean(
            [np.mean((p - Z)[h] ** 2) for p, h in zip(P, hides)]
        )))
    ranked = sorted(preds, key=lambda i: errors[i])
    if not ranked:
        return [(dict(kind="linear", order=0, alpha=0.0), 1.0)], errors, ranked
    if len(ranked) == 1:
        return [(candidates[ranked[0]], 1.0)], errors, ranked
    a, b = ranked[:2]
    weights = np.linspace(0.0, 1.0, 11)
    blend = [
        np.mean([np.mean((w * pa + (1 - w) * pb - Z)[h] ** 2)
                 for pa, pb, h in zip(preds[a], preds[b], hides)])
        for w in weights
    ]
    w = float(weights[int(np.argmin(blend))])
    if w == 1.0 or min(blend) > (1.0 - min_gain) * errors[a]:
        return [(candidates[a], 1.0)], errors, ranked
    return [(candidates[a], w), (candidates[b], 1.0 - w)], errors, ranked
