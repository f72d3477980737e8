"""Summary statistics for timing samples, and the run-count policy.

Medians with a spread (p10–p90, IQR) rather than means: latency distributions on a shared desktop
are right-skewed (scheduler hiccups, another process), so the mean moves with outliers while the
median does not.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def percentile(samples: Sequence[float], q: float) -> float:
    """q-th percentile (0–100), linear interpolation between order statistics (numpy's default)."""
    if len(samples) == 0:
        raise ValueError("percentile of an empty sample")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q={q} outside 0..100")
    return float(np.percentile(np.asarray(samples, dtype=np.float64), q))


def summarize(samples_ms: Sequence[float]) -> dict:
    """The STATS object of the schema: p10/p50/p90/p99, mean, min, max, IQR (p75−p25), n."""
    x = np.asarray(samples_ms, dtype=np.float64)
    if x.size == 0:
        raise ValueError("cannot summarize an empty sample")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples must be finite")
    p10, p25, p50, p75, p90, p99 = np.percentile(x, [10, 25, 50, 75, 90, 99])
    return {
        "p10": float(p10),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "mean": float(x.mean()),
        "min": float(x.min()),
        "max": float(x.max()),
        "iqr": float(p75 - p25),
        "n": int(x.size),
    }


def relative_spread(stats: dict) -> float:
    """(p90 − p10) / p50: a unit-free noise measure the report prints next to each median."""
    return (stats["p90"] - stats["p10"]) / stats["p50"] if stats["p50"] > 0 else math.inf


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is zero."""
    if a is None or b is None or b == 0:
        return None
    return float(a) / float(b)


from .timing import runs_for_budget  # noqa: E402,F401  (one policy; timing.py is importable without the package)
