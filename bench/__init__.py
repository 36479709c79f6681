"""`make bench`: the mesh data path measured side by side with direct nginx and an Envoy pair.

Run with `python -m bench` (see docs/benchmarks.md). Never part of `make test`: only the pure
pieces (wrk output and /proc parsing, CPU per request, ratios, the tables, the scale case's
topology and configs) have unit tests.
"""
