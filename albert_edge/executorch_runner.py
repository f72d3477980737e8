"""ExecuTorch runner: a .pte (XNNPACK delegate) through ExecuTorch's Python runtime, with XNNPACK's
weight cache turned on before the program is loaded.

Why the weight cache: ALBERT applies one set of layer weights 12 times; the exported program has one
XNNPACK piece holding all 12 applications (the stock recipe: pieces per application), and without
the cache XNNPACK packs a private copy of every weight for every application. Measured on ALBERT-base with
executorch 1.5.1: +328 MiB resident fp32 / +84 MiB int8 at load without the cache, +31 / +8.4 MiB with
it. The cache is compiled into the PyPI wheel (ENABLE_XNNPACK_WEIGHTS_CACHE's runtime switch, the
"weight_cache_enabled" backend option) but off by default, and the Python bindings expose no backend
options, so `enable_xnnpack_weight_cache` calls ExecuTorch's C++ `executorch::runtime::set_option`
in the already loaded libexecutorch.so through ctypes (the Android and Apple build presets turn the
cache on at compile time: EXECUTORCH_XNNPACK_ENABLE_WEIGHT_CACHE in tools/cmake/preset/android.cmake).
Anything unexpected (symbol missing, error code, read-back mismatch) is recorded in info() as
weight_cache: false with the reason; it never crashes.

Threads: ExecuTorch has one process-wide thread pool (XNNPACK and the optimized CPU kernels use it);
the bindings' `_unsafe_reset_threadpool` replaces it. Programs loaded earlier keep a pointer to the
old pool, so a second runner asking for a different count while another is alive is refused.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import io
import logging
import os
import warnings
import weakref
from pathlib import Path

import numpy as np

from .errors import AlbertEdgeError
from .runners import Runner

XNNPACK_BACKEND = "XnnpackBackend"
WEIGHT_CACHE_KEY = "weight_cache_enabled"
# executorch::runtime::set_option / get_option(const char* backend, Span<BackendOption>) in
# runtime/backend/interface.h (executorch 1.5.1: `nm -D lib/libexecutorch.so`).
_SET_OPTION = "_ZN10executorch7runtime10set_optionEPKcNS0_4SpanINS0_13BackendOptionEEE"
_GET_OPTION = "_ZN10executorch7runtime10get_optionEPKcNS0_4SpanINS0_13BackendOptionEEE"
_ERR_OK = 0


class _BackendOption(ctypes.Structure):
    """runtime/backend/options.h: struct BackendOption { char key[64];
    std::variant<bool, int, std::array<char, 256>> value; }  — 324 bytes, align 4: the variant's
    storage at offset 64, its index byte at 320 (0 bool, 1 int, 2 string). Checked with g++ against the
    wheel's headers (sizeof, offsetof, index byte per alternative); read back through get_option at
    run time, so a layout change shows up as a recorded failure, not as silent misconfiguration."""

    _fields_ = [("key", ctypes.c_char * 64), ("storage", ctypes.c_ubyte * 256), ("index", ctypes.c_ubyte), ("_pad", ctypes.c_ubyte * 3)]


assert ctypes.sizeof(_BackendOption) == 324


def _executorch_dir() -> Path | None:
    spec = importlib.util.find_spec("executorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@contextlib.contextmanager
def quiet_executorch():
    """Importing ExecuTorch prints cpuinfo probes from C++ (fd 2), torchao logs optional-kernel load
    failures and deprecation warnings; none is actionable for users. Shown only if something fails."""
    from .tflite_runner import native_stderr_captured

    lg = logging.getLogger("torchao")
    old = lg.level
    lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), native_stderr_captured():
            warnings.simplefilter("ignore")
            yield
    finally:
        lg.setLevel(old)


_quiet_import = quiet_executorch


def _bindings():
    try:
        with _quiet_import():
            from executorch.extension.pybindings import portable_lib

            # Registers the quantized_decomposed kernels (embedding_byte of the int8 program) in the
            # runtime's registry: the AOT library links libexecutorch_kernels_quantized.so.
            import executorch.kernels.quantized  # noqa: F401
    except ImportError as e:
        raise AlbertEdgeError(f"ExecuTorch is not installed ({e}); `pip install executorch==1.5.1`") from None
    return portable_lib


def _libexecutorch():
    """The libexecutorch.so the bindings already loaded (RTLD_NOLOAD: never a second copy)."""
    d = _executorch_dir()
    if d is None:
        raise OSError("executorch package not found")
    path = d / "lib" / "libexecutorch.so"
    if not path.is_file():
        raise OSError(f"{path} not found (wheel layout changed?)")
    return ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL | getattr(os, "RTLD_NOLOAD", 4))


def _option_call(fn, key: str, value: bool | None) -> tuple[int, _BackendOption]:
    # A zeroed buffer larger than the struct: a (hypothetical) larger BackendOption would read
    # zeros rather than past the allocation.
    buf = (ctypes.c_ubyte * 1024)()
    opt = _BackendOption.from_buffer(buf)
    opt.key = key.encode()
    if value is None:
        opt.index = 0xFF  # get_option overwrites the value, index included
    else:
        opt.index = 0
        opt.storage[0] = 1 if value else 0
    fn.restype = ctypes.c_uint32
    fn.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]  # Span<T> is {T*, size_t}, passed in two registers
    err = fn(XNNPACK_BACKEND.encode(), ctypes.addressof(opt), 1)
    return int(err), opt


def xnnpack_weight_cache_state() -> tuple[bool | None, str | None]:
    """(enabled, reason): XNNPACK's weight_cache_enabled as the backend reports it; None if unknown."""
    _bindings()
    try:
        lib = _libexecutorch()
        get = getattr(lib, _GET_OPTION)
    except (OSError, AttributeError) as e:
        return None, f"cannot reach executorch::runtime::get_option ({str(e)[:160]})"
    err, opt = _option_call(get, WEIGHT_CACHE_KEY, None)
    if err != _ERR_OK:
        return None, f"get_option({XNNPACK_BACKEND}) returned error {err:#x}"
    if opt.index != 0:
        return None, f"get_option returned a non-bool {WEIGHT_CACHE_KEY} (variant index {opt.index})"
    return bool(opt.storage[0]), None


