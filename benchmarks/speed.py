"""Speed and memory of sklvar's training and imputation (issue 7).

Run by hand, on a quiet machine::

    python benchmarks/speed.py                   # writes benchmarks/SPEED.md
    python benchmarks/speed.py --quick           # 2 repetitions, smaller series
    python benchmarks/speed.py --only lorenz63   # configurations whose name matches
    python benchmarks/speed.py --device cuda     # on a GPU (1 "thread" row only)

Each throughput is the median of ``--repeats`` timed repetitions after one
warm-up (``--slow-repeats`` for the costly Lorenz-96 and MNIST configurations;
three times ``--repeats`` for the short transforms of the Lorenz-63 ones),
measured with ``torch.set_num_threads(t)`` for every t in ``--threads``, all in
one run so that the ratios are comparable. Training throughput is that of the
real training step (``VariationalNet.train_step``: unrolled solver,
backward through it, Adam step) on one batch of supervised samples; transform
throughput is ``VariationalImputer.transform`` on the same samples (batches of
``batch_size``, no graph).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

# Costly configurations, timed with --slow-repeats.
SLOW = ("lorenz96", "mnist")

CONFIGS = {
    # name: (estimator params, sample shape, batch size)
    "lorenz63 cnn+lstm K=10": (dict(prior="cnn", solver="lstm", n_solver_iter=10,
                                    sample_shape=(3, 200), layout="series"),
                               (3, 200), 128),
    "lorenz63 cnn+lstm K=20": (dict(prior="cnn", solver="lstm", n_solver_iter=20,
                                    sample_shape=(3, 200), layout="series"),
                               (3, 200), 128),
    "lorenz96 cnn(2-D)+lstm K=10": (dict(prior="cnn", solver="lstm", n_solver_iter=10,
                                         sample_shape=(40, 200), layout="image",
                                         prior_params={"periodic_axes": (0,)}),
                                    (40, 200), 8),
    "mnist cnn+lstm K=10": (dict(prior="cnn", solver="lstm", n_solver_iter=10,
                                 sample_shape=(28, 28), layout="image"),
                            (28, 28), 128),
}


def _build(params, shape, batch, seed=0, device="cpu"):
    """A fitted imputer (0 epochs) and one training batch."""
    import torch

    from sklvar import VariationalImputer

    rng = np.random.RandomState(seed)
    n_features = int(np.prod(shape))
    X_true = rng.normal(size=(batch, n_features))
    X = X_true.copy()
    X[rng.uniform(size=X.shape) < 0.8] = np.nan
    # n_threads=None: the thread count is set by the caller (--threads)
    imp = VariationalImputer(max_epochs=0, batch_size=batch, random_state=seed,
                             device=device, n_threads=None, **params).fit(X, X_true)
    net = imp.net_
    Y, M = imp.codec_.encode(X)
    T, _ = imp.codec_.encode(X_true)
    batch_data = ({"y": torch.from_numpy(Y), "observed_mask": torch.from_numpy(M)},
                  torch.from_numpy(T.astype(np.float32)))
    return imp, net, batch_data, X


def _sync(device):
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _median_time(fn, repeats, device="cpu"):
    fn()  # warm-up
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_training(threads, repeats, slow_repeats, names, device="cpu",
                   batch_size=None):
    import torch

    torch.set_num_threads(threads)
    rows = []
    for name in names:
        params, shape, batch = CONFIGS[name]
        batch = batch_size or batch
        reps = slow_repeats if name.startswith(SLOW) else repeats
        imp, net, data, X = _build(params, shape, batch, device=device)
        net.module_.n_iter = params["n_solver_iter"]
        t_train = _median_time(lambda: net.train_step(data), reps, device)
        # a transform of one batch of fast configurations takes ~0.2 s: three
        # times the repetitions, so that a noisy second does not set the median
        inf_reps = reps if name.startswith(SLOW) else 3 * reps
        t_inf = _median_time(lambda: imp.transform(X), inf_reps, device)
        reps_text = str(reps) if inf_reps == reps else f"{reps} / {inf_reps}"
        rows.append((name, threads, batch, batch / t_train, batch / t_inf, reps_text))
        print(f"{name}, {threads} thread(s): training {batch / t_train:.1f}/s, "
              f"transform {batch / t_inf:.1f}/s ({reps_text} repetitions)", flush=True)
    return rows


def bench_authors(threads, repeats, names, device="cpu", batch_size=None):
    """The authors' code for the Lorenz-63 rows in ``names`` (``authors_l63.py``)."""
    import authors_l63

    rows = []
    for name in names:
        if not name.startswith("lorenz63"):
            continue
        params, _, batch = CONFIGS[name]
        batch = batch_size or batch
        k = params["n_solver_iter"]
        train, evaluate = authors_l63.bench(threads, repeats, k, batch, device,
                                            eval_repeats=3 * repeats)
        label = name.replace("cnn+lstm", "authors' code (re-implemented)")
        reps_text = f"{repeats} / {3 * repeats}"
        rows.append((label, threads, batch, train, evaluate, reps_text))
        print(f"{label}, {threads} thread(s): training {train:.1f}/s, "
              f"evaluation {evaluate:.1f}/s ({reps_text} repetitions)", flush=True)
    return rows


