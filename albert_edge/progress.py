"""Progress bars on stderr (tqdm hides them when stderr is not a terminal, e.g. in CI logs)."""

from __future__ import annotations

import contextlib
import sys
import time


def bar(total: int | None = None, desc: str = "", unit: str = "it", leave: bool = False, lines: bool = False):
    """A tqdm bar on a terminal. lines=True: where stderr is not a terminal (CI logs, `> log 2>&1`),
    plain lines instead of nothing: the count after 10 s and then once a minute, and an end line with
    the time taken (one line for a quick step).
    Why: tqdm draws nothing there, and `verify` on 872 sentences of an ALBERT-base MediaPipe file runs
    for many minutes per artifact."""
    from tqdm.auto import tqdm

    if lines and not _isatty(sys.stderr):
        return LineProgress(total, desc, unit)
    return tqdm(total=total, desc=desc, unit=unit, leave=leave, file=sys.stderr, disable=None, dynamic_ncols=True)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class LineProgress:
    """The part of tqdm's interface the callers use, written as lines to stderr."""

    FIRST_S, EVERY_S = 10.0, 60.0

    def __init__(self, total: int | None, desc: str, unit: str):
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        self.t0 = time.perf_counter()
        self.next = self.t0 + self.FIRST_S

    def _print(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if self.t0 is not None and now >= self.next and (self.total is None or self.n < self.total):
            self.next = now + self.EVERY_S
            self._print(f"… {self.desc}: {self.n}" + (f"/{self.total}" if self.total is not None else "") + f" {self.unit}, {now - self.t0:.0f} s")

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def set_postfix(self, **_kw) -> None:
        pass

    def close(self) -> None:
        if self.t0 is not None:
            self._print(f"✓ {self.desc} ({self.n} {self.unit}, {time.perf_counter() - self.t0:.1f} s)")
            self.t0 = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        self.t0 = None


@contextlib.contextmanager
def step(desc: str, quiet: bool = False):
    """Announce a step that has no natural progress count, and how long it took."""
    t0 = time.perf_counter()
    if not quiet:
        print(f"… {desc}", file=sys.stderr, flush=True)
    yield
    if not quiet:
        print(f"✓ {desc} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
