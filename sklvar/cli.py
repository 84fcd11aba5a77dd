"""The ``sklvar`` command line (layer 8).

::

    sklvar demo                       # simulate a gappy Lorenz-63 series, fit, impute
    sklvar impute IN.csv -o OUT.csv   # fill the gaps of a file (CSV or Parquet)

:func:`main` returns the exit status: 0 on success, 2 on a usage or input error
(with a message on stderr), 130 when interrupted by Ctrl-C (no output file is
written: outputs are written to a temporary file, then renamed), so that it can be called in-process
(``main(["impute", "in.csv", "-o", "out.csv"])``) as well as from the shell.
Heavy imports (torch, pandas, matplotlib) happen inside the commands, so
``sklvar --help`` is quick.

The paper's benchmarks are not part of the installed command: they run from a
source checkout, ``python benchmarks/paper.py lorenz63 --quick --out DIR``
(issue 15).
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

__all__ = ["main"]

_PARQUET_SUFFIXES = (".parquet", ".pq")
# --threads of every command: the estimators' n_threads default, measured in
# benchmarks/SPEED.md ("Thread count of the estimators")
_DEFAULT_THREADS = 1
_THREADS_HELP = (
    "torch threads while fitting and imputing (default: 1; 0 keeps torch's "
    "default, one per core). More threads than free cores slow torch down "
    "several times on a shared machine (benchmarks/SPEED.md)"
)


class CLIError(Exception):
    """An error of the user's input: reported on stderr with exit status 2."""


# ----------------------------------------------------------------------- helpers
def _default_prior():
    """The demo's prior: the paper's two-scale CNN when available, else PCA."""
    from .priors import PRIORS

    return "cnn" if "cnn" in PRIORS else "pca"


def _prior_choices():
    from .priors import PRIORS

    return sorted(PRIORS)


def _solver_choices():
    from .solvers import SOLVERS

    return sorted(SOLVERS)


def _check_choice(value, choices, option):
    if value not in choices:
        raise CLIError(
            f"{option} {value!r} is not available; choose one of {', '.join(choices)}."
        )
    return value


def _n_threads(threads):
    """The estimators' ``n_threads`` for ``--threads``: None for 0.

    On a busy machine, more threads than free cores make oneDNN's convolutions
    spin (issue 19; ``benchmarks/IMPLEMENTATION_TIMINGS.md``).
    """
    if threads < 0:
        raise CLIError(
            f"--threads must be 0 (torch's default) or a positive count, got "
            f"{threads}."
        )
    return threads or None


def _nmse_missing(X_pred, X_true, observed):
    """MSE on the missing entries, each variable divided by its variance."""
    var = X_true.var(axis=0)
    return float(np.mean(((X_pred - X_true) ** 2 / var)[~observed]))


