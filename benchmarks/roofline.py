"""How far the 2-D 2S-CNN + LSTM path is from this machine's arithmetic peak (issue 18, item 2).

Run by hand, on a quiet machine::

    python benchmarks/roofline.py          # writes benchmarks/ROOFLINE.md

On one torch thread it measures, in one run:

- the machine's peak: multiply-accumulates per second of a 2048^3 matrix
  product and of a 3x3, 50 -> 150 channels-last convolution (the MNIST
  prior's largest layer), in float32 and in bfloat16;
- the work of the two 2-D configurations of ``speed.py`` (MNIST 28 x 28 and
  Lorenz-96 40 x 200, K = 10): multiply-accumulates per sample of one
  ``transform`` and of one training step, counted by a dispatch mode over
  the convolution and matrix-product kernels that run (the element-wise
  work is not counted);
- their throughput (samples per second) in float32, and with
  ``inference_dtype="bfloat16"`` / ``training_dtype="bfloat16"``, the
  variants interleaved round by round so that a drift of the machine hits
  them alike; and how far the bfloat16 transform is from the float32 one.

The ceiling of a configuration is the float32 peak divided by its work per
sample: no float32 implementation of the same network, counted the same way,
can run faster on this thread.
"""

import collections
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from threads import _cpu_model, _versions  # noqa: E402  (same folder)

CONFIGS = {
    # label: (speed.py configuration, batch)
    "MNIST 2S-CNN + LSTM, K = 10": ("mnist cnn+lstm K=10", 32),
    "Lorenz-96 2S-CNN (2-D) + LSTM, K = 10": ("lorenz96 cnn(2-D)+lstm K=10", 8),
}


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def peaks(repeats):
    import torch
    import torch.nn.functional as F

    out = {}
    a = torch.randn(2048, 2048)
    b = torch.randn(2048, 2048)
    x = torch.randn(128, 50, 28, 28).contiguous(memory_format=torch.channels_last)
    w = torch.randn(150, 50, 3, 3).contiguous(memory_format=torch.channels_last)
    conv_macs = 128 * 28 * 28 * 50 * 150 * 9
    for dtype in (torch.float32, torch.bfloat16):
        name = str(dtype).replace("torch.", "")
        ad, bd, xd, wd = (t.to(dtype) for t in (a, b, x, w))
        mm = lambda: ad @ bd  # noqa: E731
        cv = lambda: F.conv2d(xd, wd, padding=1)  # noqa: E731
        mm(), cv()
        t_mm = statistics.median(_timed(mm) for _ in range(repeats))
        t_cv = statistics.median(_timed(cv) for _ in range(repeats))
        out[name] = {"matmul": 2048 ** 3 / t_mm / 1e9, "conv3x3": conv_macs / t_cv / 1e9}
    return out


