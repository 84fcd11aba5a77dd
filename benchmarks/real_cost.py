"""Cost of ``VariationalImputer(layout="series")`` on 2000 x 10 and 2000 x 100 tables.

    python benchmarks/real_cost.py            # writes benchmarks/REAL_COST.md

The tables are real series of ``../shared/data/realts`` side by side (first
2000 steps, z-scored): 2000 x 10 = the 7 ETTh1 series and 3 exchange rates;
2000 x 100 = traffic (20), temperature (25), motion (20), ETTh1 (7), exchange
rates (8) and traffic again shifted by 2000 steps (20). Gaps: mcar@0.2 and
points@0.1 (seed 0). One thread; median of 3 fits.
"""

import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from realts import data  # noqa: E402
from realts.report import _machine  # noqa: E402


def _table(names, n_steps=2000):
    cols = []
    for name, start, n_series in names:
        path = data.data_dir() / f"{name}.txt.gz"
        X = np.loadtxt(path)[start:start + n_steps, :n_series]
        cols.append((X - X.mean(0)) / X.std(0))
    return np.concatenate(cols, axis=1)


def main():
    from sklvar import VariationalImputer

    tables = {
        "2000 x 10": _table([("etth1", 0, 7), ("stock-exchange", 0, 3)]),
        "2000 x 100": _table([("traffic", 0, 20), ("temperature", 0, 25),
                              ("motion", 0, 20), ("etth1", 0, 7),
                              ("stock-exchange", 0, 8), ("traffic", 2000, 20)]),
    }
    lines = ["# Cost of sklvar on series tables", "",
             "Command: `python benchmarks/real_cost.py`  ",
             "Machine: %s; %s; n_threads=1 (the default); seed 0." % _machine(), "",
             "| table | gaps | fit + transform s (median of 3) | min | max |",
             "|---|---|---|---|---|"]
    for label, Z in tables.items():
        for protocol in ("mcar@0.2", "points@0.1"):
            miss = data.missing_mask(Z.shape, protocol, 0)
            X = np.where(miss, np.nan, Z)
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                VariationalImputer(layout="series", random_state=0).fit_transform(X)
                times.append(time.perf_counter() - t0)
            lines.append(f"| {label} | {protocol} | {statistics.median(times):.2f} | "
                         f"{min(times):.2f} | {max(times):.2f} |")
            print(lines[-1], flush=True)
    (HERE / "REAL_COST.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
