"""Reproduce Tables 1 and 2 of Fablet, Drumetz & Rousseau (2020) with sklvar.

Usage::

    python benchmarks/paper.py {mnist,lorenz63,lorenz96,all} --out DIR [--quick]
                               [--no-figures] [--threads N] [--jobs J] [--seed S]
                               [--mnist PATH]

The code is the package ``benchmarks/papertables/`` (configs, data, rows,
runner, report, figures, cli); this script puts ``benchmarks/`` (and the
repository, for a source checkout without install) on ``sys.path`` and runs
its command line. ``run_benchmark`` is re-exported for Python callers.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for _path in (HERE.parent, HERE):  # sklvar of a source checkout; papertables
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from papertables import BENCHMARKS, run_benchmark  # noqa: E402
from papertables.cli import main  # noqa: E402

__all__ = ["BENCHMARKS", "main", "run_benchmark"]

if __name__ == "__main__":
    sys.exit(main())