# -------------------------------------------------------------------------- demo
def _run_demo(args):
    from .datasets import make_lorenz63, make_missing
    from .impute import VariationalImputer
    from .utils import linear_fill

    n_threads = _n_threads(args.threads)
    prior = _check_choice(args.prior or _default_prior(), _prior_choices(), "--prior")
    solver = _check_choice(args.solver, _solver_choices(), "--solver")
    n_steps = args.n_steps
    if args.window < 2:
        raise CLIError(f"--window must be >= 2, got {args.window}.")
    if n_steps < 4 * args.window:
        raise CLIError(
            f"--n-steps {n_steps} is too short for --window {args.window}; use at "
            f"least {4 * args.window} steps."
        )
    half = n_steps // 2
    data = make_lorenz63(
        n_train=1, n_test=1, n_steps=n_steps, window=min(200, half),
        train_range=(0, half), test_range=(half, n_steps),
        random_state=args.random_state,
    )
    X_true = data.trajectory  # (T, 3): rows are time steps
    X, observed = make_missing(
        X_true, pattern="blocks", missing_rate=0.3, block_length=25,
        random_state=args.random_state,
    )
    print(
        f"Lorenz-63 series: {X.shape[0]} steps x {X.shape[1]} variables, "
        f"{np.mean(~observed):.0%} missing in gaps of 25 steps"
    )
    imp = VariationalImputer(
        prior=prior, solver=solver, window=args.window, stride=args.window // 4,
        max_epochs=args.max_epochs, batch_size=64, lr=3e-3, device=args.device,
        n_threads=n_threads, random_state=args.random_state, verbose=args.verbose,
    )
    print(
        f"fitting VariationalImputer(prior={prior!r}, solver={solver!r}, "
        f"window={args.window}, n_threads={n_threads}) for {args.max_epochs} "
        "epochs, self-supervised "
        "(no ground truth)..."
    )
    sys.stdout.flush()
    t0 = time.perf_counter()
    X_hat = imp.fit_transform(X)
    elapsed = time.perf_counter() - t0
    X_lin = linear_fill(np.where(observed, X, 0.0).T, observed.T).T
    # the series-table default (what `sklvar impute` runs), for comparison
    X_field = VariationalImputer(
        layout="series", n_threads=imp.n_threads, random_state=args.random_state,
    ).fit_transform(X)
    err_var = _nmse_missing(X_hat, X_true, observed)
    err_field = _nmse_missing(X_field, X_true, observed)
    err_lin = _nmse_missing(X_lin, X_true, observed)
    print(f"fit + impute: {elapsed:.1f} s ({imp.n_iter_} epochs)")
    print("normalised MSE on the missing entries (lower is better):")
    print(f"  VariationalImputer     {err_var:.4f}   ({prior} + {solver}, windows)")
    print(f"  field prior            {err_field:.4f}   (layout='series', what "
          "`sklvar impute` runs)")
    print(f"  linear interpolation   {err_lin:.4f}")
    if args.no_plot:
        return 0
    try:
        from .plotting import plot_series

        fig = plot_series(
            X[: args.plot_steps], X_hat[: args.plot_steps], X_true[: args.plot_steps],
            columns=["x1", "x2", "x3"],
            others={"linear interpolation": X_lin[: args.plot_steps]},
        )
    except ImportError:
        print(
            "matplotlib is not installed: no figure written "
            '(pip install "sklvar[plot]" to get one).'
        )
        return 0
    fig.suptitle(
        f"Lorenz-63 gap filling: VariationalImputer (NMSE {err_var:.3f}) vs "
        f"linear interpolation ({err_lin:.3f})"
    )
    import matplotlib.pyplot as plt

    try:
        fig.savefig(args.output, dpi=110)
    except OSError as exc:
        raise CLIError(f"cannot write the figure {args.output!r}: {exc}") from exc
    finally:
        plt.close(fig)
    print(f"figure: {args.output}")
    return 0


# ------------------------------------------------------------------------ impute
def _is_parquet(path):
    return pathlib.Path(path).suffix.lower() in _PARQUET_SUFFIXES


def _import_pandas():
    try:
        import pandas as pd
    except ImportError as exc:
        raise CLIError(
            "sklvar impute needs pandas to read tables (a dependency of "
            "sklvar): pip install pandas."
        ) from exc
    return pd


def _detect_time_column(df, pd):
    """The first column's name when it holds ISO 8601 time stamps, else None."""
    first = df.columns[0]
    column = df[first]
    if pd.api.types.is_numeric_dtype(column) or column.dropna().empty:
        return None
    if not column.dropna().astype(str).str.match(
            r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?"
            r"(Z|[+-]\d{2}:?\d{2})?$").all():
        return None
    return first


