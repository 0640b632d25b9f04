"""Benchmarks: run from the repository root as modules, e.g. `python -m bench.retrieval`.

Not run by CI (slow); each prints its figures and writes them as JSON under bench/results/.
"""
