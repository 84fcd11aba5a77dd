"""Uncertainty benchmark: coverage and CRPS of sklvar's intervals (run by hand).

    python benchmarks/uncertainty.py                    # everything, 3 seeds
    python benchmarks/uncertainty.py --quick            # 2 small data sets, seed 0
    python benchmarks/uncertainty.py --methods CSDI --datasets etth1 \\
        --protocols mcar@0.2 --seeds 0                   # one cell (CSDI: slow)
    python benchmarks/uncertainty.py --report-only      # rewrite UNCERTAINTY.md

On the seven real data sets of ``../shared/data/realts`` (protocols mcar@0.2
and aligned@0.2 of its README) and on a gappy Lorenz-63 series, each method
gives quantiles of every gap entry at the levels 0.05, 0.10, ..., 0.95 and
central intervals at 50 %, 80 % and 90 %, from the gappy matrix alone; the
benchmark scores them on the truth of the gaps:

- coverage: the fraction of gap entries whose truth lies in the interval;
- CRPS: twice the mean pinball loss over the 19 levels, averaged over the gap
  entries, in z-scored units (the quantile CRPS of the CSDI paper, not
  normalised by the truth);
- the time to produce them, and the RMSE of the point estimate.

Cells (method x data set x protocol, every seed) run one at a time in worker
processes with one thread; results are cached in
``benchmarks/uncertainty.json`` and ``benchmarks/UNCERTAINTY.md`` is written
from the cache. CSDI needs the benchmark venv of ``benchmarks/peers/README.md``
(``SKLVAR_BENCH_PYTHON``).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

LEVELS = np.round(np.arange(0.05, 0.951, 0.05), 2)  # 19 quantile levels
COVERAGE = (0.5, 0.8, 0.9)
DATASETS = ("eeg-reading", "etth1", "motion", "sport-activity", "stock-exchange",
            "temperature", "traffic", "lorenz63")
PROTOCOLS = ("mcar@0.2", "aligned@0.2")
#: the protocol of the Lorenz-63 series: `sklvar demo`'s gaps
LORENZ_PROTOCOL = "blocks25@0.3"


# ---------------------------------------------------------------- data
def lorenz_case(seed):
    """(truth, gappy X, missing) of `sklvar demo`'s Lorenz-63 series, z-scored."""
    from sklvar.datasets import make_lorenz63, make_missing

    n_steps = 2000
    d = make_lorenz63(n_train=1, n_test=1, n_steps=n_steps, window=200,
                      train_range=(0, n_steps // 2),
                      test_range=(n_steps // 2, n_steps), random_state=seed)
    Z = d.trajectory
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    X, observed = make_missing(Z, pattern="blocks", missing_rate=0.3,
                               block_length=25, random_state=seed)
    X = np.where(observed, Z, np.nan)
    return Z, X, ~observed


def get_case(dataset, protocol, seed):
    if dataset == "lorenz63":
        return lorenz_case(seed)
    from realts import data

    return data.case(dataset, protocol, seed)


def protocols_of(dataset, protocols):
    return [LORENZ_PROTOCOL] if dataset == "lorenz63" else list(protocols)


# ---------------------------------------------------------------- scores
def crps_quantiles(truth, Q):
    """Quantile CRPS: 2 x mean pinball loss over LEVELS; Q of shape (19, n)."""
    diff = truth[None] - Q
    lv = LEVELS[:, None]
    return float(2 * np.mean(np.maximum(lv * diff, (lv - 1) * diff)))


def evaluate(truth, miss, X_hat, Q, intervals):
    """Scores of one run: Q (19 levels, T, D), intervals {level: (lo, up)}."""
    t = truth[miss]
    out = {"rmse": float(np.sqrt(np.mean((X_hat[miss] - t) ** 2))),
           "crps": crps_quantiles(t, Q[:, miss])}
    for lv, (lo, up) in intervals.items():
        out[f"cov{int(round(lv * 100))}"] = float(np.mean((t >= lo[miss]) & (t <= up[miss])))
        out[f"width{int(round(lv * 100))}"] = float(np.mean(up[miss] - lo[miss]))
    return out


def _from_draws(draws):
    """Quantiles at LEVELS and central intervals from draws (n, T, D)."""
    Q = np.quantile(draws, LEVELS, axis=0)
    iv = {lv: tuple(np.quantile(draws, [(1 - lv) / 2, (1 + lv) / 2], axis=0))
          for lv in COVERAGE}
    return Q, iv


# ---------------------------------------------------------------- methods
def _sklvar(make):
    def run(X, miss, seed):
        imp = make(seed)
        t0 = time.perf_counter()
        imp.fit(X)
        fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        X_hat = imp.transform(X)
        t_point = time.perf_counter() - t0
        t0 = time.perf_counter()
        X_hat2, std = imp.transform(X, return_std=True)
        t_std = time.perf_counter() - t0
        t0 = time.perf_counter()
        Q = imp.predict_quantiles(X, LEVELS)
        t_q = time.perf_counter() - t0
        iv = {}
        t0 = time.perf_counter()
        for lv in COVERAGE:
            iv[lv] = imp.predict_interval(X, lv)
        t_iv = (time.perf_counter() - t0) / len(COVERAGE)
        times = {}
        for n in (10, 100):
            t0 = time.perf_counter()
            D = imp.sample(X, n)
            times[f"sample{n}"] = time.perf_counter() - t0
        assert np.array_equal(X_hat, X_hat2)
        obs = ~miss
        assert all(np.array_equal(d[obs], X[obs]) for d in D[:5])
        # the draws' marginals should match the quantiles: 90 % coverage of
        # the draws' own 5-95 % range (scored on the truth in run_cell)
        Qd = np.quantile(D, [0.05, 0.95], axis=0)
        extra = {"_draws90": (Qd[0], Qd[1]), "rho": float(np.mean(imp.calibration_.rho))}
        # spread next to an observation and in the middle of long gaps
        from sklvar.impute._uncertainty import gap_distance

        d = gap_distance(obs)
        near, far = miss & (d == 1), miss & (d >= 5)
        extra["std_near"] = float(std[near].mean()) if near.any() else None
        extra["std_far"] = float(std[far].mean()) if far.any() else None
        if getattr(imp.layout_, "kind", None) == "table":
            extra["position_cov90"] = held_out_positions(imp, X, obs, seed)
        # the point estimate of a fit without calibration
        cls = type(imp)
        saved = cls._calibration_draws
        cls._calibration_draws = 0
        try:
            plain = make(seed)
            t0 = time.perf_counter()
            plain.fit(X)
            fit_plain = time.perf_counter() - t0
            X_plain = plain.transform(X)
        finally:
            cls._calibration_draws = saved
        extra["point_unchanged"] = bool(np.array_equal(X_plain, X_hat))
        extra["_X_plain"] = X_plain
        times.update(fit=fit, fit_without_calibration=fit_plain, transform=t_point,
                     transform_std=t_std, quantiles19=t_q, interval=t_iv)
        return X_hat, Q, iv, times, extra
    return run


def held_out_positions(imp, X, observed, seed, n_draws=8, level=0.9):
    """Coverage of the 90 % interval on held-out shifted gaps (no truth).

    ``n_draws`` copies of the table's gaps are shifted onto observed entries
    and imputed (in the parts the calibration hides one at a time); the
    calibration is refitted on all but one and its interval scored on the one
    left out. The spread of these coverages is how much the
    coverage of a single gap pattern varies with its position in time, from
    observed data alone.
    """
    from sklvar.impute._uncertainty import (
        _SPLIT, ResidualCalibration, calibration_hides, calibration_kind,
    )
    from sklvar.utils._gmrf import split_gap_runs

    rng = np.random.RandomState([seed, 99])
    copies = calibration_hides(imp, observed, rng, n_draws, split=1)
    # each copy imputed in the parts the calibration uses (series)
    kind, shape = calibration_kind(imp.layout_)
    parts = [split_gap_runs(h, _SPLIT, rng) if kind == "series" else [h]
             for h in copies]
    predict = imp._calibration_predict(X, observed)
    cache = {}

    def cached(seen):
        key = seen.tobytes()
        if key not in cache:
            cache[key] = predict(seen)
        return cache[key]

    Xf = np.asarray(X, dtype=float)
    out = []
    for k in range(len(parts)):
        cal = ResidualCalibration.fit(
            Xf, observed, cached,
            [h for i, ps in enumerate(parts) if i != k for h in ps],
            kind=kind, shape=shape)
        hit = n = 0
        for hidden in parts[k]:
            seen = observed & ~hidden
            lo, up = cal.quantiles_of(cached(seen), seen,
                                      [(1 - level) / 2, (1 + level) / 2])
            t = Xf[hidden]
            hit += int(np.sum((t >= lo[hidden]) & (t <= up[hidden])))
            n += t.size
        out.append(hit / max(n, 1))
    return out


def _field(seed):
    from sklvar import VariationalImputer

    return VariationalImputer(layout="series", random_state=seed)


def _cnn_lstm(seed):
    from sklvar import VariationalImputer

    return VariationalImputer(prior="cnn", solver="lstm", window=100, stride=25,
                              max_epochs=30, batch_size=64, lr=3e-3,
                              random_state=seed)


def iterative_posterior(X, miss, seed, n_draws=None):
    """IterativeImputer(sample_posterior=True), one fit per draw (seeds differ)."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    n_draws = n_draws or int(os.environ.get("SKLVAR_II_DRAWS", "20"))
    t0 = time.perf_counter()
    draws = []
    for k in range(n_draws):
        draws.append(IterativeImputer(sample_posterior=True,
                                      random_state=1000 * seed + k).fit_transform(X))
    draws = np.stack(draws)
    elapsed = time.perf_counter() - t0
    Q, iv = _from_draws(draws)
    return draws.mean(axis=0), Q, iv, {"total": elapsed, "draws": n_draws}, {}


def csdi(X, miss, seed):
    """PyPOTS CSDI in the benchmark venv (benchmarks/peers/csdi_runner.py)."""
    python = os.environ.get("SKLVAR_BENCH_PYTHON", "/work/venv-bench/bin/python")
    epochs = os.environ.get("SKLVAR_CSDI_EPOCHS", "20")
    n_samp = os.environ.get("SKLVAR_CSDI_SAMPLES", "20")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, X=X)
        cmd = [python, str(HERE / "peers" / "csdi_runner.py"), str(src), str(dst),
               "--seed", str(seed), "--epochs", epochs, "--n-samples", n_samp,
               "--threads", "1"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=int(os.environ.get("SKLVAR_CSDI_TIMEOUT", "1800")))
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"CSDI failed: {proc.stderr[-1500:]}")
        out = np.load(dst)
        draws = out["draws"]
        info = json.loads(str(out["config"]))
    Q, iv = _from_draws(draws)
    return (np.median(draws, axis=0), Q, iv,
            {"total": elapsed, "fit": float(out["fit_seconds"]),
             "sampling": float(out["transform_seconds"])}, {"config": info})


METHODS = {
    "sklvar": _sklvar(_field),
    "IterativeImputer posterior": iterative_posterior,
    "CSDI": csdi,
}
#: run on request only, on the Lorenz-63 series
EXTRA = {"sklvar cnn+lstm (window 100)": _sklvar(_cnn_lstm)}
DEFAULT_METHODS = ("sklvar", "IterativeImputer posterior")


def run_cell(method, dataset, protocol, seeds):
    import torch

    torch.set_num_threads(1)
    fn = {**METHODS, **EXTRA}[method]
    rows = []
    for seed in seeds:
        truth, X, miss = get_case(dataset, protocol, seed)
        X_in = X.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X_hat, Q, iv, times, extra = fn(X_in, miss, seed)
        assert np.array_equal(np.isnan(X_in), np.isnan(X))  # input untouched
        row = {"seed": seed, **evaluate(truth, miss, X_hat, Q, iv), "times": times}
        X_plain = extra.pop("_X_plain", None)
        draws90 = extra.pop("_draws90", None)
        if draws90 is not None:
            t = truth[miss]
            row["cov90_draws"] = float(np.mean((t >= draws90[0][miss])
                                               & (t <= draws90[1][miss])))
        if X_plain is not None:
            extra["rmse_without_calibration"] = float(
                np.sqrt(np.mean((X_plain[miss] - truth[miss]) ** 2)))
        row.update(extra)
        rows.append(row)
    return {"method": method, "dataset": dataset, "protocol": protocol, "runs": rows}


def spawn_cell(method, dataset, protocol, seeds):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", method, dataset,
           protocol, ",".join(str(s) for s in seeds)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"method": method, "dataset": dataset, "protocol": protocol,
                "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- report
def _versions():
    import sklearn
    import torch

    import sklvar

    return (f"Python {platform.python_version()}, numpy {np.__version__}, "
            f"scikit-learn {sklearn.__version__}, torch {torch.__version__}, "
            f"sklvar {sklvar.__version__}")


def _mean(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else float("nan")


def _position_values(runs):
    return np.array([v for x in runs for v in (x.get("position_cov90") or [])])


def _positions(runs):
    vals = _position_values(runs)
    if not vals.size:
        return ""
    return (f"{100 * vals.min():.0f}-{100 * vals.max():.0f} "
            f"({100 * vals.mean():.1f} +- {100 * vals.std():.1f}; "
            f"{_within(vals):.2f})")


def _within(vals, level=0.9):
    """Share of held-out coverages within +-3 points of the level."""
    return float(np.mean(np.abs(np.asarray(vals) - level) <= 0.03 + 1e-9))


def _position_odds(rs):
    """Per protocol: the product over its cells of the share of held-out
    copies covered within +-3 points at 90 %, and the number of cells."""
    out = {}
    for d, p, r in rs:
        vals = _position_values(r["runs"])
        if vals.size:
            prod, n = out.get(p, (1.0, 0))
            out[p] = (prod * _within(vals), n + 1)
    return out


def write_report(results, path, command):
    ok = [r for r in results if "runs" in r]
    methods = [m for m in list(METHODS) + list(EXTRA) if any(r["method"] == m for r in ok)]
    cells = sorted({(r["dataset"], r["protocol"]) for r in ok},
                   key=lambda c: (c[1] == LORENZ_PROTOCOL, c[1], c[0]))
    by = {(r["method"], r["dataset"], r["protocol"]): r for r in ok}
    L = ["# Calibrated uncertainty: coverage, CRPS and cost", "",
         f"Written by `{command}` (`benchmarks/uncertainty.py`; cache "
         "`benchmarks/uncertainty.json`).", "",
         f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with "
         "other jobs, one thread per method; timings are noisy (the cores were "
         f"busy with other work). {_versions()}.", "",
         "**Protocol.** The seven real data sets of `../shared/data/realts` (first "
         "2000 steps, at most 200 series, z-scored on the truth; mcar@0.2 and "
         "aligned@0.2 of its README) and `sklvar demo`'s Lorenz-63 series (2000 "
         f"steps, z-scored, 30 % missing in blocks of 25 steps: `{LORENZ_PROTOCOL}`). "
         "Every method sees the gappy matrix only. Each gives quantiles of every "
         "gap entry at the 19 levels 0.05, 0.10, ..., 0.95 and the central 50 %, "
         "80 % and 90 % intervals. **Coverage**: fraction of the gap entries whose "
         "truth lies in the interval (target: nominal +-3 points). **CRPS**: "
         "quantile CRPS, 2 x the mean pinball loss over the 19 levels, averaged "
         "over the gap entries, in z-scored units (not normalised by the truth; "
         "the same for every method). Numbers are means over the seeds "
         "(per-seed values in the JSON).", "",
         "**Methods.** `sklvar`: `VariationalImputer(layout=\"series\")` (field "
         "prior chosen on the table's own gaps), intervals from "
         "`predict_quantiles` / `predict_interval` (calibrated at fit on shifted "
         "copies of the table's gaps hidden on observed entries, no truth). "
         "`IterativeImputer posterior`: scikit-learn's `IterativeImputer("
         "sample_posterior=True)` (BayesianRidge, 10 rounds), one fit per draw "
         "with `random_state` 1000 x seed + k, quantiles and intervals from the "
         "empirical quantiles of the draws. `CSDI`: PyPOTS 1.5 CSDI in the "
         "benchmark venv (`benchmarks/peers/csdi_runner.py`), quantiles from its "
         "draws; run where it fits the time budget (see its section).", ""]
    ii_draws = sorted({r["runs"][0]["times"].get("draws") for r in ok
                       if r["method"] == "IterativeImputer posterior"} - {None})
    if ii_draws:
        L += [f"IterativeImputer draws per case: {ii_draws}.", ""]
    for title, keys, fmt in (
        ("Coverage of the 50 / 80 / 90 % intervals", ("cov50", "cov80", "cov90"),
         lambda v: " / ".join(f"{100 * x:.1f}" for x in v)),
        ("CRPS (lower is better)", ("crps",), lambda v: f"{v[0]:.4g}"),
        ("RMSE of the point estimate", ("rmse",), lambda v: f"{v[0]:.4f}"),
    ):
        L += [f"## {title}", "", "| data set | protocol | " + " | ".join(methods) + " |",
              "|---|---|" + "---|" * len(methods)]
        for d, p in cells:
            row = [d, p]
            for m in methods:
                r = by.get((m, d, p))
                row.append(fmt([_mean(r["runs"], k) for k in keys]) if r else "")
            L.append("| " + " | ".join(row) + " |")
        L.append("")
    # summary
    L += ["## Summary", ""]
    for m in methods:
        rs = [by[(m, d, p)] for d, p in cells if (m, d, p) in by]
        if not rs:
            continue
        devs = [abs(_mean(r["runs"], f"cov{int(lv * 100)}") - lv) for r in rs
                for lv in COVERAGE]
        within = sum(dv <= 0.03 for dv in devs)
        crps = np.mean([_mean(r["runs"], "crps") for r in rs])
        L.append(f"- {m}: {len(rs)} cells; seed-mean coverages within +-3 points "
                 f"of nominal: {within} of {len(devs)} (worst deviation "
                 f"{100 * max(devs):.1f} points); mean CRPS {crps:.4f}.")
    for m in methods:
        for proto in sorted({p for _, p in cells}):
            rs = [by[(m, d, p)] for d, p in cells if p == proto and (m, d, p) in by]
            if not rs:
                continue
            devs = [abs(_mean(r["runs"], f"cov{int(lv * 100)}") - lv) for r in rs
                    for lv in COVERAGE]
            L.append(f"  - {m}, {proto}: {sum(dv <= 0.03 for dv in devs)} of "
                     f"{len(devs)} coverages within +-3 points ({len(rs)} cells).")
    if "sklvar" in methods:
        for m in [m for m in methods if not m.startswith("sklvar")]:
            both = [(d, p) for d, p in cells if (m, d, p) in by and ("sklvar", d, p) in by]
            if both:
                wins = sum(_mean(by[("sklvar", d, p)]["runs"], "crps")
                           < _mean(by[(m, d, p)]["runs"], "crps") for d, p in both)
                L.append(f"- sklvar has a lower CRPS than {m} on {wins} of "
                         f"{len(both)} cells.")
    common = [(d, p) for d, p in cells if all((m, d, p) in by for m in methods)]
    if len(methods) > 1 and common:
        L.append(f"- On the {len(common)} cells every method ran: mean CRPS " + ", ".join(
            f"{m} {np.mean([_mean(by[(m, d, p)]['runs'], 'crps') for d, p in common]):.4f}"
            for m in methods) + ".")
    L.append("")
    # sklvar: costs, point estimate, gap dependence
    for m in [m for m in methods if m.startswith("sklvar")]:
        rs = [(d, p, by[(m, d, p)]) for d, p in cells if (m, d, p) in by]
        L += [f"## {m}: cost, point estimate, gap dependence", "",
              "Seconds (seed means): fit (calibration included) / the same fit "
              "without calibration; transform (point) / transform with "
              "`return_std=True` / `predict_quantiles` at 19 levels / one "
              "`predict_interval`; `sample` with 10 and 100 draws. RMSE with and "
              "without the calibration (the same fitted model: the calibration "
              "runs after the fit, on its own random stream). Spread "
              "(`return_std`) next to an observation (distance 1) and 5 or more "
              "steps inside a gap. `rho`: lag-one correlation of the draws' "
              "errors along a gap (mean over the series). Held-out coverage: "
              "8 copies of the table's gaps shifted onto observed entries, the "
              "calibration refitted on 7 and its 90 % interval scored on the "
              "8th (observed data only, all seeds pooled): how much the coverage "
              "of one gap pattern varies with its position in time (min-max, "
              "mean +- standard deviation, and the share of the copies covered "
              "within +-3 points of 90 %). Last column: "
              "the fraction of gap truths inside the 5-95 % range of the 100 "
              "draws of `sample` (should match the 90 % interval's coverage).", "",
              "| data set | protocol | fit / no cal. | transform / std / 19 q / interval "
              "(std / transform) "
              "| sample 10 / 100 | RMSE / no cal. (identical) | std near / far | rho "
              "| held-out 90 % coverage, min-max | 90 % coverage of 100 draws |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        for d, p, r in rs:
            t = {k: _mean([x["times"] for x in r["runs"]], k) for k in r["runs"][0]["times"]}
            same = all(x.get("point_unchanged") for x in r["runs"])
            L.append(
                f"| {d} | {p} | {t['fit']:.2f} / {t['fit_without_calibration']:.2f} | "
                f"{t['transform']:.3f} / {t['transform_std']:.3f} / "
                f"{t['quantiles19']:.3f} / {t['interval']:.3f} "
                f"({t['transform_std'] / t['transform']:.1f}x) | "
                f"{t['sample10']:.3f} / {t['sample100']:.3f} | "
                f"{_mean(r['runs'], 'rmse'):.4f} / "
                f"{_mean(r['runs'], 'rmse_without_calibration'):.4f} "
                f"({'yes' if same else 'NO'}) | "
                f"{_mean(r['runs'], 'std_near'):.3f} / {_mean(r['runs'], 'std_far'):.3f} | "
                f"{_mean(r['runs'], 'rho'):.2f} | {_positions(r['runs'])} | "
                f"{100 * _mean(r['runs'], 'cov90_draws'):.1f} |")
        L.append("")
        odds = _position_odds(rs)
        if odds:
            L.append(
                "If the real gaps were covered like a held-out copy of them, "
                "the chance that every cell's 90 % interval lands within +-3 "
                "points (the product over the cells of the last share of the "
                "held-out column) would be: " + "; ".join(
                    f"{p}: {prod:.3g} ({n} cells)"
                    for p, (prod, n) in sorted(odds.items())) + ".")
            L.append("")
    # peers' times
    for m in [m for m in methods if not m.startswith("sklvar")]:
        rs = [(d, p, by[(m, d, p)]) for d, p in cells if (m, d, p) in by]
        L += [f"## {m}: seconds to produce the draws (seed means)", "",
              "| data set | protocol | seconds |", "|---|---|---|"]
        for d, p, r in rs:
            L.append(f"| {d} | {p} | {_mean([x['times'] for x in r['runs']], 'total'):.1f} |")
        L.append("")
    errors = [r for r in results if "error" in r]
    if errors:
        L += ["## Cells that failed", ""]
        for r in errors:
            L.append(f"- {r['method']} / {r['dataset']} / {r['protocol']}: {r['error']}")
        L.append("")
    notes = HERE / "uncertainty_notes.md"
    if notes.exists():
        L += [notes.read_text().rstrip(), ""]
    Path(path).write_text("\n".join(L))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        method, dataset, protocol, seeds = argv[1:5]
        print(json.dumps(run_cell(method, dataset, protocol,
                                  [int(s) for s in seeds.split(",")])))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--protocols", nargs="+", default=list(PROTOCOLS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--quick", action="store_true",
                   help="etth1 and stock-exchange, seed 0 (a smoke run)")
    p.add_argument("--cache", default=str(HERE / "uncertainty.json"))
    p.add_argument("--out", default=str(HERE / "UNCERTAINTY.md"))
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--extra-cache", nargs="*",
                   default=[str(HERE / "uncertainty_csdi.json")],
                   help="further result caches shown in the report (read only; "
                   "CSDI runs go to their own cache)")
    args = p.parse_args(argv)
    if args.quick:
        args.datasets, args.seeds = ["etth1", "stock-exchange"], [0]
    unknown = set(args.methods) - set(METHODS) - set(EXTRA)
    if unknown:
        p.error(f"unknown methods {sorted(unknown)}; expected among "
                f"{list(METHODS) + list(EXTRA)}")
    cache = Path(args.cache)
    results = json.loads(cache.read_text()) if cache.exists() else []
    if not args.report_only:
        for d in args.datasets:
            for pr in protocols_of(d, args.protocols):
                for m in args.methods:
                    t0 = time.perf_counter()
                    r = spawn_cell(m, d, pr, args.seeds)
                    print(f"{(m, d, pr)}: {time.perf_counter() - t0:.1f} s "
                          + (str(r.get("error")) if "error" in r else " ".join(
                              f"cov90 {x['cov90']:.3f} crps {x['crps']:.4f}"
                              for x in r["runs"])), flush=True)
                    key = (r["method"], r["dataset"], r["protocol"])
                    results = [x for x in results
                               if (x["method"], x["dataset"], x["protocol"]) != key]
                    results.append(r)
                    cache.write_text(json.dumps(results, indent=1))
    command = "python benchmarks/uncertainty.py " + " ".join(argv)
    shown = list(results)
    for extra in args.extra_cache or []:
        if Path(extra).exists() and Path(extra).resolve() != cache.resolve():
            keys = {(x["method"], x["dataset"], x["protocol"]) for x in shown}
            shown += [x for x in json.loads(Path(extra).read_text())
                      if (x["method"], x["dataset"], x["protocol"]) not in keys]
    write_report(shown, args.out, command.strip())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
