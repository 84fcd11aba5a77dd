"""Write ``REAL_DATA.md`` from the cached cell results."""

import platform
import statistics
from importlib import metadata

from .data import DATASETS, PROTOCOLS

CLASSICAL = ("linear interpolation", "KNNImputer", "IterativeImputer", "SoftImpute")


def _machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = []
    for pkg in ("sklvar", "torch", "scikit-learn", "numpy", "scipy"):
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            pass
    return model, ", ".join(versions)


def _mean(cell, key):
    return statistics.fmean(r[key] for r in cell["runs"])


def summarise(results, methods, protocol):
    """Per-method summary of one protocol: mean rank, wins, worst ratio..."""
    cells = {(r["method"], r["dataset"]): r for r in results
             if r["protocol"] == protocol and "runs" in r}
    failed = {(r["method"], r["dataset"]) for r in results
              if r["protocol"] == protocol and "error" in r}
    # a data set counts when every method ran or failed there; a failed cell
    # ranks last and its ratio is infinite
    datasets = [d for d in DATASETS
                if all((m, d) in cells or (m, d) in failed for m in methods)
                and any((m, d) in cells for m in methods)]
    ranks = {m: [] for m in methods}
    wins = {m: 0 for m in methods}
    ratio = {m: [] for m in methods}
    for d in datasets:
        rmse = {m: _mean(cells[(m, d)], "rmse") if (m, d) in cells
                else float("inf") for m in methods}
        order = sorted(methods, key=rmse.get)
        for i, m in enumerate(order):
            # ties (equal to 4 digits) share the better rank
            tied = [o for o in order if round(rmse[o], 4) == round(rmse[m], 4)]
            ranks[m].append(min(order.index(o) for o in tied) + 1)
        wins[order[0]] += 1
        classical = [rmse[m] for m in methods if m in CLASSICAL]
        best_classical = min(classical) if classical else float("nan")
        for m in methods:
            ratio[m].append(rmse[m] / best_classical)
    out = {}
    for m in methods:
        secs = [r["seconds"] for d in datasets if (m, d) in cells
                for r in cells[(m, d)]["runs"]]
        out[m] = {
            "mean_rank": statistics.fmean(ranks[m]) if ranks[m] else float("nan"),
            "wins": wins[m],
            "worst_ratio": max(ratio[m]) if ratio[m] else float("nan"),
            "median_seconds": statistics.median(secs) if secs else float("nan"),
            "max_seconds": max(secs) if secs else float("nan"),
            "peak_rss_mb": max((cells[(m, d)]["peak_rss_mb"] for d in datasets
                                if (m, d) in cells), default=float("nan")),
        }
    return datasets, cells, out


def write(results, methods, path, *, command, seeds, extra_methods=()):
    model, versions = _machine()
    lines = [
        "# Real multivariate series: sklvar against classical and deep imputers",
        "",
        f"Command: `{command}`  ",
        f"Machine: {model}, 1 torch / BLAS thread per worker process.  ",
        f"Versions: {versions}.  ",
        f"Seeds: {', '.join(str(s) for s in seeds)} (gap draws and every method).",
        "",
        "Protocol of `../shared/data/realts/README.md`: first 2000 steps, at most 200 "
        "series, each series z-scored on its complete truth, then gaps cut; RMSE and "
        "MAE on the cut entries, in z-scored units, mean over the seeds. Every method "
        "sees only the gappy matrix (no truth for training, tuning or stopping). "
        "`aligned@0.2` cuts the same block for every seed (the protocol has no "
        "randomness), so its seeds differ only in the methods' own randomness.",
        "",
        "Methods: **sklvar** = `VariationalImputer(layout=\"series\")` (what "
        "`sklvar impute` runs with no option: field prior over time x series, "
        "model chosen on held-out observed entries, exact fixed point); "
        "**sklvar field(1)** = `prior=\"field\"`, order 1, one model, no choice; "
        "linear interpolation along time; scikit-learn's `KNNImputer` and "
        "`IterativeImputer` with their defaults; SoftImpute (shrinkage = largest "
        "singular value / 50, fancyimpute's default); PyPOTS SAITS and BRITS (windows "
        "of 48, 100 epochs, trained self-supervised on the gappy matrix, separate "
        "venv, `benchmarks/peers/`).",
        "",
    ]
    for protocol in PROTOCOLS:
        if not methods:
            break
        datasets, cells, summ = summarise(results, methods, protocol)
        if not datasets:
            continue
        lines += [f"## {protocol}", "", "RMSE (MAE) on the gaps; best RMSE in bold.", ""]
        lines.append("| data set | " + " | ".join(methods) + " |")
        lines.append("|---" * (len(methods) + 1) + "|")
        for d in datasets:
            rmse = {m: _mean(cells[(m, d)], "rmse") if (m, d) in cells
                    else float("inf") for m in methods}
            best = min(rmse.values())
            row = []
            for m in methods:
                if (m, d) not in cells:
                    row.append("failed")
                    continue
                txt = f"{rmse[m]:.4f} ({_mean(cells[(m, d)], 'mae'):.4f})"
                row.append(f"**{txt}**" if rmse[m] == best else txt)
            lines.append(f"| {d} | " + " | ".join(row) + " |")
        lines += ["", "| method | mean RMSE rank | best on | worst RMSE / best classical "
                  "| median fit+transform s | max s | peak RSS MB |",
                  "|---|---|---|---|---|---|---|"]
        for m in methods:
            s = summ[m]
            lines.append(
                f"| {m} | {s['mean_rank']:.2f} | {s['wins']}/{len(datasets)} | "
                f"{s['worst_ratio']:.3f} | {s['median_seconds']:.2f} | "
                f"{s['max_seconds']:.1f} | {s['peak_rss_mb']:.0f} |"
            )
        lines.append("")
    extra = [r for r in results if r["method"] in extra_methods and "runs" in r]
    if extra:
        lines += ["## Outside the ranking", "",
                  "| method | protocol | data set | seeds | RMSE | MAE | seconds |",
                  "|---|---|---|---|---|---|---|"]
        for r in sorted(extra, key=lambda r: (r["method"], r["protocol"], r["dataset"])):
            lines.append(
                f"| {r['method']} | {r['protocol']} | {r['dataset']} | "
                f"{','.join(str(x['seed']) for x in r['runs'])} | "
                f"{_mean(r, 'rmse'):.4f} | {_mean(r, 'mae'):.4f} | "
                f"{_mean(r, 'seconds'):.1f} |"
            )
        lines.append("")
    errors = [r for r in results if "error" in r]
    if errors:
        lines += ["## Failed cells", ""]
        lines += [f"- {r['method']} / {r['dataset']} / {r['protocol']}: {r['error']}"
                  for r in errors]
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))
