"""Scale-out on dask (issue 17): chunked transform, sampling, searches on a cluster."""

import subprocess
import sys

import numpy as np
import pytest

from sklvar import VariationalImputer


def _series(n=600, seed=0, missing=0.3):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 3)).cumsum(0)
    X[rng.uniform(size=X.shape) < missing] = np.nan
    return X


# ------------------------------------------------------------ optional import
def test_import_sklvar_does_not_import_dask():
    code = (
        "import sys, numpy as np, sklvar, sklvar.dask;"
        "from sklvar import VariationalImputer;"
        "X = np.random.RandomState(0).normal(size=(60, 2)); X[::5, 0] = np.nan;"
        "VariationalImputer(prior='pca', window=10, max_epochs=0).fit_transform(X);"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('dask', 'distributed', 'zarr'));"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_dask_names_the_extra():
    # dask made unimportable: the helpers say which extra to install
    code = (
        "import sys; sys.modules['dask'] = None; sys.modules['dask.array'] = None;"
        "import sklvar.dask\n"
        "try:\n"
        "    sklvar.dask.transform(None, None)\n"
        "except ImportError as exc:\n"
        "    assert 'pip install \"sklvar[dask]\"' in str(exc), exc\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------- chunked transform
da = pytest.importorskip("dask.array")

WINDOW = 40


@pytest.fixture(scope="module")
def windowed():
    """A windowed model whose overlap (window + 3 strides) is small."""
    X = _series()
    imp = VariationalImputer(prior="cnn", solver="lstm", window=WINDOW, stride=15,
                             n_solver_iter=3, max_epochs=1, batch_size=4,
                             random_state=0).fit(X)
    # groups of 6 windows per model call: exercises cutting at the groups of
    # the whole series inside a block
    imp._transform_chunk = 6
    return imp, X, imp.transform(X)


@pytest.mark.parametrize("chunk", [WINDOW, WINDOW + 1, 57, 100, 333, 599, 600, 900])
def test_dask_transform_equals_in_memory(windowed, chunk):
    imp, X, expected = windowed
    X_dask = da.from_array(X, chunks=(chunk, 3))
    out = imp.transform(X_dask)
    assert isinstance(out, da.Array)
    assert out.chunks[0] == X_dask.chunks[0]
    result = out.compute(scheduler="sync")
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-6)
    assert result.dtype == expected.dtype


def test_dask_transform_uneven_chunks_property(windowed):
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    imp, X, expected = windowed

    @hypothesis.settings(max_examples=8, deadline=None, database=None)
    @hypothesis.given(st.lists(st.integers(WINDOW, 250), min_size=1, max_size=12))
    def check(sizes):
        chunks, total = [], 0
        for s in sizes:
            if total + s >= len(X):
                break
            chunks.append(s)
            total += s
        chunks.append(len(X) - total)  # the last chunk may be shorter
        out = imp.transform(da.from_array(X, chunks=(tuple(chunks), 3)))
        np.testing.assert_allclose(out.compute(scheduler="sync"), expected,
                                   rtol=0, atol=1e-6)

    check()


def test_dask_transform_mask_indicator_and_dtype():
    X = _series(300).astype(np.float32)
    mask = ~np.isnan(X)
    mask[::7, 1] = False  # hide some observed entries through the mask
    imp = VariationalImputer(prior="pca", window=30, max_epochs=1, batch_size=4,
                             add_indicator=True, keep_observed=False,
                             random_state=0).fit(X)
    expected = imp.transform(X, mask=mask)
    before = X.copy()
    out = imp.transform(da.from_array(X, chunks=(70, 2)),
                        mask=da.from_array(mask, chunks=(50, 3)))
    result = out.compute(scheduler="sync")
    assert result.shape == expected.shape and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(X, before)  # input untouched
    # a numpy mask is accepted too
    result = imp.transform(da.from_array(X, chunks=70), mask=mask).compute()
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-6)


def test_dask_transform_rows_as_samples():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 6))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    imp = VariationalImputer(prior="pca", solver="gd", max_epochs=1,
                             random_state=0).fit(X)
    result = imp.transform(da.from_array(X, chunks=(33, 4))).compute()
    np.testing.assert_allclose(result, imp.transform(X), rtol=0, atol=1e-6)


