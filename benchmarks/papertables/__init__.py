"""Reproduce Tables 1 and 2 of Fablet, Drumetz & Rousseau (2020) with sklvar.

Run it with ``python benchmarks/paper.py {mnist,lorenz63,lorenz96,all} [--quick]
[--out DIR] [--threads N] [--jobs J] [--seed S] [--mnist PATH]``, or from Python
with ``benchmarks/`` on ``sys.path`` (as ``benchmarks/paper.py`` puts it)::

    from papertables import run_benchmark
    run_benchmark("lorenz63", quick=True, out_dir="benchmarks")

Each benchmark fits every row of the paper's table (plus simple baselines),
scores it on the test set (R, I, P, see ``sklvar.metrics``), times training and
inference, draws the paper's figures into ``OUT/figures/`` and updates its
section of ``OUT/RESULTS.md`` (the other sections are kept, so benchmarks can
run separately or in parallel). ``--quick`` runs the same rows on small data;
it is what ``tests/test_benchmarks.py`` smoke-tests. See ``benchmarks/README.md``
for the protocols and the full-run plan.

One module a job: :mod:`.configs` (the paper's numbers, the full and quick
configurations), :mod:`.data` (the data sets), :mod:`.rows` (the estimator of
each row), :mod:`.runner` (fit, impute, score; ``run_benchmark``),
:mod:`.report` (``RESULTS.md``), :mod:`.figures` (the paper's figures) and
:mod:`.cli` (the command line). No module of ``sklvar`` imports it.
"""

from .configs import BENCHMARKS, CONFIGS, PAPER, get_config
from .runner import run_benchmark

__all__ = ["BENCHMARKS", "CONFIGS", "PAPER", "get_config", "run_benchmark"]
