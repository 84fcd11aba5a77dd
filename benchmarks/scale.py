"""Imputing a series larger than memory on dask workers (issue 17).

A series of ``--rows`` x 3 (default 10^8) is generated lazily as a dask array
(each block of ``--chunk-rows`` rows by a seeded AR(2) process with gaps,
computed on the worker that needs it: the series is never materialised), a
``VariationalImputer`` (the 2S-CNN + LSTM of ``benchmarks/speed.py``:
``window=200``, ``n_solver_iter=10``) is fitted on a sample of it
(:func:`sklvar.dask.sample_series`), and the whole series is imputed block by
block on a ``dask.distributed.LocalCluster`` and written to a zarr store in a
temporary folder (deleted afterwards). It prints, and writes to ``--json``,
the wall time, the throughput in rows per second and the peak RSS of every
process (scheduler, workers, nannies, this client). ``--check-rows N``
also compares the first N rows of the store with the in-memory transform of
a prefix of the series (they must be equal).

Usage::

    python benchmarks/scale.py --workers 2                    # 10^8 rows
    python benchmarks/scale.py --workers 1 --rows 10000000    # a prefix
    python benchmarks/scale.py --memory-1e6                   # 10^6 rows in memory
    python benchmarks/scale.py --memory-1e6 --inference-dtype bfloat16 --inference-compile

Needs ``pip install -e ".[dask]"``.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time

import numpy as np

N_FEATURES = 3


def make_block(n_rows, seed, block, gap_fraction=0.2, gap_length=50):
    """One block of the lazy series: 3 AR(2) oscillators with gaps, float32.

    Seeded by ``(seed, block)``: the same block always holds the same values.
    """
    from scipy.signal import lfilter

    rng = np.random.default_rng([seed, block])
    out = np.empty((n_rows, N_FEATURES), dtype=np.float32)
    for j, (period, damping) in enumerate(((60.0, 0.995), (97.0, 0.99),
                                           (150.0, 0.998))):
        a1 = 2 * damping * np.cos(2 * np.pi / period)
        noise = rng.standard_normal(n_rows)
        out[:, j] = lfilter([1.0], [1.0, -a1, damping**2], noise)
    out[:, 2] += 0.5 * out[:, 0]  # some coupling between the series
    n_gaps = int(gap_fraction * n_rows * N_FEATURES / gap_length)
    rows = rng.integers(0, n_rows - gap_length, n_gaps)
    cols = rng.integers(0, N_FEATURES, n_gaps)
    for r, c in zip(rows, cols):
        out[r:r + gap_length, c] = np.nan
    return out


def lazy_series(n_rows, chunk_rows, seed):
    """The ``(n_rows, 3)`` series as a dask array of seeded blocks."""
    import dask.array as da

    chunks = [chunk_rows] * (n_rows // chunk_rows)
    if n_rows % chunk_rows:
        chunks.append(n_rows % chunk_rows)

    def block(block_id=None, block_info=None):
        shape = block_info[None]["chunk-shape"]
        return make_block(shape[0], seed, block_id[0])

    return da.map_blocks(block, chunks=(tuple(chunks), (N_FEATURES,)),
                         dtype=np.float32, meta=np.empty((0, 0), np.float32))


def _peak_rss_mb():
    """This process's peak resident memory (VmHWM), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _log_progress(store, args, start, done, every=30.0):
    """Append (elapsed s, rows written) to ``args.progress`` every ``every`` s.

    Rows written are counted from the chunk files of the zarr store (one per
    block of ``chunk_rows`` rows, the last one possibly shorter).
    """
    while not done.wait(every):
        n = sum(len(fs) for d, _, fs in os.walk(store)
                if not any(f.startswith(("zarr.json", ".z")) for f in fs))
        with open(args.progress, "a") as f:
            f.write(f"{time.perf_counter() - start:.0f} s: {n} of "
                    f"{-(-args.rows // args.chunk_rows)} blocks written, load "
                    f"{os.getloadavg()[0]:.2f}\n")


def make_imputer(seed, max_epochs):
    from sklvar import VariationalImputer

    return VariationalImputer(prior="cnn", solver="lstm", window=200,
                              n_solver_iter=10, max_epochs=max_epochs,
                              random_state=seed, n_threads=1)