def test_dask_transform_short_series_is_one_window(windowed):
    imp, X, _ = windowed
    short = X[:WINDOW - 5]
    out = imp.transform(da.from_array(short, chunks=10)).compute()
    np.testing.assert_allclose(out, imp.transform(short), rtol=0, atol=1e-6)


def test_dask_transform_errors(windowed):
    imp, X, _ = windowed
    with pytest.raises(ValueError, match="expecting 3 features"):
        imp.transform(da.from_array(X[:, :2], chunks=100))
    with pytest.raises(ValueError, match="2-D dask array"):
        imp.transform(da.from_array(X[:, 0], chunks=100))
    unknown = da.from_array(X, chunks=100)
    unknown = unknown[unknown[:, 0] > -1e9]
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        imp.transform(unknown)
    with pytest.raises(ValueError, match="mask must be a boolean array"):
        imp.transform(da.from_array(X, chunks=100), mask=np.ones(X.shape))
    bad = X.copy()
    bad[3, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        imp.transform(da.from_array(bad, chunks=100)).compute()
    from sklvar.dask import transform

    with pytest.raises(TypeError, match="must be a dask array"):
        transform(imp, X)


def test_dask_transform_output_config_and_dataframe_refused(windowed):
    import copy

    imp, X, _ = windowed
    pandas_out = copy.deepcopy(imp).set_output(transform="pandas")
    with pytest.raises(ValueError, match="set_output.*does not apply to dask"):
        pandas_out.transform(da.from_array(X, chunks=100))
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    frame = dd.from_pandas(pd.DataFrame(X), npartitions=2)
    with pytest.raises(TypeError, match="to_dask_array"):
        imp.transform(frame)


def test_dask_transform_dictionary_imputer():
    from sklvar import DictionaryImputer

    X = _series(500)
    imp = DictionaryImputer(n_components=4, window=30, random_state=0).fit(X)
    imp._transform_chunk = 5  # small groups: overlaps of a few groups
    expected = imp.transform(X)
    for chunk in (30, 77, 200):
        result = imp.transform(da.from_array(X, chunks=(chunk, 3))).compute()
        np.testing.assert_allclose(result, expected, rtol=0, atol=1e-6)


def test_dask_transform_series_table_refused():
    X = _series(200)
    imp = VariationalImputer(layout="series", random_state=0).fit(X)
    with pytest.raises(ValueError, match="layout_.kind='table'.*window="):
        imp.transform(da.from_array(X, chunks=50))


# ------------------------------------------------------------- fit on a sample
def test_sample_series_and_fit_on_sample():
    from sklvar.dask import sample_series

    X = _series(2000)
    X_dask = da.from_array(X, chunks=300)
    sample = sample_series(X_dask, 500, n_segments=3, random_state=0)
    assert isinstance(sample, np.ndarray) and sample.shape == (500, 3)
    np.testing.assert_array_equal(
        sample, sample_series(X, 500, n_segments=3, random_state=0))
    # one segment: a contiguous run of rows of X
    one = sample_series(X_dask, 400, random_state=1)
    matches = [s for s in range(len(X) - 399)
               if np.array_equal(X[s:s + 400], one, equal_nan=True)]
    assert len(matches) == 1
    imp = VariationalImputer(prior="pca", window=40, max_epochs=1,
                             random_state=0).fit(sample)
    out = imp.transform(X_dask).compute()
    assert out.shape == X.shape and np.isfinite(out).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_rows=0), "n_rows must be an int >= 1"),
    (dict(n_rows=2.5), "n_rows must be an int >= 1"),
    (dict(n_rows=5000), "more than the 2000 rows"),
    (dict(n_rows=10, n_segments=11), "n_segments=11 is more than n_rows=10"),
    (dict(n_rows=10, n_segments=0), "n_segments must be an int >= 1"),
])
def test_sample_series_errors(kwargs, match):
    from sklvar.dask import sample_series

    with pytest.raises(ValueError, match=match):
        sample_series(_series(2000), **kwargs)


# ----------------------------------------------------------------- command line
def _parquet_file(path, n=1000):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    X = _series(n, missing=0.2)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["d"] = np.arange(n)  # complete integer column: kept with its dtype
    df.insert(0, "time", pd.date_range("2024-01-01", periods=n, freq="h")
              .strftime("%Y-%m-%dT%H:%M:%S"))
    df.to_parquet(path, index=False, row_group_size=128)
    return df


