"""Smoke tests of benchmarks/paper.py (the reproduction of the paper's tables).

The default test runs a tiny Lorenz-63 version of the quick mode end to end
(every row of Table 2, the baselines, RESULTS.md and the figures) on one
thread in well under a minute. The full quick runs are marked slow.
"""

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPER_PY = ROOT / "benchmarks" / "paper.py"


@pytest.fixture(scope="module")
def paper():
    """The ``papertables`` package, imported as ``benchmarks/paper.py`` does."""
    path = str(ROOT / "benchmarks")
    added = path not in sys.path
    if added:
        sys.path.insert(0, path)
    import papertables
    import papertables.cli
    import papertables.data
    import papertables.report

    yield papertables
    if added:
        sys.path.remove(path)


# A tiny Lorenz-63 configuration: short run, few windows, one epoch, a 2x1 grid.
TINY_L63 = {
    "n_train": 16,
    "n_test": 8,
    "n_steps": 3000,
    "train_range": (0, 2000),
    "test_range": (2000, 3000),
    "batch_size": 8,
    "fsgd": {"ratios": [1.0, 10.0], "steps": [0.3], "n_iter": 30, "n_val": 8},
    "rows": {
        "RK4-LSTM": {"max_epochs": 1, "n_iter": (2, 3)},
        "2S-CNN-LSTM joint": {"max_epochs": 1, "n_iter": (2, 3)},
    },
    "iterative": {"max_iter": 2, "n_nearest_features": 5},
    "knn_neighbors": 3,
}


@pytest.fixture(scope="module")
def tiny_run(paper, tmp_path_factory):
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("bench")
    summary = paper.run_benchmark(
        "lorenz63",
        quick=True,
        out_dir=out,
        threads=1,
        seed=0,
        overrides=TINY_L63,
        verbose=0,
    )
    return out, summary


def _records(results_md):
    match = re.search(r"<!-- sklvar-benchmark-data\n(.*?)\n-->", results_md, re.S)
    assert match, "RESULTS.md lacks its data block"
    return json.loads(match.group(1))


def test_tiny_lorenz63_writes_every_row(tiny_run, paper):
    out, summary = tiny_run
    text = (out / "RESULTS.md").read_text()
    assert "quick mode — not the paper-scale run" in text
    assert "Table 2 — Lorenz-63" in summary
    rec = _records(text)["lorenz63"]
    keys = [r["key"] for r in rec["rows"]]
    assert keys == [
        "RK4-FSGD",
        "RK4-LSTM",
        "2S-CNN-LSTM joint",
        "linear interpolation",
        "KNNImputer",
        "IterativeImputer",
    ]
    for r in rec["rows"]:
        for metric in ("R", "I", "R_paper", "I_paper"):
            assert np.isfinite(r[metric]) and r[metric] >= 0, (r["key"], metric)
        assert r["fit_s"] >= 0 and r["predict_s"] >= 0
        # a Phi exists exactly for the variational rows
        assert (r["P"] is not None) == (r["kind"] in ("variational", "fsgd"))
    # the paper's normaliser (E[x^2]) is larger than the variance for L63
    assert all(r["R_paper"] < r["R"] for r in rec["rows"])
    # machine, versions and seed are recorded
    assert rec["seed"] == 0 and rec["machine"]["cpu_count"] >= 1
    assert set(rec["machine"]["versions"]) == {
        "torch",
        "scikit-learn",
        "numpy",
        "skorch",
        "sklvar",
    }
    assert rec["checks"], "the paper's orderings are checked"


def test_tiny_lorenz63_figures(tiny_run):
    out, _ = tiny_run
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert pngs == [
        "fig1_energy_lorenz63.png",
        "fig3_error_pdf_lorenz63.png",
        "fig_lorenz63_window.png",
    ]
    for name in pngs:
        data = (out / "figures" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) < 300_000


