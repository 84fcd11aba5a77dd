"""Time to accuracy on the paper's Lorenz-63 protocol (issue 7, item 3).

Trains the joint 2S-CNN prior with the LSTM solver on the authors' Lorenz-63
protocol (``make_lorenz63(edge_gap=10)``, 10,000 training windows of 200 steps
by default) for a fixed wall-clock budget, and records the R-score (paper
normalisation, benchmarks/README.md) on held-out test windows after every epoch
against the training time spent so far. By default (``--schedule time``) the
budget is the estimator's own ``max_time`` (``sklvar.net.TimeBudget``): the
learning rate decays on a cosine to lr / 20 and the solver iterations grow from
5 to 15 as functions of the fraction of the budget spent, so both schedules end
at the budget on any machine, and training stops at the first batch past the
budget, mid-epoch if need be. The joint prior learns at half the solver's rate
(the estimator's parameter groups). Runs before session 5 of 2026-12-01 used
this script's own copy of that schedule, which gave the prior the solver's
full rate. Run by hand::

    python benchmarks/time_to_accuracy.py                 # 1 hour, 2 threads
    python benchmarks/time_to_accuracy.py --budget 120 --n-train 512 \
        --out /tmp/tta.md                                 # a 2-minute smoke run

It writes ``benchmarks/TIME_TO_ACCURACY.md`` (the curve as a table, the final
R on the whole test set, machine, versions, seed and command) and
``benchmarks/figures/time_to_accuracy.png``. The training time excludes the
per-epoch evaluations; with ``--schedule cosine`` or ``none`` training stops at
the end of the first epoch past the budget (or after ``--epochs``). The paper's
best R on this protocol is 1.0e-3 (2S-CNN-LSTM joint, Table 2).
"""

import argparse
import math
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PAPER_BEST_R = 1.0e-3


def _make_callbacks(imp, data, n_eval, budget, log, n_batches, time_schedule=False):
    """Per-epoch evaluation (and, without ``time_schedule``, the budget).

    With ``time_schedule`` the estimator's ``max_time`` (``sklvar.net.TimeBudget``)
    drives the learning rate (cosine to lr / 20), the solver-iteration
    curriculum (over the first half of the budget) and the stop (at the first
    batch past the budget). This callback only scores the model after every
    epoch and at the stop, and gives the budget a clock that stops while it
    scores, so that the budget counts training time only.
    """
    import numpy as np
    import torch
    from skorch.callbacks import Callback

    from sklvar.metrics import reconstruction_error
    from sklvar.net import TimeBudget

    y_eval = data.y_test[:n_eval]
    X_eval = data.X_test[:n_eval]
    m_eval = data.mask_test[:n_eval]

    class Curve(Callback):
        def initialize(self):
            self.points = []
            self.t0 = None
            self.eval_s = 0.0
            return self

        def _clock(self):
            return time.perf_counter() - self.eval_s

        def on_train_begin(self, net, **kwargs):
            self.t0 = time.perf_counter()
            budgets = [cb for _, cb in net.callbacks_ if isinstance(cb, TimeBudget)]
            if time_schedule:
                assert len(budgets) == 1, "--schedule time needs imp.max_time"
                # TimeBudget started its clock (perf_counter) just before this
                # callback, with eval_s = 0: the two clocks agree from here on
                budgets[0].clock = self._clock

        def _train_time(self):
            return self._clock() - self.t0

        def _score(self, net, t_train, epoch, loss):
            t1 = time.perf_counter()
            module = net.module_
            n_iter = module.n_iter
            module.eval()
            # score with the iteration count of this epoch's training
            Y, M = imp.codec_.encode(X_eval, m_eval)
            dev = next(module.parameters()).device
            Y, M = torch.from_numpy(Y).to(dev), torch.from_numpy(M).to(dev)
            with torch.no_grad():
                out = torch.cat([module(Y[i:i + 256], M[i:i + 256])
                                 for i in range(0, len(Y), 256)]).cpu()
            X_hat = imp.codec_.decode(out.double().numpy(), n_rows=len(X_eval))
            module.train()
            r = reconstruction_error(y_eval, X_hat, variance=data.paper_norm)
            self.eval_s += time.perf_counter() - t1
            self.points.append((epoch, n_iter, t_train, r, loss))
            log(f"epoch {epoch:6g}  K {n_iter:2d}  train {t_train:7.0f} s  "
                f"R {r:.3e}  loss {loss:.4g}")

        def on_epoch_end(self, net, **kwargs):
            t_train = self._train_time()
            self._score(net, t_train, len(net.history), net.history[-1, "train_loss"])
            if not time_schedule and t_train >= budget:
                log(f"budget of {budget:.0f} s reached")
                raise KeyboardInterrupt  # skorch's way to stop training early

        def on_train_end(self, net, **kwargs):
            # the budget's stop (mid-epoch, or at an epoch end before this
            # callback's on_epoch_end ran): score the final model
            if net.history[-1].get("time_budget_stop") is not True:
                return
            log(f"budget of {budget:.0f} s reached")
            batches = [b for b in net.history[-1, "batches"] if "train_loss" in b]
            epoch = round(len(net.history) - 1 + len(batches) / n_batches, 2)
            if self.points and self.points[-1][0] == epoch:
                return
            loss = (float(np.mean([b["train_loss"] for b in batches])) if batches
                    else float("nan"))
            self._score(net, self._train_time(), epoch, loss)

    return Curve()


