"""`make bench`: the mesh data path measured side by side with direct nginx and an Envoy pair.

Run with `python -m bench` (see docs/benchmarks.md). Never part of `make test`: only the pure
pieces (wrk output parsing, ratios, the table) have unit tests.
"""