def bench_series_transform(threads, repeats, n_rows, device="cpu"):
    import torch

    from sklvar import VariationalImputer

    torch.set_num_threads(threads)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(4000, 3)).cumsum(0)
    X[rng.uniform(size=X.shape) < 0.5] = np.nan
    imp = VariationalImputer(prior="cnn", solver="lstm", window=200, n_solver_iter=10,
                             max_epochs=0, random_state=0, device=device,
                             n_threads=None).fit(X)
    X_long = np.tile(X, (n_rows // len(X) + 1, 1))[:n_rows]
    t = _median_time(lambda: imp.transform(X_long), repeats, device)
    return n_rows / t


_FIT_SCRIPT = """
import pickle, sys, numpy as np, torch
torch.set_num_threads(2)
from sklvar import VariationalImputer
rng = np.random.RandomState(0)
X = rng.normal(size=(4000, 3)).cumsum(0); X[rng.uniform(size=X.shape) < 0.5] = np.nan
imp = VariationalImputer(prior="cnn", solver="lstm", window=200, n_solver_iter=10,
                         max_epochs=0, random_state=0, device=sys.argv[2],
                         n_threads=None).fit(X)
pickle.dump((imp, X), open(sys.argv[1], "wb"))
"""

# A fresh process that only loads the fitted imputer and transforms: its peak
# RSS is the memory that imputing the series needs (imports included).
_MEMORY_SCRIPT = """
import pickle, resource, sys, time, numpy as np, torch
torch.set_num_threads(2)
import sklvar
imp, X = pickle.load(open(sys.argv[1], "rb"))
X_long = np.tile(X, (250, 1))
def peak_mb():
    # VmHWM: this process's own peak RSS. ru_maxrss is not used: Linux carries
    # it over from the parent across fork + exec.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
before = peak_mb()
t0 = time.perf_counter()
out = imp.transform(X_long)
if imp.device != "cpu":
    torch.cuda.synchronize()
elapsed = time.perf_counter() - t0
peak = peak_mb()
assert out.shape == X_long.shape and np.isfinite(out).all()
gpu = torch.cuda.max_memory_allocated() / 2**20 if imp.device != "cpu" else 0.0
print(elapsed, before, peak, X_long.nbytes / 2**20, gpu)
"""


def bench_memory(device="cpu"):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "imp.pkl")
        subprocess.run([sys.executable, "-c", _FIT_SCRIPT, path, device], check=True)
        out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, path],
                             capture_output=True, text=True, check=True).stdout.split()
    return tuple(map(float, out))  # elapsed, before, peak, data_mb, gpu_mb


