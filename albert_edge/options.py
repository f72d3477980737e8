"""Command-line value types shared by every command: each bad value is one line and exit 2 before any work.

Used as argparse `type=` (argparse turns the ArgumentTypeError into `albert-edge: error: argument …`).
"""

from __future__ import annotations

import argparse
import os

# More threads than this never helps an ALBERT on a CPU and only costs thread start-up (10 000 made a
# one-sentence predict take 538 s): 4 per logical CPU, and at least 8 on small machines.
MAX_THREADS = max(8, 4 * (os.cpu_count() or 1))


def _int(text: str, what: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}") from None


def threads(text: str) -> int:
    n = _int(text, "threads")
    if not 1 <= n <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"threads must be between 1 and {MAX_THREADS} (4 per logical CPU), got {n}")
    return n


def positive_int(text: str) -> int:
    n = _int(text, "value")
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def non_negative_int(text: str) -> int:
    n = _int(text, "value")
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


def _float(text: str) -> float:
    try:
        v = float(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return v


def fraction(text: str) -> float:
    """A share in (0, 1]: 0.995 means 99.5 %. A percentage such as 99.5 is refused with that hint."""
    v = _float(text)
    if not 0 < v <= 1:
        hint = f" (did you mean {v / 100:g}?)" if 1 < v <= 100 else ""
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1], e.g. 0.995 for 99.5 %, got {text}{hint}")
    return v


def fraction_or_zero(text: str) -> float:
    """A share in [0, 1] (an accuracy drop may be 0)."""
    v = _float(text)
    if not 0 <= v <= 1:
        hint = f" (did you mean {v / 100:g}?)" if 1 < v <= 100 else ""
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1], e.g. 0.005 for 0.5 points, got {text}{hint}")
    return v


def positive_float(text: str) -> float:
    v = _float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return v


def int_list(text: str, flag: str, minimum: int = 1) -> list[int]:
    """"32,64,128" -> [32, 64, 128] (sorted, unique); a one-line AlbertEdgeError for anything else."""
    from .errors import AlbertEdgeError

    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts:
        raise AlbertEdgeError(f"{flag} {text!r} is empty; give integers like 32,64,128")
    out = []
    for p in parts:
        if not p.isdigit() or int(p) < minimum:
            raise AlbertEdgeError(f"{flag} {text!r}: {p!r} is not an integer >= {minimum}")
        out.append(int(p))
    return sorted(set(out))
