"""Bevaka's benchmarks: ``python -m bench [NAME ...] [--quick]`` (``make bench``).

Each benchmark measures Bevaka ("ours") and a baseline side by side in the same run on the
same machine, prints a table of ratios against the targets of issue 9 and writes
``bench/results.json``. Every measured side runs in a fresh child process whose process tree
is polled for its peak RSS. Never collected by pytest (``bench/`` is outside testpaths).
See docs/benchmarks.md.
"""
