"""The paper's numbers and the configurations of the benchmarks (full and quick)."""

import copy

BENCHMARKS = ("mnist", "lorenz63", "lorenz96")

# --------------------------------------------------------------------------- paper
# Numbers of the paper (arXiv:2006.03653v1). Table 1: (R, I, P) normalised by the
# pixel variance of the training images. Table 2: (R, P) normalised by the
# uncentred second moment of the observed training states (benchmarks/README.md).
PAPER = {
    "mnist": {
        "DICT-OMP": {"R": 0.25, "I": 0.90, "P": 0.21},
        "DICT-Lasso": {"R": 0.20, "I": 0.71, "P": 0.21},
        "PCA-FSGD": {"R": 0.39, "I": 1.09, "P": 0.12},
        "PCA-LSTM": {"R": 0.15, "I": 0.54, "P": 0.12},
        "AE-FP(1)": {"R": 0.4, "I": 1.51, "P": 0.12},
        "AE-LSTM seq": {"R": 0.195, "I": 0.71, "P": 0.12},
        "AE-LSTM joint": {"R": 0.210, "I": 0.76, "P": 0.95},
        "2S-CNN-FP(1)": {"R": 0.16, "I": 0.56, "P": 0.03},
        "2S-CNN-LSTM joint": {"R": 0.09, "I": 0.33, "P": 0.02},
    },
    "lorenz63": {
        "RK4-FSGD": {"R": 2.71e-3, "P": 1.41e-7},
        "RK4-LSTM": {"R": 1.52e-3, "P": 1.41e-7},
        "2S-CNN-LSTM joint": {"R": 1.00e-3, "P": 2.78e-4},
    },
    "lorenz96": {
        "RK4-FSGD": {"R": 5.65e-2, "P": 6.70e-7},
        "RK4-LSTM": {"R": 4.46e-2, "P": 6.70e-7},
        "2S-CNN-LSTM joint": {"R": 1.94e-2, "P": 3.70e-3},
    },
}
# Not in the paper: linear interpolation re-run under the authors' protocol
# (benchmarks/README.md), paper normalisation.
REFERENCE_LINEAR = {"lorenz63": 2.4e-2, "lorenz96": 0.38}

# --------------------------------------------------------------------------- configs
# The 2S-CNN of Table 1 at the paper's size (~55,000 parameters; the authors'
# checkpoint has 155,900 = n_hidden 100, n_channels 50, 3x more compute).
MNIST_CNN = {"n_hidden": 50, "n_channels": 30}
# Initial weights of the RK4-LSTM rows: lambda_prior/lambda_obs = 100, the ratio the
# FSGD grid picks on both Lorenz systems and about what the LSTM rows learn from
# (1, 1) (L63: 0.035 / 2.5; the authors' L96 checkpoint: 0.057 / 2.7); starting
# there saves epochs (L96, 256 windows, 5 epochs: R 0.111 against 0.128).
RK4_LAMBDAS = {"lambda_obs": 0.01, "lambda_prior": 1.0}