def test_results_sections_are_merged(paper, tmp_path):
    """Each benchmark rewrites its own section of RESULTS.md and keeps the others."""
    machine = {
        "platform": "p",
        "processor": "x",
        "cpu_count": 2,
        "torch_threads": 1,
        "python": "3",
        "versions": {"torch": "t"},
    }
    row = dict(
        key="RK4-LSTM",
        model="L63-RK4",
        joint="No",
        solver="LSTM-S",
        kind="variational",
        note="",
        R=0.1,
        I=0.2,
        P=1e-9,
        R_paper=0.08,
        I_paper=0.1,
        P_paper=1e-9,
        fit_s=1.0,
        predict_s=0.1,
        n_train=4,
    )
    rec = dict(
        mode="quick",
        seed=0,
        command="c",
        date="d",
        machine=machine,
        data="x",
        config={},
        rows=[row],
        checks=[],
        figures=[],
        figure_errors=[],
        total_s=1.0,
    )
    path = tmp_path / "RESULTS.md"
    paper.report.update_results(path, "lorenz63", rec)
    paper.report.update_results(path, "lorenz96", dict(rec, mode="full"))
    paper.report.update_results(path, "lorenz63", dict(rec, seed=3))
    text = path.read_text()
    records = _records(text)
    assert set(records) == {"lorenz63", "lorenz96"}
    assert records["lorenz63"]["seed"] == 3
    assert text.index("Lorenz-63") < text.index("Lorenz-96")
    assert "quick mode — not the paper-scale run** (lorenz63)" in text


def test_paper_script_is_a_thin_entry_point():
    """benchmarks/paper.py (what ``sklvar benchmark`` loads) re-exports the package."""
    spec = importlib.util.spec_from_file_location("paper_script", PAPER_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import papertables
    import papertables.cli

    assert module.run_benchmark is papertables.run_benchmark
    assert module.main is papertables.cli.main
    assert len(PAPER_PY.read_text().splitlines()) < 40


def test_benchmark_modules_have_one_job(paper):
    """The package's modules import downward: configs/data first, cli last."""
    import ast

    order = ["configs", "data", "rows", "report", "figures", "runner", "cli"]
    folder = ROOT / "benchmarks" / "papertables"
    for name in order:
        tree = ast.parse((folder / f"{name}.py").read_text())
        used = {node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level == 1}
        assert all(order.index(m) < order.index(name) for m in used), (name, used)


def test_configs_and_cli(paper):
    assert set(paper.CONFIGS) == set(paper.BENCHMARKS)
    for name in paper.BENCHMARKS:
        for quick in (False, True):
            cfg = paper.get_config(name, quick)
            assert set(cfg["rows"]) <= set(paper.PAPER[name])
    cfg = paper.get_config("mnist", True, {"n_train": 10, "fsgd": {"n_iter": 5}})
    assert cfg["n_train"] == 10 and cfg["fsgd"]["n_iter"] == 5
    assert cfg["fsgd"]["steps"] == paper.CONFIGS["mnist"]["quick"]["fsgd"]["steps"]
    with pytest.raises(ValueError, match="unknown benchmark"):
        paper.get_config("cifar")
    with pytest.raises(SystemExit):
        paper.cli.main(["cifar"])


def test_mnist_path_is_never_downloaded(paper, monkeypatch, tmp_path):
    monkeypatch.setenv("SKLVAR_MNIST", str(tmp_path))
    assert paper.data.mnist_path() == tmp_path
    assert paper.data.mnist_path(tmp_path / "x") == tmp_path  # missing: next one
    monkeypatch.delenv("SKLVAR_MNIST")
    monkeypatch.setattr(paper.data, "REPO_ROOT", tmp_path / "nowhere" / "repo")
    with pytest.raises(FileNotFoundError, match="Nothing is downloaded"):
        paper.data.mnist_path()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lorenz63", "lorenz96", "mnist"])
def test_quick_mode(paper, tmp_path, name):
    """The documented ``--quick`` runs (minutes each)."""
    pytest.importorskip("matplotlib")
    if name == "mnist":
        try:
            paper.data.mnist_path()
        except FileNotFoundError:
            pytest.skip("MNIST files not available")
    paper.run_benchmark(name, quick=True, out_dir=tmp_path, verbose=0)
    rec = _records((tmp_path / "RESULTS.md").read_text())[name]
    assert all(np.isfinite(r["R"]) for r in rec["rows"])
    assert not rec["figure_errors"]


def test_time_to_accuracy_stops_at_budget(tmp_path, monkeypatch):
    """benchmarks/time_to_accuracy.py: the time schedule ends training at the budget."""
    pytest.importorskip("matplotlib")
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "benchmarks_tta", ROOT / "benchmarks" / "time_to_accuracy.py")
    tta = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tta)
    out = tmp_path / "TTA.md"
    budget = 2.0
    assert tta.main(["--budget", str(budget), "--n-train", "64", "--n-test", "16",
                     "--n-eval", "16", "--batch-size", "16", "--threads", "1",
                     "--n-iter", "2,4", "--out", str(out)]) == 0
    text = out.read_text()
    rows = [line.split("|")[1:-1] for line in text.splitlines()
            if re.match(r"\| [0-9.]+ \| \d+ \|", line)]
    assert rows, text
    times = [float(r[2]) for r in rows]
    r_scores = [float(r[3]) for r in rows]
    # the last point is the stop: at the budget (one batch of 16 windows past it
    # at most), with the curriculum at its last count and finite scores
    assert budget <= times[-1] < budget + 1.5
    assert int(rows[-1][1]) == 4
    assert all(np.isfinite(r_scores))
    assert "Final R (paper normalisation) on the 16 test windows" in text
    assert (tmp_path / "figures" / "tta.png").exists()


