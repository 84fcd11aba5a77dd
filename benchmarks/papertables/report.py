"""RESULTS.md: the machine, the tables, the paper's orderings, the data block."""

import contextlib
import json
import os
import platform
import re
from pathlib import Path

import numpy as np

from .configs import BENCHMARKS, PAPER, REFERENCE_LINEAR

def machine_info(threads):
    import sklearn
    import skorch
    import torch

    import sklvar

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "python": platform.python_version(),
        "versions": {
            "torch": torch.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "skorch": skorch.__version__,
            "sklvar": sklvar.__version__,
        },
    }


ORDERING = {
    "mnist": [
        ("PCA: LSTM-S better than FSGD (I)", "PCA-LSTM", "PCA-FSGD", "I"),
        (
            "AE: LSTM-S (sequential) better than FP(1) (I)",
            "AE-LSTM seq",
            "AE-FP(1)",
            "I",
        ),
        (
            "2S-CNN: LSTM-S better than FP(1) (I)",
            "2S-CNN-LSTM joint",
            "2S-CNN-FP(1)",
            "I",
        ),
        (
            "joint 2S-CNN-LSTM better than PCA-LSTM (I)",
            "2S-CNN-LSTM joint",
            "PCA-LSTM",
            "I",
        ),
        ("joint 2S-CNN-LSTM best of all rows (I)", "2S-CNN-LSTM joint", "*", "I"),
        ("PCA-LSTM better than AE-LSTM seq (I)", "PCA-LSTM", "AE-LSTM seq", "I"),
    ],
    "lorenz63": [
        ("RK4: LSTM-S better than FSGD (R)", "RK4-LSTM", "RK4-FSGD", "R"),
        (
            "joint 2S-CNN-LSTM better than RK4-LSTM (R)",
            "2S-CNN-LSTM joint",
            "RK4-LSTM",
            "R",
        ),
        ("joint 2S-CNN-LSTM best of all rows (R)", "2S-CNN-LSTM joint", "*", "R"),
        (
            "RK4-FSGD better than linear interpolation (R)",
            "RK4-FSGD",
            "linear interpolation",
            "R",
        ),
    ],
}
ORDERING["lorenz96"] = ORDERING["lorenz63"]


def ordering_checks(name, rows):
    """The paper's orderings, checked on our numbers: list of (text, holds, detail)."""
    res = {r["key"]: r for r in rows}
    checks = []
    for text, a, b, metric in ORDERING[name]:
        if a not in res:
            continue
        va = res[a][metric]
        if b == "*":
            others = {k: r[metric] for k, r in res.items() if k != a}
            best = min(others, key=others.get)
            holds = va < others[best]
            detail = f"{a} {va:.3g} vs best other {best} {others[best]:.3g}"
        elif b in res:
            vb = res[b][metric]
            holds = va < vb
            detail = f"{va:.3g} vs {vb:.3g}"
        else:
            continue
        checks.append((text, bool(holds), detail))
    return checks


def fmt(v, digits=3):
    if v is None:
        return "–"
    if isinstance(v, float) and (abs(v) >= 1e3 or (v != 0 and abs(v) < 1e-2)):
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _secs(v):
    return "–" if v is None else (f"{v:.1f}" if v < 100 else f"{v:.0f}")


