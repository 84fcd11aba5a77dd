"""The real-data benchmark (``benchmarks/real_data.py``): data, protocols, peers, report.

One module a job: :mod:`.data` loads the seven real series and cuts the gaps of
the protocols, :mod:`.peers` holds the classical and deep peers, :mod:`.runner`
runs (method, data set) cells in worker processes and :mod:`.report` writes
``REAL_DATA.md``. Never imported by ``sklvar``.
"""
