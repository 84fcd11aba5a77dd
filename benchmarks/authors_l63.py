"""The authors' Lorenz-63 training and evaluation step, re-implemented (speed baseline).

Issue 7 states its targets against the authors' code measured "on this machine
type", but the machines we are lent differ between sessions (a Zen 3 without
AVX-512 one day, a Zen 5 with it the next). This module rebuilds the computation
of the authors' public code (CIA-Oceanix/DinAE_4DVarNN_torch) for the paper's
Lorenz-63 result, so that ``speed.py`` can time it in the same run as sklvar and
report a ratio that does not depend on the machine:

- Phi: the 2S-CNN of L63nb c13 (type 4, 15,300 parameters): ``Conv1d``
  layers on ``(B, 3, T)``, bias-free, the bilinear block as
  ``cat([conv21(z), conv22(z) * conv23(z)])``, a low-resolution branch through
  ``AvgPool1d(4)`` and ``ConvTranspose1d(k=4, stride=4)``;
- the solver: ``Model_4DVarNN_GradFP`` with ``model_GradUpdate2``: one
  extra Phi call and gradient for the batch-wide ``normgrad``; per iteration Phi
  once, ``torch.autograd.grad(U, x, create_graph=True)`` (GradType 1), a
  ``ConvLSTM1d`` cell (gates: one ``Conv1d`` with bias, kernel 3, on
  ``cat([grad, h])``; 15 hidden channels; zero initial state) and a bias-free 1x1
  ``Conv1d`` from 15 to 3 channels; ``x <- x - d``;
- training: loss ``mean((x_K - x)^2) + 0.05 (mean((Phi(x_K) - x_K)^2)
  + mean((Phi(x) - x)^2))``, second-order backward through the unrolled loop,
  Adam with Phi at half the learning rate;
- evaluation: the notebooks' 'val' pass, grad enabled (the graph is built because
  ``create_graph=True`` is hard-coded), the loss computed, no optimiser step.

It is a re-implementation from a reading of that code, not the authors' files
(they are not in this repository). tests/test_benchmarks.py checks that its Phi,
with copied weights, is sklvar's ``TwoScaleCNNPrior`` to 1e-10. Run alone::

    python benchmarks/authors_l63.py --threads 1,2 --repeats 5
"""

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


class ConstrainedConv1d(nn.Conv1d):
    """The authors' "constrained" convolution: meant to drop the centre tap (B2)."""

    def forward(self, x):
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding,
                        self.dilation, self.groups)


class Phi(nn.Module):
    """L63nb c13 type 4: two-scale bilinear CNN on (B, 3, T)."""

    def __init__(self, channels=3, hidden=60, dim=30, kernel=11, pool=4):
        super().__init__()
        self.pool1 = nn.AvgPool1d(pool)
        self.conv1 = ConstrainedConv1d(channels, hidden, kernel, padding=kernel // 2,
                                       bias=False)
        self.conv2 = nn.Conv1d(hidden, dim, 1, bias=False)
        self.conv21 = nn.Conv1d(dim, dim, 1, bias=False)
        self.conv22 = nn.Conv1d(dim, dim, 1, bias=False)
        self.conv23 = nn.Conv1d(dim, dim, 1, bias=False)
        self.conv3 = nn.Conv1d(2 * dim, dim, 1, bias=False)
        self.conv2Tr = nn.ConvTranspose1d(dim, channels, pool, stride=pool, bias=False)
        self.convHR1 = ConstrainedConv1d(channels, hidden, kernel, padding=kernel // 2,
                                         bias=False)
        self.convHR2 = nn.Conv1d(hidden, dim, 1, bias=False)
        self.convHR21 = nn.Conv1d(dim, dim, 1, bias=False)
        self.convHR22 = nn.Conv1d(dim, dim, 1, bias=False)
        self.convHR23 = nn.Conv1d(dim, dim, 1, bias=False)
        self.convHR3 = nn.Conv1d(2 * dim, channels, 1, bias=False)

    def forward(self, xin):
        x = self.conv2(F.relu(self.conv1(self.pool1(xin))))
        x = torch.cat((self.conv21(x), self.conv22(x) * self.conv23(x)), dim=1)
        x = self.conv2Tr(self.conv3(x))
        xhr = self.convHR2(F.relu(self.convHR1(xin)))
        xhr = torch.cat((self.convHR21(xhr), self.convHR22(xhr) * self.convHR23(xhr)),
                        dim=1)
        return torch.add(x, self.convHR3(xhr), alpha=1.0)


