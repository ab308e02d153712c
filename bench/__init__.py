"""Benchmarks. `python -m bench.routing` compares the compiled routing rules with other engines."""