def set_xnnpack_weight_cache(enabled: bool) -> tuple[bool, str | None]:
    """Set XNNPACK's weight_cache_enabled for programs loaded from now on; (state now, reason if not as asked)."""
    _bindings()
    try:
        lib = _libexecutorch()
        setter = getattr(lib, _SET_OPTION)
    except (OSError, AttributeError) as e:
        return False, f"cannot reach executorch::runtime::set_option ({str(e)[:160]})"
    if not _bindings()._is_available(XNNPACK_BACKEND):
        return False, f"{XNNPACK_BACKEND} is not registered in this ExecuTorch build"
    err, _ = _option_call(setter, WEIGHT_CACHE_KEY, enabled)
    if err != _ERR_OK:
        return False, f"set_option({XNNPACK_BACKEND}, {WEIGHT_CACHE_KEY}) returned error {err:#x}"
    state, why = xnnpack_weight_cache_state()
    if state is None:
        return False, why
    if state != enabled:
        return state, f"{WEIGHT_CACHE_KEY} reads back {state} after setting {enabled}"
    return state, None


# Runners alive in this process and the thread count their programs were loaded with.
_LIVE: "weakref.WeakSet[ExecuTorchRunner]" = weakref.WeakSet()


def _set_threads(threads: int | None) -> int:
    pl = _bindings()
    with quiet_executorch():
        current = int(pl._threadpool_get_thread_count())
    if not threads or threads == current:
        return current
    alive = [r for r in _LIVE if r.program is not None]
    if alive:
        raise AlbertEdgeError(
            f"ExecuTorch's thread pool is process-wide and {len(alive)} loaded program(s) use {current} thread(s); "
            f"cannot switch to {threads} while they are alive (close them first)"
        )
    with quiet_executorch():
        pl._unsafe_reset_threadpool(int(threads))
        return int(pl._threadpool_get_thread_count())


class ExecuTorchRunner(Runner):
    """Runs model.pte / model.int8.pte one text at a time (the program's batch is 1, its sequence
    length dynamic from 2 to the export's max length)."""

    format = "executorch"

    def __init__(
        self,
        path: str | os.PathLike,
        precision: str = "",
        pad_id: int = 0,
        threads: int | None = None,
        entry: dict | None = None,
        weight_cache: bool | str | os.PathLike | None = True,
        **kwargs,
    ):
        """weight_cache: turn XNNPACK's weight cache on (default) or off. ExecuTorch's cache lives in
        memory, so a path (what the benchmark passes for LiteRT's file cache) just means on."""
        import torch

        self.path = Path(path)
        self.name = self.path.name
        self.precision = precision
        self.pad_id = int(pad_id)
        self.entry = entry or {}
        self.program = None
        self.method = None
        if not self.path.is_file():
            raise AlbertEdgeError(f"ExecuTorch program {self.path} does not exist")
        pl = _bindings()
        from executorch.runtime import Runtime

        self.threads = _set_threads(threads)
        want = True if weight_cache is None else bool(weight_cache)
        self.weight_cache, self.weight_cache_reason = set_xnnpack_weight_cache(want)
        self._torch = torch
        try:
            with _quiet_import():
                self.program = Runtime.get().load_program(self.path)
                self.method = self.program.load_method("forward")
        except Exception as e:
            self.program = None
            raise AlbertEdgeError(f"ExecuTorch cannot load {self.path}: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}") from None
        if self.method is None:
            raise AlbertEdgeError(f"{self.path} has no `forward` method")
        meta = self.method.metadata
        if meta.num_inputs() != 3:
            raise AlbertEdgeError(f"{self.path}: expected 3 inputs (input_ids, attention_mask, token_type_ids), found {meta.num_inputs()}")
        seq = self.entry.get("sequence") or {}
        self.min_length = int(seq.get("min", 2))
        self.max_length = int(seq.get("max", 0)) or None
        self.backends = list(pl._get_registered_backend_names())
        _LIVE.add(self)

    def _one(self, ids: list[int]) -> np.ndarray:
        torch = self._torch
        n = len(ids)
        if self.max_length and n > self.max_length:
            raise AlbertEdgeError(f"{self.name}: {n} tokens exceed the program's maximum sequence length {self.max_length}")
        L = max(n, self.min_length)
        x = torch.full((1, L), self.pad_id, dtype=torch.long)
        x[0, :n] = torch.tensor(ids, dtype=torch.long)
        mask = torch.zeros((1, L), dtype=torch.long)
        mask[0, :n] = 1
        try:
            out = self.method.execute([x, mask, torch.zeros((1, L), dtype=torch.long)])
        except RuntimeError as e:  # ExecuTorch reports a failed kernel as "execute() failed with error 0x.."
            raise AlbertEdgeError(f"ExecuTorch could not run {self.name} on {n} tokens: {str(e).splitlines()[0][:200]}") from None
        return out[0].numpy()[0]

    def logits(self, ids_list):
        if self.method is None:
            raise AlbertEdgeError(f"{self.name}: runner is closed")
        return np.stack([self._one(list(ids)) for ids in ids_list]).astype(np.float32)

    def close(self) -> None:
        self.method = None
        self.program = None

    def info(self) -> dict:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("executorch")
        except PackageNotFoundError:
            v = None
        return {
            "runtime": "executorch",
            "executorch": v,
            "threads": self.threads,
            "backend": XNNPACK_BACKEND,
            "weight_cache": bool(self.weight_cache),
            "weight_cache_reason": self.weight_cache_reason,
            "weight_cache_mechanism": "executorch::runtime::set_option(XnnpackBackend, weight_cache_enabled) via ctypes",
            "batch": 1,
            "max_length": self.max_length,
        }
