"""The data of the benchmarks: MNIST holes, Lorenz-63 and Lorenz-96 windows."""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCHMARKS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = BENCHMARKS_DIR.parent


def mnist_path(path=None):
    """Folder of the MNIST files: ``path``, $SKLVAR_MNIST or ../shared/data/mnist."""
    candidates = [
        path,
        os.environ.get("SKLVAR_MNIST"),
        REPO_ROOT.parent / "shared" / "data" / "mnist",
    ]
    for c in candidates:
        if c is not None and Path(c).is_dir():
            return Path(c)
    raise FileNotFoundError(
        "MNIST files not found: pass --mnist PATH (or mnist_path=) or set "
        "SKLVAR_MNIST to the folder holding t10k-images-idx3-ubyte(.gz) and "
        "t10k-labels-idx1-ubyte(.gz). Nothing is downloaded."
    )


@dataclass
class Data:
    """A benchmark's arrays, 2-D (one sample per row), and its normalisers."""

    X_train: np.ndarray
    y_train: np.ndarray
    mask_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    mask_test: np.ndarray
    sample_shape: tuple
    variance: float  # sigma^2 of the true training states
    paper_norm: float  # the paper's normaliser (Table 1: sigma^2; Table 2: E[x^2])
    layout: dict
    description: str


def load_mnist_data(cfg, seed, path=None):
    """8,000/2,000 images of the t10k file, three 9x9 holes and Gaussian noise."""
    from sklvar.datasets import load_mnist, make_missing

    images = load_mnist(mnist_path(path), kind="t10k").data / 255.0
    n_train, n_test = cfg["n_train"], cfg["n_test"]
    if n_train + n_test > len(images):
        raise ValueError(
            f"n_train + n_test = {n_train + n_test} > {len(images)} images."
        )
    order = np.random.RandomState(seed).permutation(len(images))
    y_train, y_test = images[order[:n_train]], images[order[n_train : n_train + n_test]]
    variance = float(y_train.var())
    noise_std = np.sqrt(cfg["noise_ratio"] * variance)

    def corrupt(y, s):
        X, observed = make_missing(
            y,
            pattern="holes",
            n_holes=3,
            hole_size=9,
            sample_shape=(28, 28),
            random_state=s,
        )
        noise = np.random.RandomState(s + 1).normal(scale=noise_std, size=y.shape)
        return np.where(observed, y + noise, np.nan), observed

    X_train, mask_train = corrupt(y_train, seed + 1)
    X_test, mask_test = corrupt(y_test, seed + 3)
    desc = (
        f"MNIST t10k file, seeded split: {n_train} training / {n_test} test images "
        f"(pixels /255); three 9x9 holes per image (make_missing(pattern='holes')); "
        f"Gaussian noise of variance {cfg['noise_ratio']} sigma^2 on observed pixels "
        f"(sigma^2 = {variance:.4f}, pixel variance of the training images); "
        f"{100 * (~mask_test).mean():.1f} % of test pixels missing."
    )
    return Data(
        X_train,
        y_train,
        mask_train,
        X_test,
        y_test,
        mask_test,
        (28, 28),
        variance,
        variance,
        {"sample_shape": (28, 28), "layout": "image"},
        desc,
    )


def load_lorenz_data(name, cfg, seed):
    """Windows of the paper's Lorenz-63/96 protocols, flattened to one row each."""
    from sklvar.datasets import make_lorenz63, make_lorenz96

    common = dict(
        n_steps=cfg["n_steps"],
        train_range=tuple(cfg["train_range"]),
        test_range=tuple(cfg["test_range"]),
        random_state=seed,
    )
    if name == "lorenz63":
        d = make_lorenz63(
            cfg["n_train"], cfg["n_test"], edge_gap=cfg["edge_gap"], **common
        )
        shape = (3, 200)
        layout = {"sample_shape": shape, "layout": "series"}
        desc = (
            f"make_lorenz63: {cfg['n_train']} training / {cfg['n_test']} test "
            f"windows of 200 steps (dt 0.01), all 3 components observed every 8 "
            f"steps with noise variance 2, edge_gap={cfg['edge_gap']} (the "
            f"authors' protocol behind Table 2: no observation in the first and "
            f"last {cfg['edge_gap']} steps)"
        )
    else:
        d = make_lorenz96(cfg["n_train"], cfg["n_test"], **common)
        shape = (1, 40, 200)
        layout = {"sample_shape": shape, "initial_strategy": "linear"}
        desc = (
            f"make_lorenz96: {cfg['n_train']} training / {cfg['n_test']} test "
            f"windows of 200 steps (dt 0.05), 20 of 40 components drawn at random "
            f"(per window and time) observed every 4 steps with noise variance 2"
        )
    y_train = d.y_train.reshape(len(d.y_train), -1)
    mask_train = d.mask_train.reshape(y_train.shape)
    variance = float(y_train.var())
    paper_norm = float(np.mean(y_train[mask_train] ** 2))
    desc += (
        f"; sigma^2 = {variance:.2f} (variance of the true training states), "
        f"paper normaliser E[x^2] = {paper_norm:.2f} (uncentred second moment of "
        f"the observed training states, benchmarks/README.md); "
        f"{100 * (~d.mask_test).mean():.1f} % of test entries missing."
    )
    return Data(
        d.X_train.reshape(y_train.shape),
        y_train,
        mask_train,
        d.X_test.reshape(len(d.X_test), -1),
        d.y_test.reshape(len(d.y_test), -1),
        d.mask_test.reshape(len(d.X_test), -1),
        shape,
        variance,
        paper_norm,
        layout,
        desc,
    )


def load_data(name, cfg, seed, path=None):
    """The :class:`Data` of a benchmark (``path``: folder of the MNIST files)."""
    if name == "mnist":
        return load_mnist_data(cfg, seed, path)
    return load_lorenz_data(name, cfg, seed)
