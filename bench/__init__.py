"""Benchmarks: each module is one `python -m bench.<name>`, writing its section of docs/benchmarks.md with `--write`."""