CONFIGS = {
    "mnist": {
        "full": dict(
            n_train=8000,
            n_test=2000,
            noise_ratio=0.1,
            batch_size=64,
            lr=1e-3,
            dict_components=256,
            dict_nonzero=10,
            dict_alpha=0.5,
            fsgd=dict(
                ratios=[0.01, 0.1, 1.0, 10.0, 100.0],
                steps=[0.1, 0.3, 1.0],
                n_iter=1000,
                n_val=256,
            ),
            rows={
                "PCA-LSTM": dict(max_time=600, n_iter=(5, 15)),
                "AE-FP(1)": dict(max_time=120),
                "AE-LSTM seq": dict(max_time=600, n_iter=(5, 15)),
                "AE-LSTM joint": dict(max_time=600, n_iter=(5, 15)),
                "2S-CNN-FP(1)": dict(max_time=900),
                "2S-CNN-LSTM joint": dict(max_time=5400, n_iter=(5, 10), batch_size=32),
            },
            iterative=dict(n_fit=2000, max_iter=5, n_nearest_features=50),
            knn_neighbors=10,
            fig_cnn_fsgd=dict(n_iter=200, step=0.3, n_images=64),
        ),
        "quick": dict(
            n_train=200,
            n_test=100,
            noise_ratio=0.1,
            batch_size=32,
            lr=2e-3,
            dict_components=64,
            dict_nonzero=10,
            dict_alpha=0.5,
            fsgd=dict(ratios=[0.1, 1.0, 10.0], steps=[0.3, 1.0], n_iter=100, n_val=64),
            rows={
                "PCA-LSTM": dict(max_time=2, max_epochs=2, n_iter=(3, 6)),
                "AE-FP(1)": dict(max_time=2, max_epochs=3),
                "AE-LSTM seq": dict(max_time=2, max_epochs=2, n_iter=(3, 6)),
                "AE-LSTM joint": dict(max_time=2, max_epochs=2, n_iter=(3, 6)),
                "2S-CNN-FP(1)": dict(max_time=2, max_epochs=2),
                "2S-CNN-LSTM joint": dict(max_time=4, max_epochs=2, n_iter=(3, 6)),
            },
            iterative=dict(n_fit=200, max_iter=3, n_nearest_features=20),
            knn_neighbors=10,
            fig_cnn_fsgd=dict(n_iter=50, step=0.3, n_images=16),
        ),
    },
    "lorenz63": {
        "full": dict(
            n_train=10000,
            n_test=2000,
            edge_gap=10,
            n_steps=20000,
            train_range=(0, 15000),
            test_range=(15000, 20000),
            batch_size=32,
            lr=2e-3,
            fsgd=dict(
                ratios=[0.1, 1.0, 10.0, 100.0, 1000.0],
                steps=[0.1, 0.3, 1.0],
                n_iter=3000,
                n_val=64,
            ),
            rows={
                "RK4-LSTM": dict(max_time=1200, n_iter=(5, 15), params=RK4_LAMBDAS),
                # the recipe of benchmarks/TIME_TO_ACCURACY.md (8.05e-4 in 1 hour
                # on 2 threads): 10,000 windows, batch 32, lr 2e-3, K 5 -> 15, the
                # prior at the solver's rate (that run's schedule gave it the full
                # rate); ending with the moving average of the weights
                # (TIME_TO_ACCURACY_10MIN.md: 1.010e-3 -> 0.972e-3 at 10 minutes)
                "2S-CNN-LSTM joint": dict(
                    max_time=5400, n_iter=(5, 15),
                    params={"prior_lr_scale": 1.0, "ema_decay": 0.99},
                ),
            },
            iterative=dict(
                fit_on="truth", n_fit=200, max_iter=3, n_nearest_features=None
            ),
            knn_neighbors=10,
        ),
        "quick": dict(
            n_train=64,
            n_test=64,
            edge_gap=10,
            n_steps=20000,
            train_range=(0, 15000),
            test_range=(15000, 20000),
            batch_size=16,
            lr=3e-3,
            fsgd=dict(ratios=[0.1, 1.0, 10.0], steps=[0.3, 1.0], n_iter=200, n_val=32),
            rows={
                "RK4-LSTM": dict(max_time=2, max_epochs=3, n_iter=(3, 6),
                                 params=RK4_LAMBDAS),
                "2S-CNN-LSTM joint": dict(max_time=2, max_epochs=3, n_iter=(3, 6)),
            },
            iterative=dict(
                fit_on="truth", n_fit=16, max_iter=1, n_nearest_features=None
            ),
            knn_neighbors=5,
        ),
    },
    "lorenz96": {
        "full": dict(
            n_train=512,
            n_test=256,
            n_steps=10000,
            train_range=(0, 7500),
            test_range=(7500, 10000),
            batch_size=16,
            lr=2e-3,
            fsgd=dict(
                ratios=[1.0, 10.0, 100.0, 1000.0],
                steps=[0.3, 1.0],
                n_iter=1000,
                n_val=16,
            ),
            rows={
                "RK4-LSTM": dict(max_time=1800, n_iter=(5, 15), params=RK4_LAMBDAS),
                "2S-CNN-LSTM joint": dict(max_time=5400, n_iter=(5, 10), batch_size=8),
            },
            iterative=dict(fit_on="stacked", max_iter=3, n_nearest_features=20),
            knn_neighbors=10,
        ),
        "quick": dict(
            n_train=32,
            n_test=16,
            n_steps=10000,
            train_range=(0, 7500),
            test_range=(7500, 10000),
            batch_size=8,
            lr=3e-3,
            fsgd=dict(ratios=[10.0, 100.0], steps=[0.3, 1.0], n_iter=100, n_val=8),
            rows={
                "RK4-LSTM": dict(max_time=2, max_epochs=2, n_iter=(3, 6),
                                 params=RK4_LAMBDAS),
                "2S-CNN-LSTM joint": dict(max_time=2, max_epochs=1, n_iter=(3, 4),
                                          n_train=16),
            },
            iterative=dict(fit_on="stacked", max_iter=1, n_nearest_features=5),
            knn_neighbors=5,
        ),
    },
}


def _merge(base, overrides):
    """Recursive dict update (returns a new dict)."""
    out = copy.deepcopy(base)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def get_config(name, quick=False, overrides=None):
    """The configuration of a benchmark (a new dict), with ``overrides`` merged in."""
    if name not in CONFIGS:
        raise ValueError(f"unknown benchmark {name!r}; expected one of {BENCHMARKS}.")
    return _merge(CONFIGS[name]["quick" if quick else "full"], overrides)
