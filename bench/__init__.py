"""Benchmarks: each script prints `RESULT <name> ours=... baseline=... ratio=...` (see BENCHMARKS.md)."""