def count_macs(fn):
    """Multiply-accumulates of the convolutions and matrix products ``fn`` runs."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class _Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.flops = collections.Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            packet = func._overloadpacket
            if packet in flop_registry:
                self.flops[str(packet)] += flop_registry[packet](*args, **kwargs,
                                                                 out_val=out)
            return out

    mode = _Count()
    with mode:
        fn()
    return sum(mode.flops.values()) / 2


def measure(label, rounds, seed=0):
    import speed
    import torch

    name, batch = CONFIGS[label]
    params, shape, _ = speed.CONFIGS[name]
    imp, net, data, X = speed._build(params, shape, batch, seed=seed)
    net.module_.n_iter = params["n_solver_iter"]
    torch.manual_seed(seed)
    # the untrained solver's output map starts at zero (the imputation would
    # be the initial state, the same in any dtype): give it small weights
    torch.nn.init.normal_(net.module_.solver.output.weight, 0.0, 0.05)

    def transform(dtype):
        imp.set_params(inference_dtype=dtype)
        return imp.transform(X)

    def train(dtype):
        # what training_dtype="bfloat16" sets (VariationalNet.autocast_dtype)
        net.autocast_dtype = torch.bfloat16 if dtype == "bfloat16" else None
        return net.train_step(data)

    # counted on a copy of the state: a training step changes the weights
    state = {k: v.clone() for k, v in net.module_.state_dict().items()}
    macs_transform = count_macs(lambda: transform("float32")) / batch
    macs_train = count_macs(lambda: train("float32")) / batch
    net.module_.load_state_dict(state)
    ref = transform("float32")
    low = transform("bfloat16")
    missing = np.isnan(X)
    diff = ref[missing] - low[missing]
    rel = float(np.sqrt(np.mean(diff ** 2)) / np.sqrt(np.mean(ref[missing] ** 2)))

    variants = [("transform", "float32"), ("transform", "bfloat16"),
                ("train", "float32"), ("train", "bfloat16")]
    times = {v: [] for v in variants}
    for kind, dtype in variants:  # warm-up
        (transform if kind == "transform" else train)(dtype)
    for _ in range(rounds):
        for kind, dtype in variants:
            fn = transform if kind == "transform" else train
            times[(kind, dtype)].append(_timed(lambda: fn(dtype)))
    rate = {f"{k} {d}": batch / statistics.median(t) for (k, d), t in times.items()}
    return dict(batch=batch, macs_transform=macs_transform, macs_train=macs_train,
                rate=rate, bf16_transform_rel_rms=rel)


def render(peak, results, baseline, elapsed, rounds):
    lines = [
        "# The 2-D path against this machine's peak (benchmarks/roofline.py)",
        "",
        f"Command: `python benchmarks/roofline.py`, {time.strftime('%Y-%m-%d %H:%M')} UTC, "
        f"{elapsed / 60:.1f} min. Machine: {_cpu_model()}, {os.cpu_count()} CPUs, "
        f"{platform.platform()}; 1 torch thread. Versions: {json.dumps(_versions())}. "
        f"Seed 0; throughputs are medians of {rounds} interleaved rounds after a warm-up.",
        "",
        "## Peak of one thread (GMAC/s: 10^9 multiply-accumulates per second)",
        "",
        "| dtype | matmul 2048^3 | conv 3x3 50->150, 128 x 28 x 28, channels-last |",
        "|---|---|---|",
    ]
    for dtype, p in peak.items():
        lines.append(f"| {dtype} | {p['matmul']:.1f} | {p['conv3x3']:.1f} |")
    fp32 = max(peak["float32"].values())
    lines += [
        "",
        "## Work, throughput and ceiling per configuration",
        "",
        f"Ceiling = float32 peak ({fp32:.1f} GMAC/s, the larger of the two above) / "
        "counted work per sample. \"issue's 3x\" = three times the issue's figure "
        "(SPEED.md, 2026-11-27, another machine: an AMD EPYC). Samples per second.",
        "",
        "| configuration | batch | GMAC per sample (transform / training step) | "
        "float32 transform | float32 training | ceiling transform / training | "
        "issue's 3x transform / training | bfloat16 transform | bfloat16 training | "
        "bfloat16 transform vs float32 (relative RMS on the gaps) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in results.items():
        rate = r["rate"]
        ceil_t = fp32 / (r["macs_transform"] / 1e9)
        ceil_s = fp32 / (r["macs_train"] / 1e9)
        base_t, base_s = baseline[label]
        lines.append(
            f"| {label} | {r['batch']} | {r['macs_transform'] / 1e9:.2f} / "
            f"{r['macs_train'] / 1e9:.2f} | {rate['transform float32']:.2f} | "
            f"{rate['train float32']:.2f} | {ceil_t:.1f} / {ceil_s:.2f} | "
            f"{3 * base_t:.1f} / {3 * base_s:.1f} | {rate['transform bfloat16']:.2f} "
            f"({rate['transform bfloat16'] / rate['transform float32']:.2f}x) | "
            f"{rate['train bfloat16']:.2f} "
            f"({rate['train bfloat16'] / rate['train float32']:.2f}x) | "
            f"{r['bf16_transform_rel_rms']:.1e} |"
        )
    lines.append("")
    return "\n".join(lines)


def main():
    import torch

    torch.set_num_threads(1)
    rounds = 3
    t0 = time.perf_counter()
    peak = peaks(repeats=5)
    print("peaks", peak, flush=True)
    results = {}
    for label in CONFIGS:
        results[label] = measure(label, rounds)
        print(label, results[label], flush=True)
    # the figures (SPEED.md, 1 thread): transform, training
    baseline = {"MNIST 2S-CNN + LSTM, K = 10": (28.2, 7.5),
                "Lorenz-96 2S-CNN (2-D) + LSTM, K = 10": (5.5, 1.5)}
    text = render(peak, results, baseline, time.perf_counter() - t0, rounds)
    (HERE / "ROOFLINE.md").write_text(text)
    (HERE / "roofline.json").write_text(json.dumps(
        dict(peak=peak, results=results), indent=1))
    print(text)


if __name__ == "__main__":
    main()
