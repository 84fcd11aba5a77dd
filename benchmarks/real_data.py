"""Real-data benchmark: sklvar against classical and deep imputers (run by hand).

    python benchmarks/real_data.py                       # everything, 3 seeds
    python benchmarks/real_data.py --methods sklvar SAITS --protocols mcar@0.2
    python benchmarks/real_data.py --report-only         # rewrite REAL_DATA.md

Cells (method x data set x protocol, every seed) run in worker processes with
one thread each, ``--jobs`` at a time; results are cached in
``benchmarks/real_data.json`` (a rerun replaces only the cells it runs) and
``benchmarks/REAL_DATA.md`` is rewritten from the cache. SAITS needs the
benchmark venv of ``benchmarks/peers/README.md`` (``SKLVAR_BENCH_PYTHON``).
"""

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from realts import report  # noqa: E402
from realts.data import DATASETS, PROTOCOLS  # noqa: E402
from realts.methods import EXTRA, METHODS  # noqa: E402
from realts.runner import spawn_cell  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--protocols", nargs="+", default=list(PROTOCOLS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--cache", default=str(HERE / "real_data.json"))
    p.add_argument("--out", default=str(HERE / "REAL_DATA.md"))
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    unknown = set(args.methods) - set(METHODS) - set(EXTRA)
    if unknown:
        p.error(f"unknown methods {sorted(unknown)}; expected among "
                f"{list(METHODS) + list(EXTRA)}")
    cache = Path(args.cache)
    results = json.loads(cache.read_text()) if cache.exists() else []
    if not args.report_only:
        cells = [(m, d, pr) for pr in args.protocols for d in args.datasets
                 for m in args.methods]

        def one(cell):
            t0 = time.perf_counter()
            r = spawn_cell(*cell, args.seeds)
            print(f"{cell}: {time.perf_counter() - t0:.1f} s "
                  + (str(r.get("error")) if "error" in r else
                     " ".join(f"{x['rmse']:.4f}" for x in r["runs"])), flush=True)
            return r

        with ThreadPoolExecutor(args.jobs) as pool:
            for r in pool.map(one, cells):
                key = (r["method"], r["dataset"], r["protocol"])
                results = [x for x in results
                           if (x["method"], x["dataset"], x["protocol"]) != key]
                results.append(r)
                cache.write_text(json.dumps(results, indent=1))
    command = "python benchmarks/real_data.py " + " ".join(argv or sys.argv[1:])
    seeds = sorted({x["seed"] for r in results if "runs" in r for x in r["runs"]})
    report.write(results, [m for m in METHODS if any(r["method"] == m for r in results)],
                 args.out, command=command.strip(), seeds=seeds,
                 extra_methods=tuple(EXTRA))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
