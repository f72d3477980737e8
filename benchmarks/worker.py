"""Measurement worker: `python -m albert_edge.benchmarks.worker` reads one job (JSON) on stdin — a memory
measurement, or every latency configuration and the real sentences of ONE artifact at one thread count —
runs it in this fresh process (nothing else loaded: see timing.py) and prints one JSON line."""

from __future__ import annotations

import os
import sys


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from . import timing
    from .measure import import_runtime, runner_for_job

    return timing.main_with(runner_for_job, lambda job: import_runtime(job["spec"]))


if __name__ == "__main__":
    sys.exit(main())