def _weight_averages(decays):
    """Exponential moving averages of the weights, one per decay (a callback).

    Updated after every training batch; ``swap(i)`` copies the i-th average
    into the model (and ``restore()`` puts the trained weights back), so the
    final model can be scored with each average after training.
    """
    import torch
    from skorch.callbacks import Callback

    class WeightAverages(Callback):
        def on_train_begin(self, net, **kwargs):
            self.params = [p for p in net.module_.parameters()]
            self.avgs = [[p.detach().clone() for p in self.params] for _ in decays]

        @torch.no_grad()
        def on_batch_end(self, net, training=False, **kwargs):
            if not training:
                return
            for decay, avg in zip(decays, self.avgs):
                for a, p in zip(avg, self.params):
                    a.mul_(decay).add_(p.detach(), alpha=1.0 - decay)

        @torch.no_grad()
        def swap(self, i):
            self.saved = [p.detach().clone() for p in self.params]
            for a, p in zip(self.avgs[i], self.params):
                p.copy_(a)

        @torch.no_grad()
        def restore(self):
            for s, p in zip(self.saved, self.params):
                p.copy_(s)

    return WeightAverages()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=3600.0,
                        help="training seconds (default 3600)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of the per-epoch schedules (--schedule cosine or "
                             "none; default 40); a cap with --schedule time (default "
                             "1000)")
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--n-eval", type=int, default=256,
                        help="test windows scored after every epoch")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="default 32: on the CPU, throughput per window changes "
                             "little with the batch, so smaller batches make more "
                             "optimiser steps per second")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--n-iter", default="5,15",
                        help="solver iterations: start,stop of the curriculum")
    parser.add_argument("--schedule", choices=("time", "cosine", "none"),
                        default="time",
                        help="time: cosine LR and iteration curriculum driven by the "
                             "fraction of the budget spent (they end at the budget); "
                             "cosine: per-epoch cosine LR over --epochs and the "
                             "estimator's per-epoch curriculum; none: constant LR")
    parser.add_argument("--training-dtype", choices=("float32", "bfloat16"),
                        default="float32",
                        help="the imputer's training_dtype (bfloat16: autocast)")
    parser.add_argument("--ema-decay", type=float, default=None,
                        help="the imputer's ema_decay: train, and end, with a "
                             "moving average of the weights (e.g. 0.99)")
    parser.add_argument("--ema", default="",
                        help="exploration: comma-separated decays; after training, "
                             "also score the final model with each exponential "
                             "moving average of its weights (e.g. 0.99,0.998)")
    parser.add_argument("--prior-lr-scale", type=float, default=0.5,
                        help="the imputer's prior_lr_scale (learning rate of the "
                             "joint prior as a fraction of --lr; the paper's 0.5)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--out", default=str(HERE / "TIME_TO_ACCURACY.md"))
    args = parser.parse_args(argv)

    import torch
    from papertables import configs, data as tables_data, runner
    from skorch.callbacks import LRScheduler

    from sklvar import VariationalImputer

    torch.set_num_threads(args.threads)
    cfg = configs.get_config("lorenz63", overrides={"n_train": args.n_train,
                                                     "n_test": args.n_test})
    data = tables_data.load_lorenz_data("lorenz63", cfg, args.seed)
    lines = []

    def log(msg):
        print(msg, flush=True)
        lines.append(msg)

    log(data.description)
    if args.epochs is None:
        args.epochs = 1000 if args.schedule == "time" else 40
    start, stop = (int(v) for v in args.n_iter.split(","))
    time_schedule = args.schedule == "time"
    imp = VariationalImputer(
        prior="cnn", solver="lstm", joint=True, keep_observed=False,
        n_solver_iter=stop, n_solver_iter_start=start, max_epochs=args.epochs,
        max_time=args.budget if time_schedule else None,
        batch_size=args.batch_size, lr=args.lr, random_state=args.seed,
        device=args.device, n_threads=args.threads,
        training_dtype=args.training_dtype, prior_lr_scale=args.prior_lr_scale,
        ema_decay=args.ema_decay,
        **data.layout,
    )
    n_batches = -(-len(data.X_train) // args.batch_size)
    curve = _make_callbacks(imp, data, args.n_eval, args.budget, log, n_batches,
                            time_schedule)
    callbacks = [("curve", curve)]
    decays = [float(d) for d in args.ema.split(",") if d.strip()]
    if decays:
        callbacks.insert(0, ("ema", _weight_averages(decays)))
    if args.schedule == "cosine":
        callbacks.insert(0, ("lr_schedule", LRScheduler(
            "CosineAnnealingLR", T_max=args.epochs, eta_min=args.lr / 20)))
    imp.set_params(callbacks=callbacks)
    t0 = time.perf_counter()
    imp.fit(data.X_train, data.y_train)
    wall = time.perf_counter() - t0
    points = next(cb for name, cb in imp.net_.callbacks_ if name == "curve").points
    t1 = time.perf_counter()
    X_hat = imp.transform(data.X_test)
    infer_s = time.perf_counter() - t1
    scores = runner.scores(data, X_hat)
    log(f"final: R(paper norm) {scores['R_paper']:.3e} on {len(data.X_test)} test "
        f"windows ({infer_s:.1f} s); fit wall time {wall:.0f} s")
    averaged = []
    if decays:
        ema = next(cb for name, cb in imp.net_.callbacks_ if name == "ema")
        for i, decay in enumerate(decays):
            ema.swap(i)
            r = runner.scores(data, imp.transform(data.X_test))["R_paper"]
            ema.restore()
            averaged.append((decay, r))
            log(f"final with the weight average of decay {decay:g}: R(paper norm) "
                f"{r:.3e}")
    write_report(args, data, points, scores, wall, infer_s, averaged)
    return 0


def write_report(args, data, points, scores, wall, infer_s, averaged=()):
    from papertables.report import machine_info

    info = machine_info(args.threads)
    if args.device != "cpu":
        import torch

        info["processor"] += f", device {torch.cuda.get_device_name()}"
    best = min(points, key=lambda p: p[3]) if points else None
    reached = next((p for p in points if p[3] <= PAPER_BEST_R), None)
    out = Path(args.out)
    fig_path = out.parent / "figures" / (out.stem.lower() + ".png")
    text = [
        "# Time to accuracy: Lorenz-63, 2S-CNN prior + LSTM solver (joint)",
        "",
        f"Command: `python benchmarks/time_to_accuracy.py {' '.join(sys.argv[1:])}`, "
        f"{time.strftime('%Y-%m-%d %H:%M')} UTC; seed {args.seed}.",
        f"Machine: {info['platform']}, {info['processor']}, {info['cpu_count']} CPUs, "
        f"{args.threads} torch thread(s); load average at the end "
        f"{os.getloadavg()[0]:.2f}. Versions: {info['versions']}.",
        "",
        f"Data: {data.description}",
        "",
        f"Training: {args.training_dtype}, batch {args.batch_size}, Adam lr {args.lr:g}"
        + (f" with cosine decay to {args.lr / 20:g} over {args.epochs} epochs"
           if args.schedule == "cosine" else "")
        + (f" with cosine decay to {args.lr / 20:g} over the budget, batch by batch "
           f"(the estimator's max_time; the prior at {args.prior_lr_scale:g} x the "
           "rate)"
           if args.schedule == "time" else "")
        + f", solver iterations {args.n_iter.replace(',', ' -> ')} (curriculum over "
        + ("the first half of the budget" if args.schedule == "time" else
           f"the first half of {args.epochs} epochs")
        + f"), budget {args.budget:.0f} s of training (evaluations excluded)"
        + (f", ending with the moving average of the weights (ema_decay "
           f"{args.ema_decay:g})" if args.ema_decay else "")
        + f"; fit wall time {wall:.0f} s.",
        "",
        f"**Final R (paper normalisation) on the {len(data.X_test)} test windows: "
        f"{scores['R_paper']:.3e}** (paper: {PAPER_BEST_R:.2e}; R with sigma^2 "
        f"normalisation {scores['R']:.3e}; inference {infer_s:.1f} s).",
        "",
    ]
    if averaged:
        text += [
            "Final R (paper normalisation) with an exponential moving average of "
            "the weights (updated after every batch, scored after training): "
            + "; ".join(f"decay {d:g}: {r:.3e}" for d, r in averaged) + ".",
            "",
        ]
    text += [
        ("R <= 1.0e-3 on the evaluation windows was first reached after "
         f"{reached[2]:.0f} s of training (epoch {reached[0]})." if reached else
         "R <= 1.0e-3 was not reached on the evaluation windows within the budget; "
         + (f"best {best[3]:.3e} after {best[2]:.0f} s (epoch {best[0]})."
            if best else "no epoch finished.")),
        "",
        f"![R against training time](figures/{fig_path.name})",
        "",
        f"| epoch | solver iterations | training s | R on {args.n_eval} test windows "
        "(paper norm.) | training loss |",
        "|---|---|---|---|---|",
    ]
    text += [f"| {e:g} | {k} | {t:.0f} | {r:.3e} | {loss:.4g} |"
             for e, k, t, r, loss in points]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(text) + "\n")
    if points:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.semilogy([p[2] / 60 for p in points], [p[3] for p in points], "o-",
                    label="sklvar 2S-CNN + LSTM (joint)")
        ax.axhline(PAPER_BEST_R, color="k", ls="--", label="paper's best (1.0e-3)")
        ax.set_xlabel("training time (min)")
        ax.set_ylabel("R (paper normalisation)")
        ax.set_title("Lorenz-63: time to accuracy")
        ax.legend()
        fig_path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(fig_path, dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
