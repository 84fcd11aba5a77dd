"""Thread count of the estimators: the measurement behind ``n_threads=1`` (issue 19).

Run by hand (about 5 minutes on a 2-core CPU)::

    python benchmarks/threads.py            # writes the "Thread count" section
                                            # of benchmarks/SPEED.md
    python benchmarks/threads.py --quick    # 1 repetition, 1 epoch; prints only

Times small fits with ``n_threads=1`` and ``n_threads=2``, first on the machine
as it is ("idle"), then with one core kept busy by a ``python -c "while True:
pass"`` process started for the purpose (killed afterwards):

- ``impute 1000 x 10``: ``VariationalImputer.fit_transform`` as
  ``sklvar impute`` builds it (2S-CNN prior, LSTM solver, ``window=64``,
  ``stride=16``, 10 solver iterations) on a gappy 1000 x 10 Lorenz-96 series,
  ``--epochs`` epochs instead of the command's 30;
- ``lorenz63 (3, 200)``: ``VariationalImputer.fit`` on 32 Lorenz-63 windows
  laid out as series (``sample_shape=(3, 200), layout="series"``, 2S-CNN +
  LSTM, 10 solver iterations);
- ``dictionary 1000 x 64``: ``DictionaryImputer.fit_transform`` on 1000
  low-rank 8 x 8 images with 20 % missing pixels (``n_threads`` is the BLAS
  thread count there).

Each figure is the median of ``--repeats`` runs after one warm-up, the two
thread counts alternated. Besides the load average, each phase reports the
CPU time that other processes used during it (from ``/proc/stat``, in cores):
the machine is shared, so "idle" means "without our busy process".
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SECTION = "## Thread count of the estimators (benchmarks/threads.py)"
THREADS = (1, 2)


# --------------------------------------------------------------------- workloads
def _impute_workload(epochs, seed):
    from sklvar import VariationalImputer
    from sklvar.datasets import make_lorenz96, make_missing

    d = make_lorenz96(n_train=1, n_test=1, n_components=10, n_observed=5,
                      n_steps=1000, train_range=(0, 500), test_range=(500, 1000),
                      random_state=seed)
    X, _ = make_missing(d.trajectory, pattern="blocks", missing_rate=0.3,
                        block_length=25, random_state=seed)

    def run(n_threads):
        VariationalImputer(prior="cnn", solver="lstm", window=64, stride=16,
                           n_solver_iter=10, max_epochs=epochs,
                           random_state=seed, n_threads=n_threads).fit_transform(X)

    return run


def _lorenz63_workload(epochs, seed):
    from sklvar import VariationalImputer
    from sklvar.datasets import make_lorenz63

    d = make_lorenz63(n_train=32, n_test=1, random_state=seed)
    X = d.X_train.reshape(len(d.X_train), -1)

    def run(n_threads):
        VariationalImputer(prior="cnn", solver="lstm", sample_shape=(3, 200),
                           layout="series", n_solver_iter=10, max_epochs=epochs,
                           batch_size=32, random_state=seed,
                           n_threads=n_threads).fit(X)

    return run


def _dictionary_workload(epochs, seed):
    from sklvar import DictionaryImputer

    rng = np.random.RandomState(seed)
    X = rng.normal(size=(1000, 6)) @ rng.normal(size=(6, 64))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan

    def run(n_threads):
        DictionaryImputer(n_components=32, sample_shape=(8, 8), layout="image",
                          max_iter=2, random_state=seed,
                          n_threads=n_threads).fit_transform(X)

    return run


WORKLOADS = {
    "impute 1000 x 10": _impute_workload,
    "lorenz63 (3, 200)": _lorenz63_workload,
    "dictionary 1000 x 64": _dictionary_workload,
}


# ----------------------------------------------------------------------- timing
def _busy_jiffies():
    """CPU time of the whole machine, in clock ticks, from /proc/stat."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle


def _own_seconds():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _phase(workloads, repeats, busy):
    """Median seconds per (workload, threads), and the others' load in cores."""
    spinner = None
    if busy:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    start_wall, start_busy, start_own = time.time(), _busy_jiffies(), _own_seconds()
    times = {}
    try:
        for name, run in workloads.items():
            for n in THREADS:  # warm-up of each count
                run(n)
            samples = {n: [] for n in THREADS}
            for r in range(repeats):
                order = THREADS if r % 2 == 0 else THREADS[::-1]
                for n in order:
                    t0 = time.perf_counter()
                    run(n)
                    samples[n].append(time.perf_counter() - t0)
            for n in THREADS:
                times[(name, n)] = statistics.median(samples[n])
                print(f"{'busy' if busy else 'idle'} | {name} | {n} thread(s) | "
                      + ", ".join(f"{t:.2f}" for t in samples[n]) + " s", flush=True)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    wall = time.time() - start_wall
    tick = os.sysconf("SC_CLK_TCK")
    machine = (_busy_jiffies() - start_busy) / tick
    others = max(0.0, machine - (_own_seconds() - start_own)) / wall
    return times, others, os.getloadavg()[0]


def _versions():
    import sklearn
    import skorch
    import threadpoolctl
    import torch

    import sklvar

    return {"python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "skorch": skorch.__version__, "threadpoolctl": threadpoolctl.__version__,
            "sklvar": sklvar.__version__}


def _cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return platform.processor() or platform.machine()
    match = re.search(r"^Model name:\s*(.+)$", out, re.MULTILINE)
    return match.group(1).strip() if match else platform.machine()


def render(results, names, argv, elapsed):
    """The SPEED.md section: command, machine, versions, table, load."""
    command = " ".join(["python benchmarks/threads.py", *argv])
    lines = [
        SECTION,
        "",
        f"Command: `{command}`, {time.strftime('%Y-%m-%d %H:%M')} UTC, "
        f"{elapsed / 60:.1f} min.",
        f"Machine: {_cpu_model()} (lscpu), {os.cpu_count()} CPUs, "
        f"{platform.platform()}. Versions: {json.dumps(_versions())}. Seed 0.",
        "Seconds per call, median of the repetitions after a warm-up, 1 and 2 "
        "threads alternated; \"one core busy\" = one "
        "`python -c \"while True: pass\"` process running. \"others\" is the "
        "CPU that the machine's other processes used during the phase, in cores "
        "(the machine is shared: \"idle\" is not perfectly idle when it is "
        "above 0).",
        "",
        "| workload | machine | 1 thread (s) | 2 threads (s) | 2 threads / 1 thread |",
        "|---|---|---|---|---|",
    ]
    for phase, (times, _, _) in results.items():
        for name in names:
            one, two = times[(name, 1)], times[(name, 2)]
            lines.append(f"| {name} | {phase} | {one:.2f} | {two:.2f} | "
                         f"{two / one:.2f} |")
    lines.append("")
    ratios = {phase: [times[(n, 2)] / times[(n, 1)] for n in names]
              for phase, (times, _, _) in results.items()}
    lines.append("Reading: 2 threads took " + " and ".join(
        f"{min(r):.2f}-{max(r):.2f}x the time of 1 thread ({phase})"
        for phase, r in ratios.items()) + "; below 1, 2 threads are faster.")
    lines.append("Load during each phase: " + "; ".join(
        f"{phase}: others {others:.2f} cores, load average {load:.2f} at the end"
        for phase, (_, others, load) in results.items()) + ".")
    return "\n".join(lines) + "\n"


def write_section(path, text):
    """Replace the thread-count section of SPEED.md (or append it)."""
    old = open(path).read() if os.path.exists(path) else ""
    start = old.find(SECTION)
    if start >= 0:
        nxt = old.find("\n## ", start + len(SECTION))
        rest = old[nxt + 1:] if nxt >= 0 else ""
        old = old[:start].rstrip("\n") + ("\n\n" + rest if rest else "")
    new = old.rstrip("\n") + "\n\n" + text if old.strip() else text
    with open(path, "w") as fh:
        fh.write(new)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="1 repetition, 1 epoch; print, write nothing")
    parser.add_argument("--only", default="",
                        help="run only the workloads whose name contains this")
    parser.add_argument("--out", default=os.path.join(HERE, "SPEED.md"))
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    repeats, epochs = (1, 1) if args.quick else (args.repeats, args.epochs)
    workloads = {name: make(epochs, 0) for name, make in WORKLOADS.items()
                 if args.only in name}
    t0 = time.perf_counter()
    results = {}
    for phase, busy in (("idle", False), ("one core busy", True)):
        results[phase] = _phase(workloads, repeats, busy)
    text = render(results, list(workloads), argv, time.perf_counter() - t0)
    print(text)
    if not args.quick:
        write_section(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
