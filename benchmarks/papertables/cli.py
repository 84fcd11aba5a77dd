"""Command line of ``benchmarks/paper.py``: one benchmark, or all in processes."""

import argparse
import subprocess
import sys
import time
from pathlib import Path

from .configs import BENCHMARKS
from .data import BENCHMARKS_DIR
from .runner import run_benchmark

PAPER_SCRIPT = BENCHMARKS_DIR / "paper.py"


def _run_parallel(names, args):
    """Run benchmarks as subprocesses, at most ``args.jobs`` at a time."""
    todo = sorted(names, key=lambda n: BENCHMARKS.index(n))  # mnist (longest) first
    running, failed = [], []
    while todo or running:
        while todo and len(running) < args.jobs:
            n = todo.pop(0)
            cmd = [
                sys.executable,
                str(PAPER_SCRIPT),
                n,
                "--threads",
                str(args.threads),
                "--seed",
                str(args.seed),
            ]
            cmd += ["--quick"] if args.quick else []
            cmd += ["--out", str(args.out)]
            cmd += ["--no-figures"] if args.no_figures else []
            cmd += ["--device", args.device] if args.device != "cpu" else []
            cmd += ["--mnist", str(args.mnist)] if args.mnist else []
            if args.mnist_noise_ratio is not None:
                cmd += ["--mnist-noise-ratio", str(args.mnist_noise_ratio)]
            print(f"[all] starting {' '.join(cmd)}", flush=True)
            running.append((n, subprocess.Popen(cmd)))
        time.sleep(1.0)
        for n, proc in list(running):
            if proc.poll() is not None:
                running.remove((n, proc))
                if proc.returncode:
                    failed.append(n)
    return 1 if failed else 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Reproduce Tables 1 and 2 of Fablet, Drumetz & Rousseau (2020) "
        "with sklvar."
    )
    parser.add_argument("name", choices=BENCHMARKS + ("all",))
    parser.add_argument(
        "--quick", action="store_true", help="small data, few epochs (minutes)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder for RESULTS.md and figures/ (required, so that no run "
        "overwrites the committed benchmarks/RESULTS.md unless asked: --out "
        "benchmarks)",
    )
    parser.add_argument(
        "--no-figures", action="store_true", help="write no figure (no matplotlib)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="with 'all': benchmarks run in parallel processes",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--device",
        default="cpu",
        help="torch device of the learned and FSGD rows (default cpu; e.g. cuda)",
    )
    parser.add_argument(
        "--mnist",
        type=Path,
        default=None,
        help="folder of the MNIST IDX files (default: $SKLVAR_MNIST or "
        "../shared/data/mnist)",
    )
    parser.add_argument(
        "--mnist-noise-ratio",
        type=float,
        default=None,
        help="MNIST noise variance as a fraction of sigma^2 (default "
        "0.1, the paper; the authors' code used 0.01)",
    )
    args = parser.parse_args(argv)
    if args.name == "all" and args.jobs > 1:
        return _run_parallel(list(BENCHMARKS), args)
    names = BENCHMARKS if args.name == "all" else (args.name,)
    for n in names:
        overrides = None
        if n == "mnist" and args.mnist_noise_ratio is not None:
            overrides = {"noise_ratio": args.mnist_noise_ratio}
        print(
            run_benchmark(
                n,
                args.quick,
                args.out,
                threads=args.threads,
                seed=args.seed,
                mnist_path=args.mnist,
                overrides=overrides,
                figures=not args.no_figures,
                device=args.device,
            )
        )
    return 0
