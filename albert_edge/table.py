"""Plain-text tables for terminal reports (verify, pipeline, arm64-parity)."""

from __future__ import annotations


def render(rows: list[tuple[str, ...]] | list[list[str]]) -> list[str]:
    """Left-aligned columns; the first row is the header, underlined."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines
