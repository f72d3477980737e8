"""Progress bars on stderr (tqdm hides them when stderr is not a terminal, e.g. in CI logs)."""

from __future__ import annotations

import contextlib
import sys
import time


def bar(total: int | None = None, desc: str = "", unit: str = "it", leave: bool = False, lines: bool = False):
    """A tqdm bar on a terminal. lines=True: where stderr is not a terminal (CI logs, `> log 2>&1`),
    plain lines instead of nothing: the count after 10 s and then once a minute, and an end line with
    the time taken (one line for a quick step). A bar whose description is changed per item (the
    benchmark names each artifact) also gets a line as each item ends.
    Why: tqdm draws nothing there, and `verify` on 872 sentences of an ALBERT-base MediaPipe file runs
    for many minutes per artifact; the benchmark's rows of such a folder run for half an hour."""
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
    """The part of tqdm's interface the callers use, written as lines to stderr.

    `desc` at creation is the bar's title (the end line names it). set_description() names the item
    now running: when it changes, a line says how far the bar got after the item before (not whether
    that item succeeded: the caller reports failures with write()), unless the timed count line has
    just said it."""

    FIRST_S, EVERY_S = 10.0, 60.0

    def __init__(self, total: int | None, desc: str, unit: str):
        self.total, self.title, self.desc, self.unit, self.n = total, desc, desc, unit, 0
        self.item_n = 0  # self.n when the current item began
        self.printed_n = -1  # self.n at the last count line
        self.t0 = time.perf_counter()
        self.next = self.t0 + self.FIRST_S

    @staticmethod
    def write(text: str, file=None, end: str = "\n") -> None:
        print(text, file=file or sys.stderr, end=end, flush=True)

    def _count(self, now: float) -> str:
        return f"{self.n}" + (f"/{self.total}" if self.total is not None else "") + f" {self.unit}, {now - self.t0:.0f} s"

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if self.t0 is not None and now >= self.next and (self.total is None or self.n < self.total):
            self.next = now + self.EVERY_S
            item = f" ({self.desc})" if self.desc != self.title else ""
            self.write(f"… {self.title}: {self._count(now)}{item}")
            self.printed_n = self.n

    def _item_ended(self) -> None:
        # Not when the count line just said the same (an item's last update can trigger it).
        if self.t0 is not None and self.desc != self.title and self.item_n < self.n != self.printed_n:
            self.write(f"… {self.title}: {self._count(time.perf_counter())} after {self.desc}")

    def set_description(self, desc: str) -> None:
        if desc != self.desc:
            self._item_ended()
            self.item_n = self.n
        self.desc = desc

    def set_postfix(self, **_kw) -> None:
        pass

    def close(self) -> None:
        if self.t0 is not None:
            self._item_ended()
            self.write(f"✓ {self.title} ({self.n} {self.unit}, {time.perf_counter() - self.t0:.1f} s)")
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
