"""Native libraries' own logging (LiteRT, TensorFlow, MediaPipe, ExecuTorch write to fd 2 from C++ with
no Python-visible log level): collect it, keep it out of the terminal, and hand it back for errors."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def native_stderr_captured():
    """Collect what native code writes to fd 2 meanwhile.

    Every CompiledModel load makes LiteRT's C++ side log ~40 lines (accelerator registry, NPU
    compiler plugins it cannot load on a PC) with no Python-visible log-level switch; they are
    kept out of the user's terminal and handed back for error messages instead.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        captured = {"text": ""}
        try:
            yield captured
        finally:
            _flush_c_stdio()  # lines still buffered in C's stderr belong to the capture
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            captured["text"] = f.read().decode("utf-8", "replace")


def _flush_c_stdio() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


def native_error(text: str) -> str:
    """The last ERROR line a native library logged (plugin/adapter chatter excluded), for one-line messages."""
    errs = [ln.strip() for ln in text.splitlines() if ln.startswith("ERROR") and "plugin" not in ln and "Adapter" not in ln]
    return errs[-1][:200] if errs else ""
