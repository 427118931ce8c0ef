"""Benchmarks: scripts that print figures (run with ``./dev bench``); never timed tests."""