def test_cli_chunk_rows_equals_whole_file(tmp_path):
    pd = pytest.importorskip("pandas")
    from sklvar.cli import main

    src = tmp_path / "in.parquet"
    _parquet_file(src)
    args = ["impute", str(src), "--window", "40", "--max-epochs", "1",
            "--n-solver-iter", "3"]
    assert main(args + ["-o", str(tmp_path / "whole.parquet")]) == 0
    # fitted on the whole file (--fit-rows = its length): same model, same output
    assert main(args + ["-o", str(tmp_path / "blocks.parquet"), "--chunk-rows",
                        "300", "--fit-rows", "1000"]) == 0
    whole = pd.read_parquet(tmp_path / "whole.parquet")
    blocks = pd.read_parquet(tmp_path / "blocks.parquet")
    pd.testing.assert_frame_equal(blocks, whole, rtol=0, atol=1e-6)
    assert blocks["d"].dtype == np.int64 and blocks.index.name == "time"
    # a sample of the file to fit on
    assert main(args + ["-o", str(tmp_path / "sample.parquet"), "--chunk-rows",
                        "250", "--fit-rows", "400"]) == 0
    sample = pd.read_parquet(tmp_path / "sample.parquet")
    assert sample.shape == whole.shape and not sample.isna().any().any()


@pytest.mark.parametrize("extra, match", [
    (["--window", "40"], "reads and writes Parquet"),
    ([], "--chunk-rows needs --window"),
    (["--window", "400"], "longer than --chunk-rows"),
])
def test_cli_chunk_rows_errors(tmp_path, capsys, extra, match):
    from sklvar.cli import main

    src = tmp_path / "in.parquet"
    _parquet_file(src, 300)
    out = "out.csv" if "Parquet" in match else "out.parquet"
    status = main(["impute", str(src), "-o", str(tmp_path / out),
                   "--chunk-rows", "100"] + extra)
    assert status == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / out).exists()


# ------------------------------------------------- hyper-parameter search on dask
@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  processes=True, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_search_on_local_cluster_equals_serial(dask_client):
    from joblib import parallel_config
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    X = _series(400, seed=1)
    base = VariationalImputer(prior="pca", solver="gd", window=40, max_epochs=2,
                              batch_size=16, random_state=0, n_threads=1)
    grid = {"lambda_prior": [0.5, 2.0], "n_solver_iter": [2, 5],
            "prior": ["pca", "ae"]}
    searches = [
        lambda: GridSearchCV(base, grid, cv=2),
        lambda: RandomizedSearchCV(base, grid, n_iter=3, cv=2, random_state=0),
    ]
    for make in searches:
        serial = make().fit(X)
        with parallel_config(backend="dask"):
            on_cluster = make().fit(X)
        assert on_cluster.best_params_ == serial.best_params_
        np.testing.assert_allclose(on_cluster.cv_results_["mean_test_score"],
                                   serial.cv_results_["mean_test_score"],
                                   rtol=1e-6)
    # the tasks ran on the workers (2 processes, not this one)
    assert len(dask_client.scheduler_info()["workers"]) == 2


def test_cli_chunk_rows_with_a_client_active(dask_client, tmp_path):
    # the blocks read the open file of the command's process: they are
    # computed there even when a distributed client is the default
    from sklvar.cli import main

    src = tmp_path / "in.parquet"
    _parquet_file(src, 400)
    assert main(["impute", str(src), "-o", str(tmp_path / "out.parquet"),
                 "--window", "40", "--max-epochs", "1", "--n-solver-iter", "2",
                 "--chunk-rows", "150"]) == 0


# ------------------------------------------------------------------ benchmarks
def _load_benchmark(name):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    if not path.is_file():
        pytest.skip("no benchmarks/ folder (installed package)")
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_multi_gpu_script_exits_cleanly_without_gpus(capsys):
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() >= 2:
        pytest.skip("this machine has >= 2 GPUs: the script would run")
    assert _load_benchmark("multi_gpu").main([]) == 0
    assert "needs >= 2 GPUs" in capsys.readouterr().out


def test_scale_generator_is_lazy_and_seeded():
    scale = _load_benchmark("scale")
    X = scale.lazy_series(10**9, 10**6, seed=0)  # 12 GB if it were materialised
    assert X.shape == (10**9, 3) and X.dtype == np.float32
    first = X[:1000].compute()
    np.testing.assert_array_equal(first, X[:1000].compute())
    assert np.isnan(first).any() and np.isfinite(first).any()
