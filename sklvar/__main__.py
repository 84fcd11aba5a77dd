"""``python -m sklvar``: the ``sklvar`` command line; ``demo`` when no command is given.

``python -m sklvar`` runs ``sklvar demo`` (impute a gappy simulated Lorenz-63
series); ``python -m sklvar impute IN.csv -o OUT.csv`` and the other commands
work as with the ``sklvar`` console script.
"""

import sys

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:] or ["demo"]))
