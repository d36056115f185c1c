"""signalrisk's benchmark suite: ``python -m bench`` (``make bench``), ``--quick`` for CI.

One module per figure of the performance issue; each returns :class:`bench.common.Figure`
rows (figure, target, measured, reference, ratio, pass/fail) and its raw measurements, and
:mod:`bench.report` prints the table and writes ``BENCHMARKS.md`` and ``bench/results.json``.

The suite measures; it does not test. Nothing here is a timed assertion of the test suite.
"""