class ConvLSTM1d(nn.Module):
    def __init__(self, input_size, hidden_size, kernel_size=3):
        super().__init__()
        self.hidden_size = hidden_size
        self.Gates = nn.Conv1d(input_size + hidden_size, 4 * hidden_size, kernel_size,
                               padding=kernel_size // 2)

    def forward(self, x, prev_state):
        if prev_state is None:
            size = [x.shape[0], self.hidden_size, x.shape[2]]
            prev_state = (torch.zeros(size, device=x.device),
                          torch.zeros(size, device=x.device))
        hidden, cell = prev_state
        gates = self.Gates(torch.cat((x, hidden), 1))
        in_gate, remember_gate, out_gate, cell_gate = gates.chunk(4, 1)
        cell = (torch.sigmoid(remember_gate) * cell
                + torch.sigmoid(in_gate) * torch.tanh(cell_gate))
        hidden = torch.sigmoid(out_gate) * torch.tanh(cell)
        return hidden, cell


class GradUpdate2(nn.Module):
    """``model_GradUpdate2`` with ``compute_Grad`` of GradType 1."""

    def __init__(self, channels=3):
        super().__init__()
        self.alphaObs = nn.Parameter(torch.tensor([1.0]))
        self.alphaAE = nn.Parameter(torch.tensor([1.0]))
        self.lstm = ConvLSTM1d(channels, 5 * channels, 3)
        self.convLayer = nn.Conv1d(5 * channels, channels, 1, bias=False)

    def compute_grad(self, x, xpred, xobs, mask):
        loss1 = torch.mean((xpred - x) ** 2)
        loss2 = torch.sum((x - xobs) ** 2 * mask) / torch.sum(mask)
        loss = self.alphaAE ** 2 * loss1 + self.alphaObs ** 2 * loss2
        return torch.autograd.grad(loss, x, create_graph=True)[0]

    def forward(self, x, xpred, xobs, mask, hidden, cell, normgrad):
        grad = self.compute_grad(x, xpred, xobs, mask) / normgrad
        state = None if hidden is None else (hidden, cell)
        hidden, cell = self.lstm(grad, state)
        return self.convLayer(hidden), hidden, cell


class GradFP(nn.Module):
    """``Model_4DVarNN_GradFP`` with NProj = 0 and the LSTM update."""

    def __init__(self, n_iter=10):
        super().__init__()
        self.model_AE = Phi()
        self.model_Grad = GradUpdate2()
        self.n_iter = n_iter

    def forward(self, x_inp, xobs, mask):
        x = torch.mul(x_inp, 1.0)
        xpred = self.model_AE(x)
        grad = self.model_Grad.compute_grad(x, xpred, xobs, mask)
        normgrad = torch.sqrt(torch.mean(grad ** 2))
        hidden = cell = None
        for _ in range(self.n_iter):
            xpred = self.model_AE(x)
            grad, hidden, cell = self.model_Grad(x, xpred, xobs, mask, hidden, cell,
                                                 normgrad)
            x = x - grad
        return x, hidden, cell, normgrad


def build(batch=128, n_iter=10, length=200, seed=0, device="cpu", lr=1e-3):
    """The authors' model and one batch; returns ``(train_step, eval_step)``."""
    torch.manual_seed(seed)
    model = GradFP(n_iter).to(device)
    optimizer = torch.optim.Adam([
        {"params": model.model_Grad.parameters(), "lr": lr},
        {"params": model.model_AE.parameters(), "lr": 0.5 * lr},
    ])
    gen = torch.Generator().manual_seed(seed)
    target = torch.randn(batch, 3, length, generator=gen).to(device)
    mask = (torch.rand(batch, 3, length, generator=gen) > 0.8).float().to(device)
    xobs = target * mask
    x_init = xobs.clone()

    def loss_of(outputs):
        loss_all = torch.mean((outputs - target) ** 2)
        loss_ae = torch.mean((model.model_AE(outputs) - outputs) ** 2)
        loss_ae_gt = torch.mean((model.model_AE(target) - target) ** 2)
        return 1.0 * loss_all + 0.5 * 0.1 * (loss_ae + loss_ae_gt)

    def train_step():
        model.train()
        optimizer.zero_grad()
        inputs = x_init.clone().requires_grad_(True)
        outputs, _, _, _ = model(inputs, xobs, mask)
        loss = loss_of(outputs)
        loss.backward()
        optimizer.step()
        return loss.item()

    def eval_step():
        model.eval()
        with torch.set_grad_enabled(True):
            inputs = x_init.clone().requires_grad_(True)
            outputs, _, _, _ = model(inputs, xobs, mask)
            return loss_of(outputs).item()

    return train_step, eval_step


def _median_time(fn, repeats, device):
    fn()
    times = []
    for _ in range(repeats):
        if device != "cpu":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(threads, repeats, n_iter=10, batch=128, device="cpu", eval_repeats=None):
    """Median training and evaluation throughput (windows per second)."""
    torch.set_num_threads(threads)
    train_step, eval_step = build(batch, n_iter, device=device)
    return (batch / _median_time(train_step, repeats, device),
            batch / _median_time(eval_step, eval_repeats or repeats, device))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-iter", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    for threads in (int(t) for t in args.threads.split(",")):
        train, evaluate = bench(threads, args.repeats, args.n_iter, args.batch,
                                args.device)
        print(f"authors' L63 code (re-implemented), K={args.n_iter}, "
              f"batch {args.batch}, {threads} thread(s): training {train:.1f}/s, "
              f"evaluation {evaluate:.1f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
