"""Benchmarks run with `pytest benchmarks --benchmark-enable` (they are disabled in the test suite)."""