def run_scale(args):
    from dask.distributed import Client, LocalCluster

    from sklvar.dask import sample_series

    X = lazy_series(args.rows, args.chunk_rows, args.seed)
    t0 = time.perf_counter()
    imp = make_imputer(args.seed, args.max_epochs)
    imp.fit(sample_series(X, args.fit_rows, n_segments=4, random_state=args.seed))
    fit_s = time.perf_counter() - t0
    tmp = tempfile.mkdtemp(prefix="sklvar-scale-", dir="/tmp")
    try:
        with LocalCluster(n_workers=args.workers, threads_per_worker=1,
                          processes=True, memory_limit=args.memory_limit,
                          dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            client.run(lambda: __import__("sklvar.impute._variational"))
            start = time.perf_counter()
            store = os.path.join(tmp, "imputed.zarr")
            done = threading.Event()
            if args.progress:
                threading.Thread(target=_log_progress, daemon=True,
                                 args=(store, args, start, done)).start()
            imp.transform(X).to_zarr(store)
            wall = time.perf_counter() - start
            done.set()
            workers = client.run(_peak_rss_mb)
            nannies = client.run(_peak_rss_mb, nanny=True)
            scheduler = client.run_on_scheduler(_peak_rss_mb)
        check = None
        if args.check_rows:
            import zarr

            store = zarr.open_array(os.path.join(tmp, "imputed.zarr"), mode="r")
            n = args.check_rows
            prefix = X[: n + 2 * imp.window].compute()
            ref = imp.transform(prefix)[:n]
            check = float(np.nanmax(np.abs(store[:n] - ref)))
        disk_mb = sum(os.path.getsize(os.path.join(d, f))
                      for d, _, fs in os.walk(tmp) for f in fs) / 2**20
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "rows": args.rows, "chunk_rows": args.chunk_rows, "workers": args.workers,
        "fit_rows": args.fit_rows, "max_epochs": args.max_epochs,
        "fit_s": fit_s, "wall_s": wall, "rows_per_s": args.rows / wall,
        "peak_rss_mb": {"workers": sorted(workers.values()),
                        "nannies": sorted(nannies.values()),
                        "scheduler": scheduler, "client": _peak_rss_mb()},
        "note_rss": "LocalCluster runs the scheduler and the nannies in the "
                    "client's process: those three are one process",
        "zarr_mb": disk_mb, "max_abs_diff_first_rows": check,
        "check_rows": args.check_rows,
    }


def run_memory(args):
    """10^6 x 3 in memory on 2 threads (the configuration of speed.py)."""
    import torch

    rng = np.random.RandomState(0)
    X = rng.normal(size=(4000, 3)).cumsum(0)
    X[rng.uniform(size=X.shape) < 0.5] = np.nan
    from sklvar import VariationalImputer

    imp = VariationalImputer(prior="cnn", solver="lstm", window=200,
                             n_solver_iter=10, max_epochs=0, random_state=0,
                             n_threads=args.threads).fit(X)
    imp._thread_batches = not args.no_thread_batches
    imp.set_params(inference_dtype=args.inference_dtype,
                   inference_compile=args.inference_compile)
    X_long = np.tile(X, (250, 1))
    first = None
    if args.inference_compile:
        # the first call compiles: timed on its own, not in the median
        t0 = time.perf_counter()
        imp.transform(X_long)
        first = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        imp.transform(X_long)
        times.append(time.perf_counter() - t0)
    return {"rows": len(X_long), "threads": args.threads,
            "thread_batches": not args.no_thread_batches,
            "inference_dtype": args.inference_dtype,
            "inference_compile": args.inference_compile,
            "first_call_s": first,
            "inductor_cache": os.environ.get("TORCHINDUCTOR_CACHE_DIR", "default"),
            "times_s": times,
            "median_s": float(np.median(times)), "torch": torch.__version__,
            "peak_rss_mb": _peak_rss_mb()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10**8)
    parser.add_argument("--chunk-rows", type=int, default=10**6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fit-rows", type=int, default=40_000)
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--memory-limit", default="4GB",
                        help="dask's per-worker limit (spilling/pausing), "
                        "not the measured peak")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check-rows", type=int, default=0)
    parser.add_argument("--memory-1e6", action="store_true",
                        help="time the 10^6 x 3 in-memory transform instead")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--inference-dtype", default="float32",
                        choices=["float32", "bfloat16"],
                        help="--memory-1e6: the imputer's inference_dtype")
    parser.add_argument("--inference-compile", action="store_true",
                        help="--memory-1e6: inference_compile=True (the first, "
                        "compiling call is timed apart as first_call_s)")
    parser.add_argument("--no-thread-batches", action="store_true",
                        help="--memory-1e6: one batch at a time on --threads torch "
                        "threads, instead of batches in --threads Python threads")
    parser.add_argument("--json", default=None, help="append the result here")
    parser.add_argument("--progress", default=None,
                        help="append the blocks written every 30 s to this file")
    args = parser.parse_args(argv)
    result = run_memory(args) if args.memory_1e6 else run_scale(args)
    result["load_average_end"] = os.getloadavg()
    result["argv"] = sys.argv[1:] if argv is None else argv
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
