"""Progress bars on stderr (tqdm hides them when stderr is not a terminal, e.g. in CI logs)."""

from __future__ import annotations

import contextlib
import sys
import time


def bar(total: int | None = None, desc: str = "", unit: str = "it", leave: bool = False):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=leave, file=sys.stderr, disable=None, dynamic_ncols=True)


@contextlib.contextmanager
def step(desc: str, quiet: bool = False):
    """Announce a step that has no natural progress count, and how long it took."""
    t0 = time.perf_counter()
    if not quiet:
        print(f"… {desc}", file=sys.stderr, flush=True)
    yield
    if not quiet:
        print(f"✓ {desc} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
