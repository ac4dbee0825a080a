"""Skiplock benchmarks: ``python -m bench <scenario> [--quick]``.

Each scenario starts its own engine processes against a throwaway MariaDB database and a
fresh Redis key prefix on 127.0.0.1, stops them however it ends, writes its numbers as
JSON under ``bench/results/`` and its plot under ``docs/images/bench-<scenario>.png``."""