def _versions():
    import sklearn
    import skorch
    import torch

    import sklvar

    return {"python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "skorch": skorch.__version__, "sklvar": sklvar.__version__}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 repetitions, 20,000-row series, no memory run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--slow-repeats", type=int, default=5,
                        help="repetitions for the Lorenz-96 and MNIST configurations")
    parser.add_argument("--only", default="",
                        help="run only the configurations whose name contains this")
    parser.add_argument("--threads", default="1,2", help="comma-separated counts")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--prior-params", default="{}",
                        help='JSON merged into every prior_params, e.g. '
                             '\'{"channels_last": false}\'')
    parser.add_argument("--batch", type=int, default=None,
                        help="batch size of every configuration (default: each "
                             "configuration's own)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the authors' code (authors_l63.py) on the "
                             "Lorenz-63 configurations")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the 1,000,000-row memory run")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                      "SPEED.md"))
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    slow_repeats = 2 if args.quick else args.slow_repeats
    n_rows = 20_000 if args.quick else 200_000
    rows, baseline, series = [], [], {}
    names = [n for n in CONFIGS if args.only in n]
    extra = json.loads(args.prior_params)
    if extra:
        for name in names:
            params = CONFIGS[name][0]
            params["prior_params"] = {**params.get("prior_params", {}), **extra}
    for threads in (int(t) for t in args.threads.split(",")):
        rows += bench_training(threads, repeats, slow_repeats, names, args.device,
                               args.batch)
        if not args.no_baseline:
            baseline += bench_authors(threads, repeats, names, args.device, args.batch)
        series[threads] = bench_series_transform(threads, repeats, n_rows, args.device)
        print(f"series transform, {threads} thread(s): {series[threads]:,.0f} rows/s",
              flush=True)
    mem = None if args.quick or args.no_memory else bench_memory(args.device)
    cpu = platform.processor() or platform.machine()
    device = args.device
    if device.startswith("cuda"):
        import torch

        device += f" ({torch.cuda.get_device_name()})"
    lines = [
        "# sklvar speed (benchmarks/speed.py)",
        "",
        f"Command: `python benchmarks/speed.py {' '.join(sys.argv[1:])}`, "
        f"{time.strftime('%Y-%m-%d %H:%M')} UTC.",
        f"Machine: {platform.platform()}, {cpu}, {os.cpu_count()} CPUs; device "
        f"{device}; load average at the end {os.getloadavg()[0]:.2f}.",
        f"Versions: {json.dumps(_versions())}. Seed 0. Medians of the stated "
        "number of repetitions after a warm-up; float32; windows of 200 steps.",
        "",
        "## Training and inference throughput (windows or images per second)",
        "",
        "| configuration | threads | batch | training | transform | repetitions "
        "(training / transform) |",
        "|---|---|---|---|---|---|",
    ]
    for name, threads, batch, train, inf, reps in rows:
        lines.append(f"| {name} | {threads} | {batch} | {train:.1f} | {inf:.1f} | "
                     f"{reps} |")
    if baseline:
        lines += ["", "## Against the authors' code, same machine, same run", "",
                  "The authors' Lorenz-63 step re-implemented from their public code "
                  "(`benchmarks/authors_l63.py`: Conv1d on (B, C, T), "
                  "`autograd.grad(create_graph=True)`, batch-wide normgrad; its "
                  "'evaluation' is the notebooks' validation pass, which builds the "
                  "graph). Ratio = sklvar / authors'.", "",
                  "| configuration | threads | authors' training | authors' evaluation "
                  "| training ratio | transform ratio |", "|---|---|---|---|---|---|"]
        ours = {(n, t): (tr, inf) for n, t, _, tr, inf, _ in rows}
        for label, threads, _, train, evaluate, _ in baseline:
            name = label.replace("authors' code (re-implemented)", "cnn+lstm")
            tr, inf = ours[(name, threads)]
            lines.append(f"| {name} | {threads} | {train:.1f} | {evaluate:.1f} | "
                         f"{tr / train:.2f} | {inf / evaluate:.2f} |")
    lines += ["", f"## Long series through `window=200` ({n_rows:,} x 3, 10 "
              "iterations, stride 100)", "", "| threads | rows per second |",
              "|---|---|"]
    for threads, rate in series.items():
        lines.append(f"| {threads} | {rate:,.0f} |")
    if mem is not None:
        elapsed, before, peak, data_mb, gpu_mb = mem
        lines += ["", "## 1,000,000 x 3 series, 2 threads", "",
                  f"transform {elapsed:.1f} s; peak RSS of the process {peak:.0f} MB "
                  f"(after imports and loading the fitted imputer: {before:.0f} MB; "
                  f"the input array is {data_mb:.0f} MB)"
                  + (f"; peak GPU memory allocated {gpu_mb:.0f} MB." if gpu_mb
                     else ".")]
    text = "\n".join(lines) + "\n"
    print(text)
    kept = _kept_sections(args.out)  # read before the file is truncated
    with open(args.out, "w") as fh:
        fh.write(text + kept)
    return 0


# sections of SPEED.md written by other scripts, kept when this one rewrites it
_KEPT = ("## Thread count of the estimators (benchmarks/threads.py)",
         "## The 2-D path (issue 18): what each change bought",)


def _kept_sections(path):
    """The sections of ``path`` that other scripts write (threads.py), or ""."""
    try:
        old = open(path).read()
    except OSError:
        return ""
    kept = []
    for title in _KEPT:
        start = old.find(title)
        if start >= 0:
            end = old.find("\n## ", start + len(title))
            kept.append(old[start:end if end >= 0 else None].rstrip("\n"))
    return "".join("\n" + k + "\n" for k in kept)


if __name__ == "__main__":
    sys.exit(main())
