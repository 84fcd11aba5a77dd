"""One model per GPU on dask workers: a search and a chunked transform (issue 17).

Starts a ``dask.distributed`` cluster on this machine with one worker per GPU
(a nanny per GPU with its own ``CUDA_VISIBLE_DEVICES``, one thread), then

1. runs a ``GridSearchCV`` over a windowed ``VariationalImputer``
   (``device="cuda"``) on a gappy Lorenz-63 series, on one GPU and on all of
   them, and checks that both give the same ``best_params_``;
2. imputes a long series generated lazily as a dask array (the generator of
   ``benchmarks/scale.py``) on one GPU and on all of them.

It prints the times and speed-ups as JSON (``--json`` appends them to a
file). With fewer than two GPUs it prints "needs >= 2 GPUs" and exits with
status 0. ``--cpu-workers N`` runs the same code on N CPU workers
(``device="cpu"``), to check the script where there is no GPU.

Usage::

    python benchmarks/multi_gpu.py                   # all GPUs of this machine
    python benchmarks/multi_gpu.py --cpu-workers 2 --quick

Needs ``pip install -e ".[dask]"``.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def start_cluster(devices, cpu):
    """A SpecCluster: one nanny per device, one thread each."""
    from distributed import Client, Nanny, Scheduler, SpecCluster

    workers = {}
    for i, dev in enumerate(devices):
        env = {"OMP_NUM_THREADS": "1"}
        if not cpu:
            env["CUDA_VISIBLE_DEVICES"] = str(dev)
        workers[f"w{i}"] = {"cls": Nanny, "options": {"nthreads": 1, "env": env}}
    cluster = SpecCluster(workers=workers, scheduler={
        "cls": Scheduler, "options": {"dashboard_address": ":0"}})
    return cluster, Client(cluster)


def search(X, device, quick, backend):
    from joblib import parallel_config
    from sklearn.model_selection import GridSearchCV

    from sklvar import VariationalImputer

    grid = {"lambda_prior": [0.5, 1.0, 2.0], "n_solver_iter": [5, 10]}
    est = VariationalImputer(prior="cnn", solver="lstm", window=100,
                             max_epochs=2 if quick else 20, batch_size=128,
                             device=device, random_state=0, n_threads=1)
    gs = GridSearchCV(est, grid, cv=2)
    t0 = time.perf_counter()
    if backend is None:
        gs.fit(X)
    else:
        with parallel_config(backend=backend):
            gs.fit(X)
    return gs, time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-workers", type=int, default=0,
                        help="run on N CPU workers instead of the GPUs")
    parser.add_argument("--quick", action="store_true",
                        help="2 epochs, a shorter series")
    parser.add_argument("--rows", type=int, default=None,
                        help="rows of the chunked transform (default 10^7, "
                        "10^5 with --quick)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    import torch

    cpu = args.cpu_workers > 0
    if cpu:
        devices, device = list(range(args.cpu_workers)), "cpu"
    else:
        n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n_gpus < 2:
            print(f"multi_gpu.py needs >= 2 GPUs (found {n_gpus}); nothing to "
                  "run. (--cpu-workers N runs the same code on CPU workers.)")
            return 0
        devices, device = list(range(n_gpus)), "cuda"
    from scale import lazy_series

    from sklvar.dask import sample_series
    from sklvar.datasets import make_lorenz63, make_missing

    n_steps = 2000 if args.quick else 20000
    data = make_lorenz63(n_train=1, n_test=1, n_steps=n_steps, window=200,
                         train_range=(0, n_steps // 2),
                         test_range=(n_steps // 2, n_steps), random_state=0)
    X, _ = make_missing(data.trajectory, pattern="blocks", missing_rate=0.3,
                        block_length=25, random_state=0)
    result = {"devices": len(devices), "kind": device,
              "names": ([torch.cuda.get_device_name(i) for i in devices]
                        if not cpu else ["cpu"] * len(devices))}
    serial, t_serial = search(X, device if cpu else "cuda", args.quick, None)
    result["search_one_device_s"] = t_serial
    cluster, client = start_cluster(devices, cpu)
    try:
        on_all, t_all = search(X, device, args.quick, "dask")
        result["search_all_devices_s"] = t_all
        result["search_speedup"] = t_serial / t_all
        result["same_best_params"] = on_all.best_params_ == serial.best_params_
        result["best_params"] = serial.best_params_
        rows = args.rows or (10**5 if args.quick else 10**7)
        series = lazy_series(rows, max(rows // (4 * len(devices)), 10**4), 0)
        imp = serial.best_estimator_
        imp.fit(sample_series(series, min(rows, 20_000), random_state=0))
        t0 = time.perf_counter()
        imp.transform(series).sum().compute(scheduler="synchronous")
        result["transform_one_device_rows_per_s"] = rows / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        client.compute(imp.transform(series).sum()).result()
        result["transform_all_devices_rows_per_s"] = rows / (time.perf_counter() - t0)
    finally:
        client.close()
        cluster.close()
    print(json.dumps(result, indent=1, default=str))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
