"""Benchmarks: how fast and how small Pathways is (`make bench`, docs/benchmarks.md).

Each module measures one thing and returns plain figures; `python -m bench` runs them all,
prints a table and writes docs/benchmarks.md. Nothing here is a test: timings are reported,
never asserted.
"""
