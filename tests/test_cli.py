"""The ``sklvar`` command line, called in-process through ``main([...])``."""

import pathlib
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
    for command in ("demo", "impute"):
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
        # an ISO first column is detected (issue 15); a later one is not
        ("a,t\n1,2024-01-01\n,2024-01-02\n", [], "use --time-column"),
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
    commands = (["demo"], ["impute", "in.csv", "-o", "out.csv"])
    assert {parser.parse_args(c).threads for c in commands} == {_DEFAULT_THREADS}
    assert _DEFAULT_THREADS == 1


@pytest.mark.parametrize("command", [["demo"], ["impute", "in.csv", "-o", "o.csv"]])
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


def test_benchmark_is_not_an_installed_command(capsys):
    # issue 15: the benchmarks run from a checkout (python benchmarks/paper.py)
    assert main(["benchmark", "lorenz63"]) == 2
    assert "invalid choice: 'benchmark'" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "benchmarks/paper.py NAME --out DIR" in " ".join(
        capsys.readouterr().out.split())


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


# ----------------------------------------------- issue 15: never lie or destroy
def test_impute_refuses_to_overwrite_its_input(gappy_csv, capsys):
    path, _ = gappy_csv
    before = path.read_bytes()
    assert main(["impute", str(path), "-o", str(path), *FAST]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_impute_overwrites_its_input_with_force(gappy_csv, capsys):
    pd = pytest.importorskip("pandas")
    path, _ = gappy_csv
    assert main(["impute", str(path), "-o", str(path), "--force", *FAST]) == 0
    assert not pd.read_csv(path).isna().any().any()


def test_impute_detects_an_iso_time_column(gappy_csv, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    path, df = gappy_csv
    out = tmp_path / "out.csv"
    assert main(["impute", str(path), "-o", str(out), *FAST]) == 0
    assert "'time' holds ISO time stamps" in capsys.readouterr().err
    result = pd.read_csv(out)
    assert list(result.columns) == ["time", "a", "b", "c"]
    assert pd.to_datetime(result["time"]).equals(df["time"])


def test_impute_of_a_directory_says_so(tmp_path, capsys):
    assert main(["impute", str(tmp_path), "-o", str(tmp_path / "o.csv")]) == 2
    assert "it is a directory; expected a CSV or Parquet file" in \
        capsys.readouterr().err


def test_interrupted_impute_exits_130_and_writes_nothing(gappy_csv, tmp_path,
                                                          monkeypatch, capsys):
    from sklvar import VariationalImputer

    def interrupted(self, X, y=None, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(VariationalImputer, "fit_transform", interrupted)
    path, _ = gappy_csv
    out = tmp_path / "out.csv"
    assert main(["impute", str(path), "-o", str(out), *FAST]) == 130
    assert "interrupted; no output written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_failed_write_leaves_no_partial_file(gappy_csv, tmp_path, monkeypatch,
                                             capsys):
    pd = pytest.importorskip("pandas")
    path, _ = gappy_csv
    out = tmp_path / "out.csv"
    out.write_text("previous\n")

    def broken(self, target, *args, **kwargs):
        pathlib.Path(target).write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    assert main(["impute", str(path), "-o", str(out), *FAST]) == 2
    assert "disk full" in capsys.readouterr().err
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_epoch_log_has_no_colour_codes_when_piped(capsys):
    from sklvar.net import print_log_sink

    print_log_sink("\x1b[36mtrain_loss\x1b[0m")
    assert capsys.readouterr().out == "train_loss\n"


def test_sigint_during_training_exits_130_without_output(gappy_csv, tmp_path):
    # end to end: a real SIGINT to a real process, during skorch's epochs
    import os
    import signal
    import subprocess
    import time

    path, _ = gappy_csv
    out = tmp_path / "out.csv"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(pathlib.Path(__file__).resolve().parents[1]),
         os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sklvar", "impute", str(path), "-o", str(out),
         "--window", "16", "--prior", "pca", "--max-epochs", "100000",
         "--n-solver-iter", "2", "-v"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "train_loss" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()  # the epoch log: training has begun
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted (Ctrl-C) at epoch" in err
    assert "no output written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