@pytest.fixture()
def authors(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "benchmarks_authors_l63", ROOT / "benchmarks" / "authors_l63.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_authors_baseline_phi_is_sklvar_phi(authors):
    """The speed baseline's Phi (Conv1d, the authors' layout) computes sklvar's 2S-CNN.

    Copying its weights into ``TwoScaleCNNPrior((3, T))`` gives the same map, so the
    two networks timed by speed.py are the same function (and sklvar's channels-last,
    split-bilinear layout is the authors' network).
    """
    import torch

    from sklvar.priors import TwoScaleCNNPrior

    torch.manual_seed(0)
    theirs = authors.Phi().double()
    ours = TwoScaleCNNPrior((3, 200)).double()
    assert sum(p.numel() for p in theirs.parameters()) == 15300
    assert sum(p.numel() for p in authors.GradUpdate2().parameters()) == 3347
    def conv(w):  # (out, in, k) -> (out, in, 1, k)
        return w.detach().unsqueeze(2)

    with torch.no_grad():
        for branch, p in ((ours.low, ""), (ours.high, "HR")):
            branch[0].conv.weight.copy_(conv(getattr(theirs, f"conv{p}1").weight))
            branch[2].conv.weight.copy_(conv(getattr(theirs, f"conv{p}2").weight))
            branch[3].abc.conv.weight.copy_(torch.cat(
                [conv(getattr(theirs, f"conv{p}2{i}").weight) for i in (1, 2, 3)]))
            branch[4].conv.weight.copy_(conv(getattr(theirs, f"conv{p}3").weight))
        ours.up.weight.copy_(conv(theirs.conv2Tr.weight))
    x = torch.randn(4, 3, 200, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-10, atol=1e-10)


def test_authors_baseline_trains(authors):
    """Training steps of the baseline (second-order backward) move the loss."""
    import torch

    torch.set_num_threads(1)
    train_step, eval_step = authors.build(batch=4, n_iter=2, length=40)
    before = eval_step()
    losses = [train_step() for _ in range(3)]
    assert np.isfinite(losses).all() and np.isfinite(before)
    assert eval_step() != before


def _load_script(name):
    spec = importlib.util.spec_from_file_location(
        f"benchmarks_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_threads_section_survives_a_speed_rewrite(tmp_path):
    """threads.py replaces its SPEED.md section; speed.py keeps it when rewriting."""
    threads, speed = _load_script("threads"), _load_script("speed")
    path = tmp_path / "SPEED.md"
    path.write_text("# sklvar speed\n\n## Training\n\n| a |\n")
    threads.write_section(path, threads.SECTION + "\n\nfirst\n")
    threads.write_section(path, threads.SECTION + "\n\nsecond\n")
    text = path.read_text()
    assert text.count(threads.SECTION) == 1 and "second" in text
    assert "first" not in text and text.startswith("# sklvar speed\n\n## Training")
    kept = speed._kept_sections(path)
    assert kept == "\n" + threads.SECTION + "\n\nsecond\n"
    assert threads.SECTION in speed._KEPT
    # the hand-written section of the 2-D path (issue 18) is kept as well
    path.write_text(path.read_text() + "\n" + speed._KEPT[1] + "\n\nnotes\n")
    assert speed._kept_sections(path).endswith(speed._KEPT[1] + "\n\nnotes\n")


def test_run_benchmark_needs_an_out_dir(paper):
    # issue 15: no run overwrites the committed benchmarks/RESULTS.md by default
    with pytest.raises(ValueError, match="out_dir is required"):
        paper.run_benchmark("lorenz63", quick=True)
    with pytest.raises(SystemExit):
        paper.cli.main(["lorenz63", "--quick"])


def test_missing_matplotlib_fails_before_the_run(paper, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="figures=True needs matplotlib"):
        paper.run_benchmark("lorenz63", quick=True, out_dir=tmp_path)
    assert not any(tmp_path.iterdir())