def _read_table(path, time_column):
    """The table of ``path`` and the name of its time column (or None).

    Without ``time_column``, a first column of ISO 8601 time stamps
    (``2024-01-01``, ``2024-01-01T12:00:00Z``...) is taken as the time column.
    """
    pd = _import_pandas()
    path = pathlib.Path(path)
    if path.is_dir():
        raise CLIError(
            f"cannot read {str(path)!r}: it is a directory; expected a CSV or "
            "Parquet file."
        )
    if not path.is_file():
        raise CLIError(f"cannot read {str(path)!r}: no such file.")
    try:
        if _is_parquet(path):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path)
    except ImportError as exc:
        raise CLIError(
            f"cannot read {str(path)!r}: Parquet files need pyarrow "
            f'(pip install "sklvar[io]"): {exc}'
        ) from exc
    except Exception as exc:  # pandas raises many types for unreadable files
        raise CLIError(f"cannot read {str(path)!r}: {exc}") from exc
    if df.shape[1] == 0 or df.shape[0] == 0:
        raise CLIError(f"{str(path)!r} holds no data (shape {df.shape}).")
    if time_column is None:
        time_column = _detect_time_column(df, pd)
        if time_column is not None:
            print(f"{path}: the first column {time_column!r} holds ISO time "
                  "stamps: used as the time column (not imputed)",
                  file=sys.stderr)
    if time_column is not None:
        if time_column not in df.columns:
            raise CLIError(
                f"--time-column {time_column!r} is not a column of {str(path)!r}; "
                f"its columns are {', '.join(map(str, df.columns))}."
            )
        index = df[time_column]
        if not pd.api.types.is_numeric_dtype(index):
            try:
                index = pd.to_datetime(index)
            except (ValueError, TypeError):
                pass  # keep the labels as they are
        df = df.drop(columns=time_column).set_axis(pd.Index(index, name=time_column))
    bad = [str(c) for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        hint = "" if time_column else " (use --time-column for a time stamp column)"
        raise CLIError(
            f"{str(path)!r}: non-numeric column(s) {', '.join(map(repr, bad))}; "
            f"every column but the time column must hold numbers{hint}."
        )
    return df, time_column


def _write_table(df, path, keep_index):
    """Write ``df`` atomically: to a temporary file beside ``path``, then rename.

    An interrupted or failed write leaves no partial file (and an existing
    ``path`` untouched).
    """
    path = pathlib.Path(path)
    if path.is_dir():
        raise CLIError(
            f"cannot write {str(path)!r}: it is a directory; expected a file name."
        )
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                   dir=path.parent if str(path.parent) else ".")
        os.close(fd)
        if _is_parquet(path):
            df.to_parquet(tmp, index=keep_index)
        else:
            df.to_csv(tmp, index=keep_index)
        os.replace(tmp, path)
        tmp = None
    except ImportError as exc:
        raise CLIError(
            f"cannot write {str(path)!r}: Parquet files need pyarrow "
            f'(pip install "sklvar[io]"): {exc}'
        ) from exc
    except OSError as exc:
        raise CLIError(f"cannot write {str(path)!r}: {exc}") from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def _same_file(a, b):
    a, b = pathlib.Path(a), pathlib.Path(b)
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _run_impute(args):
    n_threads = _n_threads(args.threads)
    if _same_file(args.input, args.output) and not args.force:
        raise CLIError(
            f"--output {args.output!r} is the input file: overwriting it would "
            "lose which values were gaps; write to another file, or pass --force "
            "to overwrite the input."
        )
    if args.chunk_rows is not None:
        if args.interval is not None:
            raise CLIError(
                "--interval is not available with --chunk-rows (files read in "
                "blocks); drop one of them."
            )
        return _run_impute_chunked(args, n_threads)
    if args.fit_rows is not None:
        raise CLIError("--fit-rows goes with --chunk-rows (files read in blocks).")
    df, time_column = _read_table(args.input, args.time_column)
    X = df.to_numpy(dtype=np.float64)
    observed = ~np.isnan(X)
    n_missing = int((~observed).sum())
    if not observed.any():
        raise CLIError(
            f"{args.input!r} has no observed value: there is nothing to learn from."
        )
    if n_missing == 0:
        raise CLIError(f"{args.input!r} has no missing value: nothing to impute.")
    if args.window is not None and args.window == 1:
        raise CLIError("--window must be 0 (rows are independent samples) or >= 2.")
    if args.window is not None and args.window < 0:
        raise CLIError(f"--window must be >= 0, got {args.window}.")
    if args.max_time is not None and not args.max_time > 0:
        raise CLIError(f"--max-time must be > 0 seconds, got {args.max_time}.")
    if args.interval is not None and not 0.0 < args.interval < 1.0:
        raise CLIError(
            f"--interval must be a coverage level in (0, 1), e.g. 0.9, got "
            f"{args.interval}."
        )
    if args.window is None:  # the default: the whole file is one series table
        window, layout = None, "series"
        prior = args.prior or "auto"
        solver = args.solver or "auto"
        _check_choice(prior, ["auto", "field"] + _prior_choices(), "--prior")
        if prior not in ("auto", "field"):
            raise CLIError(
                f"--prior {prior} needs windows: add --window N (e.g. --window 64); "
                "without --window the file is imputed as one series table with "
                "the field prior (--prior auto or field)."
            )
        _check_choice(solver, ["auto"] + _solver_choices(), "--solver")
        if solver not in ("auto", "fixed_point"):
            raise CLIError(
                f"--solver {solver} needs windows: add --window N; series tables "
                "use the exact fixed point (--solver auto or fixed_point)."
            )
        desc = "series table"
    else:
        window = None if args.window == 0 else args.window
        layout = "auto"
        prior = args.prior or ("cnn" if window is not None else "ae")
        solver = args.solver or "lstm"
        _check_choice(prior, _prior_choices(), "--prior")
        _check_choice(solver, _solver_choices(), "--solver")
        desc = f"window={window}" if window is not None else "rows as samples"

    from .impute import VariationalImputer

    imp = VariationalImputer(
        prior=prior, solver=solver, window=window, layout=layout,
        stride=None if window is None else max(1, window // 4),
        max_epochs=args.max_epochs, n_solver_iter=args.n_solver_iter,
        device=args.device, n_threads=n_threads, random_state=args.random_state,
        max_time=args.max_time, verbose=args.verbose,
    )
    training = ("model chosen on held-out observed values" if window is None
                and layout == "series" else f"{args.max_epochs} epochs")
    print(
        f"{args.input}: {X.shape[0]} rows x {X.shape[1]} columns, {n_missing} "
        f"missing ({n_missing / X.size:.1%}); fitting VariationalImputer("
        f"prior={prior!r}, solver={solver!r}, {desc}, n_threads={n_threads}), "
        f"{training}",
        file=sys.stderr,
    )
    t0 = time.perf_counter()
    try:
        X_hat = imp.fit_transform(X)
    except (ValueError, FloatingPointError) as exc:
        raise CLIError(f"imputation failed: {exc}") from exc
    pd = _import_pandas()
    out = pd.DataFrame(X_hat, index=df.index, columns=df.columns)
    for column in df.columns[observed.all(axis=0)]:
        out[column] = df[column]  # untouched columns keep their dtype
    if args.interval is not None:
        out = _with_interval_columns(out, imp, X, args.interval, pd)
    _write_table(out, args.output, keep_index=time_column is not None)
    print(
        f"imputed {n_missing} values in {time.perf_counter() - t0:.1f} s; "
        f"wrote {args.output}",
        file=sys.stderr,
    )
    return 0


def _with_interval_columns(out, imp, X, level, pd):
    """``out`` with ``<column>_lower`` / ``<column>_upper`` columns appended.

    The bounds of the calibrated central interval of level ``level``
    (:meth:`~sklvar.VariationalImputer.predict_interval`); both equal the
    value on observed entries.
    """
    lower, upper = imp.predict_interval(X, level)
    names = [f"{c}_{side}" for c in out.columns for side in ("lower", "upper")]
    clash = sorted(set(map(str, out.columns)) & set(names))
    if clash:
        raise CLIError(
            f"--interval would add columns that already exist: {clash}; rename "
            "them in the input."
        )
    bounds = {}
    for j, c in enumerate(out.columns):
        bounds[f"{c}_lower"] = lower[:, j]
        bounds[f"{c}_upper"] = upper[:, j]
    return pd.concat([out, pd.DataFrame(bounds, index=out.index)], axis=1)


# ------------------------------------------------------- impute, in row blocks
def _check_chunked_args(args):
    for name in (args.input, args.output):
        if not _is_parquet(name):
            raise CLIError(
                f"--chunk-rows reads and writes Parquet files (.parquet or .pq); "
                f"got {name!r}. Convert the file to Parquet, or drop --chunk-rows "
                "to read it whole."
            )
    if args.chunk_rows < 2:
        raise CLIError(f"--chunk-rows must be >= 2, got {args.chunk_rows}.")
    if args.window is None or args.window < 2:
        raise CLIError(
            "--chunk-rows needs --window N (N >= 2, at most --chunk-rows): the "
            "file is imputed in blocks of rows with a neural prior on windows; "
            "the default series-table model (field prior) solves the whole "
            "file at once and cannot be split into blocks."
        )
    if args.window > args.chunk_rows:
        raise CLIError(
            f"--window {args.window} is longer than --chunk-rows "
            f"{args.chunk_rows}; expected --chunk-rows >= --window."
        )
    if args.fit_rows is not None and args.fit_rows < 2:
        raise CLIError(f"--fit-rows must be >= 2, got {args.fit_rows}.")
    if args.max_time is not None and not args.max_time > 0:
        raise CLIError(f"--max-time must be > 0 seconds, got {args.max_time}.")


def _parquet_source(path, time_column):
    """The open file, its value columns, its time column and its null counts."""
    pd = _import_pandas()
    path = pathlib.Path(path)
    if not path.is_file():
        raise CLIError(f"cannot read {str(path)!r}: no such file.")
    try:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
    except ImportError as exc:
        raise CLIError(
            f"cannot read {str(path)!r}: Parquet files need pyarrow "
            f'(pip install "sklvar[io]"): {exc}'
        ) from exc
    except Exception as exc:  # pyarrow raises several types for bad files
        raise CLIError(f"cannot read {str(path)!r}: {exc}") from exc
    names = [n for n in pf.schema_arrow.names
             if not n.startswith("__index_level_")]
    if pf.metadata.num_rows == 0 or not names:
        raise CLIError(f"{str(path)!r} holds no data.")
    head = pf.read_row_group(0, columns=names).to_pandas()
    if time_column is None:
        time_column = _detect_time_column(head, pd)
        if time_column is not None:
            print(f"{path}: the first column {time_column!r} holds ISO time "
                  "stamps: used as the time column (not imputed)",
                  file=sys.stderr)
    elif time_column not in names:
        raise CLIError(
            f"--time-column {time_column!r} is not a column of {str(path)!r}; "
            f"its columns are {', '.join(names)}."
        )
    values = [n for n in names if n != time_column]
    bad = [n for n in values if not pd.api.types.is_numeric_dtype(head[n])]
    if bad:
        hint = "" if time_column else " (use --time-column for a time stamp column)"
        raise CLIError(
            f"{str(path)!r}: non-numeric column(s) {', '.join(map(repr, bad))}; "
            f"every column but the time column must hold numbers{hint}."
        )
    # missing values per column from the row groups' statistics (None when a
    # row group has none); NaN values are not counted there, only nulls
    nulls = {}
    meta = pf.metadata
    for j, name in enumerate(pf.schema_arrow.names):
        if name not in values:
            continue
        counts = []
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(j).statistics
            counts.append(stats.null_count if stats is not None
                          and stats.has_null_count else None)
        nulls[name] = None if None in counts else int(sum(counts))
    return pf, values, time_column, nulls


def _read_rows(pf, start, stop, columns):
    """Rows [start, stop) of ``columns`` of a Parquet file, as a DataFrame."""
    meta = pf.metadata
    groups, first, offset = [], None, 0
    for g in range(meta.num_row_groups):
        n = meta.row_group(g).num_rows
        if offset + n > start and offset < stop:
            groups.append(g)
            first = offset if first is None else first
        offset += n
    table = pf.read_row_groups(groups, columns=columns)
    return table.slice(start - first, stop - start).to_pandas()


def _run_impute_chunked(args, n_threads):
    """``sklvar impute IN.parquet -o OUT.parquet --chunk-rows N --window W``."""
    _check_chunked_args(args)
    try:
        from .impute._dask import import_dask

        da = import_dask()
        import dask
    except ImportError as exc:
        raise CLIError(str(exc)) from exc
    pd = _import_pandas()
    pf, values, time_column, nulls = _parquet_source(args.input, args.time_column)
    n_rows = pf.metadata.num_rows
    if len(values) == 0:
        raise CLIError(f"{args.input!r} has no column to impute.")
    if all(v == 0 for v in nulls.values()):
        raise CLIError(f"{args.input!r} has no missing value: nothing to impute.")
    prior = args.prior or "cnn"
    solver = args.solver or "lstm"
    _check_choice(prior, _prior_choices(), "--prior")
    _check_choice(solver, _solver_choices(), "--solver")

    def read_block(start, stop):
        block = _read_rows(pf, start, stop, values)
        return block.to_numpy(dtype=np.float64, na_value=np.nan)

    starts = range(0, n_rows, args.chunk_rows)
    blocks = [
        da.from_delayed(dask.delayed(read_block)(a, min(a + args.chunk_rows, n_rows)),
                        shape=(min(a + args.chunk_rows, n_rows) - a, len(values)),
                        dtype=np.float64)
        for a in starts
    ]
    X = da.concatenate(blocks)
    fit_rows = min(n_rows, args.fit_rows or args.chunk_rows)

    from .impute import VariationalImputer

    imp = VariationalImputer(
        prior=prior, solver=solver, window=args.window,
        stride=max(1, args.window // 4), max_epochs=args.max_epochs,
        n_solver_iter=args.n_solver_iter, device=args.device, n_threads=n_threads,
        random_state=args.random_state, max_time=args.max_time,
        verbose=args.verbose,
    )
    print(
        f"{args.input}: {n_rows} rows x {len(values)} columns, read in blocks of "
        f"{args.chunk_rows} rows; fitting VariationalImputer(prior={prior!r}, "
        f"solver={solver!r}, window={args.window}, n_threads={n_threads}) on "
        f"{fit_rows} rows, {args.max_epochs} epochs",
        file=sys.stderr,
    )
    t0 = time.perf_counter()
    # the blocks read the open file of this process: computed here, one at a
    # time, whatever dask client the caller has set up
    with dask.config.set(scheduler="synchronous"):
        return _fit_impute_write(args, imp, X, pf, values, time_column, nulls,
                                 fit_rows, pd, t0)


def _fit_impute_write(args, imp, X, pf, values, time_column, nulls, fit_rows,
                      pd, t0):
    from .dask import sample_series

    try:
        sample = sample_series(X, fit_rows, random_state=args.random_state)
        if np.isnan(sample).all():
            raise CLIError(
                f"the {fit_rows} rows sampled to fit on hold no observed value; "
                "raise --fit-rows."
            )
        imp.fit(sample)
        out = imp.transform(X)
    except (ValueError, FloatingPointError) as exc:
        raise CLIError(f"imputation failed: {exc}") from exc
    complete = [v for v in values if nulls[v] == 0]
    keep = complete + ([time_column] if time_column is not None else [])
    n_missing = _write_blocks(args, pf, out, values, keep, time_column, pd)
    print(
        f"imputed {n_missing} values in {time.perf_counter() - t0:.1f} s, "
        f"{len(out.chunks[0])} block(s); wrote {args.output}",
        file=sys.stderr,
    )
    return 0


def _write_blocks(args, pf, out, values, keep, time_column, pd):
    """Compute ``out`` block by block and append each to a Parquet file.

    Written to a temporary file beside ``args.output``, renamed at the end
    (as :func:`_write_table`). Returns the number of values imputed.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = pathlib.Path(args.output)
    if path.is_dir():
        raise CLIError(
            f"cannot write {str(path)!r}: it is a directory; expected a file name."
        )
    tmp, writer, n_missing, start = None, None, 0, 0
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                   dir=path.parent if str(path.parent) else ".")
        os.close(fd)
        for block in out.blocks:
            try:
                X_hat = block.compute(scheduler="synchronous")
            except (ValueError, FloatingPointError) as exc:
                raise CLIError(f"imputation failed: {exc}") from exc
            stop = start + len(X_hat)
            source = _read_rows(pf, start, stop, values + (
                [time_column] if time_column is not None else []))
            n_missing += int(source[values].isna().to_numpy().sum())
            df = pd.DataFrame(X_hat, columns=values)
            for column in keep:
                if column != time_column:
                    df[column] = source[column].to_numpy()
            if time_column is not None:
                index = source[time_column]
                if not pd.api.types.is_numeric_dtype(index):
                    try:
                        index = pd.to_datetime(index)
                    except (ValueError, TypeError):
                        pass
                df.index = pd.Index(index, name=time_column)
            table = pa.Table.from_pandas(df, preserve_index=time_column is not None)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
            start = stop
        writer.close()
        writer = None
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise CLIError(f"cannot write {str(path)!r}: {exc}") from exc
    finally:
        if writer is not None:
            writer.close()
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    return n_missing


# -------------------------------------------------------------------------- main
def _build_parser():
    parser = argparse.ArgumentParser(
        prog="sklvar",
        description="Fill gaps in multivariate time series with learned variational "
        "solvers (Fablet, Drumetz & Rousseau 2020).",
        epilog="The paper's benchmarks run from a source checkout: python "
        "benchmarks/paper.py NAME --out DIR.",
    )
    from sklvar import __version__

    parser.add_argument("--version", action="version", version=f"sklvar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="impute a gappy simulated Lorenz-63 series and compare with linear "
        "interpolation",
        description="Simulate a Lorenz-63 series, remove 30%% of it in gaps of 25 "
        "steps, fit a VariationalImputer on the gappy series alone (self-supervised), "
        "impute it, print the error on the missing entries next to linear "
        "interpolation, and plot the result (needs matplotlib).",
    )
    demo.add_argument("--n-steps", type=int, default=4000,
                      help="length of the simulated series (default: 4000)")
    demo.add_argument("--window", type=int, default=100,
                      help="window length, in time steps (default: 100)")
    demo.add_argument("--max-epochs", type=int, default=30,
                      help="training epochs (default: 30)")
    demo.add_argument("--prior", default=None,
                      help='prior Phi (default: "cnn", or "pca" when the CNN prior '
                      "is not available)")
    demo.add_argument("--solver", default="lstm", help='solver (default: "lstm")')
    demo.add_argument("--device", default="cpu", help='torch device (default: "cpu")')
    demo.add_argument("--threads", type=int, default=_DEFAULT_THREADS, metavar="N",
                      help=_THREADS_HELP)
    demo.add_argument("--random-state", type=int, default=0,
                      help="seed of the data and of the model (default: 0)")
    demo.add_argument("-o", "--output", default="sklvar-demo.png",
                      help="figure to write (default: sklvar-demo.png)")
    demo.add_argument("--plot-steps", type=int, default=800,
                      help="number of time steps shown in the figure (default: 800)")
    demo.add_argument("--no-plot", action="store_true", help="write no figure")
    demo.add_argument("-v", "--verbose", action="count", default=0,
                      help="show the training progress and per-epoch log")
    demo.set_defaults(run=_run_demo)

    imp = sub.add_parser(
        "impute",
        help="fill the missing values of a CSV or Parquet file",
        description="Fit a VariationalImputer on the file itself (self-supervised: "
        "part of the observed values are hidden and learned back; no ground "
        "truth) and write the file with its missing values filled. By default "
        "the file is one multivariate series table (VariationalImputer("
        "layout='series')). Rows are time steps and columns "
        "variables; every column but --time-column must be numeric; empty cells "
        "(NaN) are the gaps. Files ending in .parquet or .pq are read and written "
        "as Parquet (needs pyarrow).",
    )
    imp.add_argument("input", help="CSV or Parquet file with gaps")
    imp.add_argument("-o", "--output", required=True, metavar="OUT",
                     help="file to write (CSV or Parquet)")
    imp.add_argument("--time-column", default=None, metavar="NAME",
                     help="column holding the time stamps: used as the index (parsed "
                     "as dates when possible), kept in the output, not imputed "
                     "(default: the first column when it holds ISO 8601 time "
                     "stamps, else none)")
    imp.add_argument("--force", action="store_true",
                     help="allow --output to be the input file (overwritten)")
    imp.add_argument("--window", type=int, default=None, metavar="ROWS",
                     help="cut the series into windows of this many rows and use a "
                     "neural prior (default: no window, the whole file is one "
                     "series table imputed with the field prior); 0 treats rows as "
                     "independent samples (tabular data)")
    imp.add_argument("--prior", default=None,
                     help='prior Phi (default: "auto", the field prior chosen on '
                     'held-out values; with --window: "cnn", with --window 0: "ae")')
    imp.add_argument("--solver", default=None,
                     help='solver (default: exact fixed point for series tables, '
                     '"lstm" with --window)')
    imp.add_argument("--max-time", type=float, default=None, metavar="SECONDS",
                     help="time budget of the fit in seconds (default: none)")
    imp.add_argument("--n-solver-iter", type=int, default=10, metavar="N",
                     help="solver iterations of the neural priors, with --window "
                     "(default: 10)")
    imp.add_argument("--max-epochs", type=int, default=30, metavar="N",
                     help="training epochs of the neural priors, with --window "
                     "(default: 30)")
    imp.add_argument("--interval", type=float, default=None, metavar="LEVEL",
                     help="also write the bounds of the calibrated central "
                     "interval of this coverage level (e.g. 0.9) of every value, "
                     "as columns <column>_lower and <column>_upper (equal to the "
                     "value where it was observed; default: none)")
    imp.add_argument("--device", default="cpu", help='torch device, e.g. "cuda" '
                     '(default: "cpu")')
    imp.add_argument("--random-state", type=int, default=0, metavar="SEED",
                     help="seed (default: 0)")
    imp.add_argument("--threads", type=int, default=_DEFAULT_THREADS, metavar="N",
                     help=_THREADS_HELP)
    imp.add_argument("--chunk-rows", type=int, default=None, metavar="N",
                     help="read, impute and write the file in blocks of N rows, "
                     "for files larger than memory (Parquet in, Parquet out; "
                     "needs --window and the dask extra: pip install "
                     "\"sklvar[dask]\"); the model is fitted on --fit-rows rows "
                     "of the file")
    imp.add_argument("--fit-rows", type=int, default=None, metavar="N",
                     help="with --chunk-rows: fit on N contiguous rows of the "
                     "file at a seeded random position (default: --chunk-rows)")
    imp.add_argument("-v", "--verbose", action="count", default=0,
                     help="show the training progress and per-epoch log")
    imp.set_defaults(run=_run_impute)

    return parser


def main(argv=None):
    """Run the ``sklvar`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments, without the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success, 2 on a usage or input error (the message goes to
        stderr), 130 when interrupted (Ctrl-C, SIGINT; no output is written).
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help, --version and errors
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    # --threads is applied by the estimators (n_threads) for the duration of their calls only: an in-process call leaves the
    # caller's torch thread count as it was
    try:
        return args.run(args)
    except CLIError as exc:
        print(f"sklvar {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sklvar {args.command}: interrupted; no output written.",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