def render_section(name, rec):
    """Markdown of one benchmark's results."""
    title = {
        "mnist": "Table 1 — MNIST inpainting",
        "lorenz63": "Table 2 — Lorenz-63",
        "lorenz96": "Table 2 — Lorenz-96",
    }[name]
    mode = (
        "**quick mode — not the paper-scale run**"
        if rec["mode"] == "quick"
        else "full configuration (README plan)"
    )
    m = rec["machine"]
    lines = [
        f"## {title}",
        "",
        f"{mode}. Written {rec['date']} by `{rec['command']}` in "
        f"{_secs(rec['total_s'])} s; seed {rec['seed']}; "
        f"{m['torch_threads']} torch thread(s) on {m['platform']} "
        f"({m['cpu_count']} CPUs); learned and FSGD rows on device "
        f"{rec.get('config', {}).get('device', 'cpu')}. Learned rows with a time "
        "budget train on the estimator's max_time (cosine learning rate, "
        "curriculum, stop at the budget; their budgets are in the notes): "
        "\"epochs\" is what the budget allowed, fractional when it stopped "
        "an epoch.",
        "",
        f"Data: {rec['data']}",
        "",
    ]
    rows = rec["rows"]
    if name == "mnist":
        lines += [
            "Scores normalised by sigma^2, the pixel variance of the training "
            "images (the paper's normalisation); ours / paper.",
            "",
            "| Row | Φ | Joint | Solver | R | R paper | I | I paper | P | P paper "
            "| train s | infer s | epochs | n train |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            p = PAPER[name].get(r["key"], {})
            lines.append(
                f"| {r['key']} | {r['model']} | {r['joint']} | {r['solver']} | "
                f"{fmt(r['R'])} | "
                f"{fmt(p.get('R'))} | {fmt(r['I'])} | {fmt(p.get('I'))} | "
                f"{fmt(r['P'])} | {fmt(p.get('P'))} | {_secs(r['fit_s'])} | "
                f"{_secs(r['predict_s'])} | {r.get('epochs', '–')} | {r['n_train']} |"
            )
    else:
        lines += [
            "R/P (paper norm.): MSE divided by the uncentred second moment of the "
            "observed training states, as in the paper's Table 2 (benchmarks/README.md). "
            "R/I/P (σ²): divided by the variance of the true training states.",
            "",
            "| Row | Φ | Joint | Solver | R (paper norm.) | R paper | "
            "P (paper norm.) | P paper | R (σ²) | I (σ²) | P (σ²) | train s | "
            "infer s | epochs | n train |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            p = PAPER[name].get(r["key"], {})
            paper_r = p.get("R")
            if r["key"] == "linear interpolation":
                paper_r_txt = f"({fmt(REFERENCE_LINEAR[name])}†)"
            else:
                paper_r_txt = fmt(paper_r)
            lines.append(
                f"| {r['key']} | {r['model']} | {r['joint']} | {r['solver']} | "
                f"{fmt(r['R_paper'])} | "
                f"{paper_r_txt} | {fmt(r['P_paper'])} | {fmt(p.get('P'))} | "
                f"{fmt(r['R'])} | {fmt(r['I'])} | {fmt(r['P'])} | "
                f"{_secs(r['fit_s'])} | {_secs(r['predict_s'])} | "
                f"{r.get('epochs', '–')} | {r['n_train']} |"
            )
        lines += [
            "",
            "† not in the paper: linear interpolation re-run under the "
            "authors' protocol (benchmarks/README.md).",
        ]
    notes = [f"- **{r['key']}**: {r['note']}" for r in rows if r.get("note")]
    if notes:
        lines += ["", "Notes:", *notes]
    checks = rec.get("checks", [])
    if checks:
        lines += ["", "Orderings reported by the paper, on our numbers:", ""]
        lines += [
            f"- {'holds' if ok else '**does not hold**'}: {text} — {detail}"
            for text, ok, detail in checks
        ]
    if rec.get("figures"):
        lines += ["", "Figures: " + ", ".join(f"[`{f}`]({f})" for f in rec["figures"])]
    if rec.get("figure_errors"):
        lines += ["", "Figure errors: " + "; ".join(rec["figure_errors"])]
    lines.append("")
    return "\n".join(lines)


_DATA_RE = re.compile(r"<!-- sklvar-benchmark-data\n(.*?)\n-->", re.S)


def render_results(records):
    """The whole RESULTS.md from the records of the benchmarks run so far."""
    quick = [n for n in BENCHMARKS if n in records and records[n]["mode"] == "quick"]
    lines = [
        "# Benchmark results: Fablet, Drumetz & Rousseau (2020), Tables 1 and 2",
        "",
    ]
    if quick:
        lines += [
            f"> **quick mode — not the paper-scale run** ({', '.join(quick)}): "
            "small data and a few epochs, a smoke test of the pipeline. The numbers "
            "say nothing about the method; see README.md for the full run.",
            "",
        ]
    lines += [
        "Written by `benchmarks/paper.py` (do not edit by hand: each run rewrites "
        "its own section and keeps the others). Protocols, choices and the "
        "full-run plan: [README.md](README.md).",
        "",
    ]
    any_rec = next(iter(records.values()), None)
    if any_rec is not None:
        m = any_rec["machine"]
        v = ", ".join(f"{k} {val}" for k, val in m["versions"].items())
        lines += [
            f"Machine: {m['platform']}, {m['processor']}, {m['cpu_count']} CPUs, "
            f"Python {m['python']}. Versions: {v}.",
            "",
        ]
    for name in BENCHMARKS:
        if name in records:
            lines.append(render_section(name, records[name]))
    payload = json.dumps(records, indent=1, sort_keys=True, default=float)
    lines += ["<!-- sklvar-benchmark-data", payload, "-->", ""]
    return "\n".join(lines)


@contextlib.contextmanager
def _locked(path):
    """Open ``path`` for read/write under an exclusive lock (POSIX only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows
            pass
        yield fh


def update_results(path, name, record):
    """Replace the section of ``name`` in RESULTS.md, keeping the others."""
    path = Path(path)
    with _locked(path) as fh:
        fh.seek(0)
        match = _DATA_RE.search(fh.read())
        records = json.loads(match.group(1)) if match else {}
        records[name] = record
        fh.seek(0)
        fh.truncate()
        fh.write(render_results(records))
    return records
