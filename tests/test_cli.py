"""The ``sklvar`` command line, called in-process through ``main([...])``."""

import sys

import numpy as np
import pytest

from sklvar.cli import main

FAST = ["--max-epochs", "1", "--n-solver-iter", "2", "--threads", "1"]


@pytest.fixture
def gappy_csv(tmp_path):
    """A small 3-variable series with a time column and 20 % of gaps."""
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    t = np.arange(48)
    X = np.c_[np.sin(t / 4), np.cos(t / 4), np.sin(t / 3)]
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df.insert(0, "time", pd.date_range("2024-01-01", periods=len(t), freq="h"))
    path = tmp_path / "in.csv"
    df.to_csv(path, index=False)
    return path, df


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: sklvar" in capsys.readouterr().err


def test_help_and_version(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("demo", "impute", "benchmark"):
        assert command in out
    assert main(["--version"]) == 0
    assert "sklvar" in capsys.readouterr().out


def test_impute_csv_keeps_time_column(gappy_csv, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    path, df = gappy_csv
    out = tmp_path / "out.csv"
    status = main(["impute", str(path), "-o", str(out), "--time-column", "time",
                   "--window", "16", "--prior", "pca", *FAST])
    assert status == 0, capsys.readouterr().err
    result = pd.read_csv(out)
    assert list(result.columns) == ["time", "a", "b", "c"]
    assert len(result) == len(df)
    assert not result[["a", "b", "c"]].isna().any().any()
    observed = df[["a", "b", "c"]].notna().to_numpy()
    np.testing.assert_allclose(
        result[["a", "b", "c"]].to_numpy()[observed],
        df[["a", "b", "c"]].to_numpy()[observed],
    )
    assert pd.to_datetime(result["time"]).equals(df["time"])
    assert "wrote" in capsys.readouterr().err


def test_impute_rows_as_samples_without_time_column(gappy_csv, tmp_path):
    pd = pytest.importorskip("pandas")
    path, df = gappy_csv
    src = tmp_path / "no_time.csv"
    df.drop(columns="time").to_csv(src, index=False)
    out = tmp_path / "out.csv"
    assert main(["impute", str(src), "-o", str(out), "--window", "0",
                 "--prior", "pca", *FAST]) == 0
    result = pd.read_csv(out)
    assert list(result.columns) == ["a", "b", "c"]
    assert not result.isna().any().any()


def test_impute_parquet(gappy_csv, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    _, df = gappy_csv
    src = tmp_path / "in.parquet"
    df.to_parquet(src, index=False)
    out = tmp_path / "out.parquet"
    assert main(["impute", str(src), "-o", str(out), "--time-column", "time",
                 "--window", "16", "--prior", "pca", *FAST]) == 0
    result = pd.read_parquet(out)
    assert result.index.name == "time"
    assert list(result.columns) == ["a", "b", "c"]
    assert not result.isna().any().any()


@pytest.mark.parametrize(
    "content, args, message",
    [
        (None, [], "no such file"),
        ("", [], "cannot read"),
        ("time,a,b\n1,x,2\n2,,3\n", ["--time-column", "time"],
         "non-numeric column(s) 'a'"),
        ("t,a\n2024-01-01,1\n2024-01-02,\n", [], "use --time-column"),
        ("a,b\n1,2\n3,4\n", [], "no missing value"),
        ("a,b\n,\n,\n", [], "no observed value"),
        ("a,b\n1,2\n,4\n", ["--time-column", "c"], "--time-column 'c' is not a column"),
        ("a,b\n1,2\n,4\n", ["--prior", "nope"], "--prior 'nope' is not available"),
        ("a,b\n1,2\n,4\n", ["--window", "1"], "--window must be 0"),
    ],
    ids=["missing-file", "empty-file", "text-column", "unnamed-time", "no-gaps",
         "no-observations", "unknown-time-column", "unknown-prior", "bad-window"],
)
def test_impute_input_errors(tmp_path, capsys, content, args, message):
    pytest.importorskip("pandas")
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_text(content)
    status = main(["impute", str(path), "-o", str(tmp_path / "out.csv"), *args, *FAST])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("sklvar impute: error: ")
    assert message in err
    assert not (tmp_path / "out.csv").exists()


def test_impute_unavailable_device_is_an_input_error(gappy_csv, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    path, _ = gappy_csv
    status = main(["impute", str(path), "-o", str(tmp_path / "o.csv"),
                   "--time-column", "time", "--device", "cuda", *FAST])
    assert status == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_verbose_training_shows_epoch_log_and_progress_bar(gappy_csv, tmp_path, capsys):
    path, _ = gappy_csv
    assert main(["impute", str(path), "-o", str(tmp_path / "o.csv"),
                 "--time-column", "time", "--window", "16", "--prior", "pca",
                 "--max-epochs", "2", "--n-solver-iter", "2", "--threads", "1",
                 "-v"]) == 0
    captured = capsys.readouterr()
    assert "train_loss" in captured.out  # skorch's per-epoch log (PrintLog)
    assert "it/s" in captured.err  # skorch's ProgressBar (tqdm)


def test_main_restores_torch_threads(gappy_csv, tmp_path, capsys):
    import torch

    torch.set_num_threads(2)  # the caller's count (the seed fixture sets 1)
    path, _ = gappy_csv
    assert main(["impute", str(path), "-o", str(tmp_path / "o.csv"),
                 "--time-column", "time", "--window", "16", "--prior", "pca",
                 "--max-epochs", "1", "--n-solver-iter", "2"]) == 0
    assert "n_threads=1)" in capsys.readouterr().err  # the default, applied
    assert torch.get_num_threads() == 2


def test_every_command_has_the_same_threads_default():
    # Non-regression test for gh-19: impute used torch's default, demo 1
    from sklvar.cli import _DEFAULT_THREADS, _build_parser

    parser = _build_parser()
    commands = (["demo"], ["impute", "in.csv", "-o", "out.csv"],
                ["benchmark", "lorenz63"])
    assert {parser.parse_args(c).threads for c in commands} == {_DEFAULT_THREADS}
    assert _DEFAULT_THREADS == 1


@pytest.mark.parametrize("command", [["demo"], ["impute", "in.csv", "-o", "o.csv"],
                                     ["benchmark", "lorenz63"]])
def test_negative_threads_is_a_usage_error(command, capsys):
    assert main([*command, "--threads", "-1"]) == 2
    assert ("--threads must be 0 (torch's default) or a positive count, got -1."
            in capsys.readouterr().err)


def test_demo_tiny(tmp_path, capsys):
    png = tmp_path / "demo.png"
    status = main(["demo", "--n-steps", "400", "--window", "50", "--max-epochs", "1",
                   "--prior", "pca", "--threads", "1", "-o", str(png)])
    assert status == 0
    out = capsys.readouterr().out
    assert "VariationalImputer" in out and "linear interpolation" in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in out
    else:
        assert png.stat().st_size > 0


def test_demo_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    png = tmp_path / "demo.png"
    status = main(["demo", "--n-steps", "400", "--window", "50", "--max-epochs", "0",
                   "--prior", "pca", "--threads", "1", "-o", str(png)])
    assert status == 0
    assert "matplotlib is not installed" in capsys.readouterr().out
    assert not png.exists()


def test_demo_rejects_short_series(capsys):
    assert main(["demo", "--n-steps", "100", "--window", "50"]) == 2
    assert "too short" in capsys.readouterr().err


def test_benchmark_without_benchmarks_module(monkeypatch, tmp_path, capsys):
    import sklvar.cli as cli

    monkeypatch.setattr(cli, "_load_benchmarks", lambda: None)
    assert main(["benchmark", "lorenz63"]) == 2
    assert "benchmarks are not available" in capsys.readouterr().err


def test_benchmark_calls_run_benchmark(monkeypatch, capsys):
    import types

    import torch

    calls = []

    def run_benchmark(name, quick=False, *, threads=1):
        calls.append((name, quick, threads))
        return "done"

    fake = types.ModuleType("benchmarks.paper")
    fake.run_benchmark = run_benchmark
    monkeypatch.setitem(sys.modules, "benchmarks.paper", fake)
    assert main(["benchmark", "mnist", "--quick"]) == 0
    assert main(["benchmark", "lorenz63", "--threads", "2"]) == 0
    assert main(["benchmark", "lorenz96", "--threads", "0"]) == 0
    assert calls == [("mnist", True, 1), ("lorenz63", False, 2),
                     ("lorenz96", False, torch.get_num_threads())]
    assert "done" in capsys.readouterr().out


def test_benchmark_module_loaded_from_the_current_folder(monkeypatch, tmp_path):
    import importlib

    import sklvar.cli as cli

    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "paper.py").write_text(
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n\n\n"
        "@dataclass\nclass Row:\n    name: str\n\n\n"
        "def run_benchmark(name, quick=False):\n    return Row(name)\n"
    )
    real_import = importlib.import_module

    def no_benchmarks_package(name, *args):
        if name.startswith("benchmarks"):
            raise ModuleNotFoundError(f"No module named {name!r}", name="benchmarks")
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_benchmarks_package)
    monkeypatch.chdir(tmp_path)
    saved = sys.modules.pop("benchmarks.paper", None)
    try:
        module = cli._load_benchmarks()
        assert module.run_benchmark("lorenz63").name == "lorenz63"
        assert module.__file__ == str(tmp_path / "benchmarks" / "paper.py")
    finally:  # leave the real benchmarks.paper (or none) for later tests
        sys.modules.pop("benchmarks.paper", None)
        if saved is not None:
            sys.modules["benchmarks.paper"] = saved


def test_benchmark_rejects_unknown_name(capsys):
    assert main(["benchmark", "cifar"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_python_m_sklvar_runs_the_demo_by_default(monkeypatch):
    import runpy

    import sklvar.cli as cli

    calls = []
    monkeypatch.setattr(cli, "main", lambda argv=None: calls.append(argv) or 0)
    for argv, expected in ([[], ["demo"]], [["impute", "x.csv"], ["impute", "x.csv"]]):
        monkeypatch.setattr(sys, "argv", ["sklvar", *argv])
        with pytest.raises(SystemExit) as exc:
            runpy.run_module("sklvar", run_name="__main__")
        assert exc.value.code == 0
        assert calls[-1] == expected
