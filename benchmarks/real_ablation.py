"""What each choice of the series-table default buys (run by hand).

    python benchmarks/real_ablation.py VARIANT [VARIANT ...]   # appends to REAL_ABLATION.md

Runs ``VariationalImputer(layout="series")`` with one design choice changed,
on the protocol of ``real_data.py`` (7 data sets x 3 protocols x 3 seeds, one
thread), and writes the mean RMSE per protocol and data set, beside the
default. Variants:

- ``default``: as shipped;
- ``no-blend``: the best candidate alone (no blend of the best two);
- ``one-draw``: one hiding draw for the model choice instead of three;
- ``all-rows``: each series' regression fitted on every time step (its own
  filled values included) instead of the steps where it is observed;
- ``order1``: no model choice, the field of order 1, ridge 1e-3, alone;
- ``two-rounds``: the model choice fits each candidate with 2 EM rounds
  (the final fit runs up to 8) instead of the final fit's rounds;
- ``no-increments``: the increment-field candidates are not tried;
- ``far``: the model choice hides the gaps shifted by random offsets
  (``shifted_gaps_hide``) instead of the shifted copies nearest in time to
  the gaps (``near_gaps_hides``).

(A ``wrap`` variant, shifted gaps allowed to wrap onto the first and last
steps, was measured before the near hides, which never wrap: 0.997 / 1.000 /
1.000 of that default; it is no longer meaningful and was dropped.)

The results of the variants measured against the previous default (before the
increment candidates) are in ``REAL_ABLATION_PREVIOUS.md``.
"""

import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from realts import data  # noqa: E402

VARIANTS = ("default", "no-blend", "one-draw", "all-rows", "order1", "two-rounds",
            "no-increments", "far")
_PATCHED = ("em_field", "system_cost", "shifted_gaps_hide")


def _imputer(variant, seed):
    import sklvar.impute._variational as V
    from sklvar import VariationalImputer
    from sklvar.utils import _gmrf

    select, em = _gmrf.select_field, _gmrf.em_field
    V.select_field, V.em_field = select, em
    if variant == "two-rounds":
        V.select_field = lambda *a, **k: select(*a, **{**k, "n_rounds": 2})
    elif variant == "no-increments":
        cost = _gmrf.system_cost
        _gmrf.system_cost = lambda obs, c: (
            np.inf if c["kind"] == "increments" else cost(obs, c))
    elif variant == "far":
        V.select_field = lambda *a, **k: select(*a, **{**k, "n_near": 0})
    elif variant == "no-blend":
        V.select_field = lambda *a, **k: select(*a, **{**k, "min_gain": np.inf})
    elif variant == "one-draw":
        V.select_field = lambda *a, **k: select(*a, **{**k, "n_draws": 1})
    elif variant == "all-rows":
        def em_all(*a, **k):
            return em(*a, **{**k, "target_rows": "all"})
        _gmrf.em_field = em_all
        V.em_field = em_all
    if variant == "order1":
        return VariationalImputer(prior="field", layout="series", random_state=seed)
    return VariationalImputer(layout="series", random_state=seed)


def run(variant):
    import torch

    from sklvar.utils import _gmrf

    torch.set_num_threads(1)
    rows = {}
    saved = {name: getattr(_gmrf, name) for name in _PATCHED}
    try:
        for protocol in data.PROTOCOLS:
            for name in data.DATASETS:
                rmse, secs = [], []
                for seed in (0, 1, 2):
                    truth, X, miss = data.case(name, protocol, seed)
                    t0 = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        try:
                            X_hat = _imputer(variant, seed).fit_transform(X)
                            rmse.append(data.scores(truth, X_hat, miss)[0])
                        except FloatingPointError:
                            rmse.append(float("inf"))
                    secs.append(time.perf_counter() - t0)
                    for attr, value in saved.items():  # undo this fit's patches
                        setattr(_gmrf, attr, value)
                rows[f"{protocol} {name}"] = (statistics.fmean(rmse),
                                              statistics.fmean(secs))
                print(variant, protocol, name, rows[f"{protocol} {name}"], flush=True)
    finally:
        for attr, value in saved.items():
            setattr(_gmrf, attr, value)
    return rows


def main(variants):
    cache = HERE / "real_ablation.json"
    results = json.loads(cache.read_text()) if cache.exists() else {}
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}; expected among {VARIANTS}")
        rows = run(v)
        # re-read: variants may run in parallel processes on the same cache
        results = json.loads(cache.read_text()) if cache.exists() else {}
        results[v] = rows
        cache.write_text(json.dumps(results, indent=1))
    names = [v for v in VARIANTS if v in results]
    lines = ["# What each choice of the series-table default buys", "",
             "Command: `python benchmarks/real_ablation.py " + " ".join(names) + "`"
             " (variants described in its docstring); protocol of REAL_DATA.md, mean "
             "RMSE over seeds 0-2, one thread. `inf`: the fit diverged.", "",
             "| case | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    keys = list(next(iter(results.values())).keys())
    for k in keys:
        vals = [results[v].get(k, (float("nan"),))[0] for v in names]
        best = min(vals)
        lines.append(f"| {k} | " + " | ".join(
            f"**{x:.4f}**" if x == best else f"{x:.4f}" for x in vals) + " |")
    lines += ["", "| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for protocol in data.PROTOCOLS:
        ks = [k for k in keys if k.startswith(protocol)]
        ref = [results["default"][k][0] for k in ks] if "default" in results else None
        cells = []
        for v in names:
            r = [results[v][k][0] for k in ks]
            if ref is None:
                cells.append("")
                continue
            ratio = [a / b for a, b in zip(r, ref)]
            cells.append(f"{statistics.fmean(ratio):.3f} / {max(ratio):.2f}")
        lines.append(f"| {protocol}: mean / max RMSE ratio to default | "
                     + " | ".join(cells) + " |")
    secs = [statistics.median(results[v][k][1] for k in keys) for v in names]
    lines.append("| median seconds per fit + transform | "
                 + " | ".join(f"{s:.2f}" for s in secs) + " |")
    (HERE / "REAL_ABLATION.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:] or list(VARIANTS))
