"""LiteRT runner: ai-edge-litert's CompiledModel over the fixed-length signatures of a .tflite
file, with XNNPACK's weight cache.

Why CompiledModel and not `Interpreter`: only CompiledModel's `CpuOptions` expose
`xnnpack_weight_cache_path`. Without the cache XNNPACK packs a private copy of the shared ALBERT
weights for every layer application (measured on ALBERT-base: +365 MB RSS fp32, +99 MB int8);
with it each packed weight exists once (+43–52 / +22–24 MB). The cache path must be a FILE: a
directory is silently ignored. A cache file holds weights packed for one exact model file and
one CPU, so its name carries the artifact's sha256 and it never travels with the artifacts.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .errors import AlbertEdgeError
from .formats import INPUT_NAMES
from .native_log import native_error as _native_error
from .native_log import native_stderr_captured
from .runners import Runner
from .tokenizer import truncate_ids


def cache_file_name(file: str, sha256: str) -> str:
    return f".{file}.{sha256[:16]}.xnnpack_cache"


def _output_quantization(path: Path, key: str, name: str) -> tuple[float, int]:
    """(scale, zero_point) of a signature output, read from the flatbuffer (the CompiledModel API
    reports an output's dtype but not its quantization)."""
    from ai_edge_litert import schema_py_generated as schema

    data = path.read_bytes()
    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.SignatureDefsLength()):
        sd = model.SignatureDefs(i)
        if sd.SignatureKey().decode() != key:
            continue
        for j in range(sd.OutputsLength()):
            if sd.Outputs(j).Name().decode() == name:
                q = model.Subgraphs(sd.SubgraphIndex()).Tensors(sd.Outputs(j).TensorIndex()).Quantization()
                if q is not None and q.ScaleLength() == 1:
                    return float(q.Scale(0)), int(q.ZeroPoint(0))
    raise AlbertEdgeError(f"{path}: integer output {name!r} of {key!r} has no per-tensor quantization to dequantize with")


class TFLiteRunner(Runner):
    format = "tflite"

    def __init__(
        self,
        path: str | os.PathLike,
        precision: str = "",
        pad_id: int = 0,
        threads: int | None = None,
        entry: dict | None = None,
        weight_cache: bool | str | os.PathLike = True,
        **kwargs,
    ):
        self.path = Path(path)
        self.name = self.path.name
        self.precision = precision or (entry or {}).get("precision", "")
        self.pad_id = int(pad_id or 0)
        self.threads = int(threads) if threads else None
        self._sep_id = kwargs.get("sep_id")
        self._warned_truncation = False
        if not self.path.is_file():
            raise AlbertEdgeError(f"TFLite model {self.path} does not exist")
        self.entry = entry
        self.cache_path = self._cache_path(weight_cache)

        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import CpuOptions, Options

        cpu = CpuOptions(num_threads=self.threads or 0, xnnpack_weight_cache_path=str(self.cache_path or ""))
        opts = Options(hardware_accelerators=HardwareAccelerator.CPU, cpu_options=cpu)
        failure = None
        with native_stderr_captured() as native:
            try:
                self.model = CompiledModel.from_file(str(self.path), options=opts)
            except Exception as e:
                failure = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        if failure is not None:
            detail = _native_error(native["text"])
            raise AlbertEdgeError(f"LiteRT cannot load {self.path}: {failure}" + (f" ({detail})" if detail else ""))

        self.signatures = self._read_signatures()
        self.buckets = sorted(self.signatures)
        self.max_len = self.buckets[-1]
        self._io: dict[int, tuple] = {}
        self._env_ready = False

    def close(self) -> None:
        """Release the model now. Tearing LiteRT's environment down logs ~3 lines per model to fd 2
        (no Python-visible log level: LiteRT issue #7420); they are kept out of the terminal too."""
        if getattr(self, "model", None) is None:
            return
        with native_stderr_captured():
            self._io.clear()  # tensor buffers keep the environment alive
            self.model = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: modules may already be gone
            pass

    # -- setup -------------------------------------------------------------------------------
    def _cache_path(self, weight_cache) -> Path | None:
        if weight_cache is False or weight_cache is None:
            return None
        if not isinstance(weight_cache, bool):
            p = Path(weight_cache)
            if p.is_dir():
                raise AlbertEdgeError(f"XNNPACK weight cache {p} is a folder; give a file path (a folder is silently ignored by LiteRT)")
            if not p.parent.is_dir():
                raise AlbertEdgeError(f"folder of the XNNPACK weight cache {p} does not exist")
            return p
        sha = (self.entry or {}).get("sha256")
        if not sha:
            from .fsutil import sha256_file

            sha = sha256_file(self.path)
        name = cache_file_name(self.path.name, sha)
        folder = self.path.parent
        if os.access(folder, os.W_OK):
            return folder / name
        tmp = Path(tempfile.gettempdir()) / "albert-edge-xnnpack"
        tmp.mkdir(exist_ok=True)
        return tmp / name

    def _read_signatures(self) -> dict[int, str]:
        """seq_len -> signature key; from the manifest entry when given, checked against the file."""
        in_file = self.model.get_signature_list()
        found: dict[int, str] = {}
        for key, io in in_file.items():
            if not set(INPUT_NAMES) <= set(io["inputs"]):
                continue
            shape = self.model.get_input_tensor_details(key)["input_ids"]["shape"]
            if len(shape) != 2 or shape[0] != 1:
                raise AlbertEdgeError(f"{self.path}: signature {key!r} has input shape {shape}; expected [1, L]")
            found[int(shape[1])] = key
        if not found:
            raise AlbertEdgeError(f"{self.path} has no signature with inputs {', '.join(INPUT_NAMES)}")
        if self.entry and self.entry.get("signatures"):
            declared = {int(s["seq_len"]): s["key"] for s in self.entry["signatures"]}
            if declared != found:
                raise AlbertEdgeError(f"{self.path}: signatures {sorted(found.items())} do not match the manifest's {sorted(declared.items())}")
        return found

    def _buffers(self, seq_len: int):
        if seq_len not in self._io:
            self._io[seq_len] = self._make_buffers(seq_len)
        return self._io[seq_len]

    def _make_buffers(self, seq_len: int):
        key = self.signatures[seq_len]
        idx = self.model.get_signature_index(key)
        outs = self.model.get_signature_list()[key]["outputs"]
        out_name = "logits" if "logits" in outs else outs[0]
        details = self.model.get_output_tensor_details(key)[out_name]
        n_out = int(np.prod(details["shape"]))
        dtype = np.dtype(details["dtype"])
        # Full-int8 (static) models hand back quantized logits: dequantize with the tensor's own params.
        deq = _output_quantization(self.path, key, out_name) if dtype.kind in "iu" else None
        ins = {n: self.model.create_input_buffer_by_name(key, n) for n in INPUT_NAMES}
        return (key, idx, ins, {out_name: self.model.create_output_buffer_by_name(key, out_name)}, out_name, (n_out, dtype, deq))

    # -- running -----------------------------------------------------------------------------
    def bucket_for(self, n_tokens: int) -> int:
        """The smallest bucket that holds n_tokens (the largest when none does)."""
        for b in self.buckets:
            if b >= n_tokens:
                return b
        return self.max_len

    def _fit(self, ids: list[int]) -> list[int]:
        if len(ids) <= self.max_len:
            return ids
        if not self._warned_truncation:
            self._warned_truncation = True
            warnings.warn(
                f"{self.name}: a text of {len(ids)} tokens is longer than the largest bucket ({self.max_len}); "
                "truncating (keeping the final [SEP])",
                stacklevel=3,
            )
        # An encoded text ends with [SEP]; keep it (the id comes from the manifest via make_runner).
        return truncate_ids(ids, self.max_len, self._sep_id if self._sep_id is not None else ids[-1])

    def logits(self, ids_list):
        if len(ids_list) == 0:
            n_out = self._buffers(self.buckets[0])[5][0]
            return np.zeros((0, n_out), dtype=np.float32)
        if not self._env_ready:
            # The first tensor-buffer write lazily creates LiteRT's environment, which logs ~10 lines.
            with native_stderr_captured():
                out = self._logits(ids_list[:1])
            self._env_ready = True
            return out if len(ids_list) == 1 else np.concatenate([out, self._logits(ids_list[1:])])
        return self._logits(ids_list)

    def _logits(self, ids_list):
        rows = []
        for ids in ids_list:
            ids = self._fit(list(ids))
            L = self.bucket_for(len(ids))
            key, idx, ins, outs, out_name, (n_out, dtype, deq) = self._buffers(L)
            input_ids = np.full((1, L), self.pad_id, dtype=np.int32)
            input_ids[0, : len(ids)] = ids
            mask = np.zeros((1, L), dtype=np.int32)
            mask[0, : len(ids)] = 1
            ins["input_ids"].write(input_ids)
            ins["attention_mask"].write(mask)
            ins["token_type_ids"].write(np.zeros((1, L), dtype=np.int32))
            try:
                self.model.run_by_name(key, ins, outs)
            except RuntimeError as e:
                raise AlbertEdgeError(f"LiteRT failed to run {self.name} signature {key}: {str(e).splitlines()[0][:200]}") from None
            row = outs[out_name].read(n_out, dtype)
            if deq is not None:
                row = (row.astype(np.float32) - deq[1]) * deq[0]
            rows.append(row)
        return np.stack(rows).astype(np.float32)

    def info(self):
        return {
            "runtime": "ai-edge-litert CompiledModel (XNNPACK)",
            "buckets": list(self.buckets),
            "signatures": [self.signatures[b] for b in self.buckets],
            "threads": self.threads if self.threads else "runtime default",
            "weight_cache": self.cache_path is not None,
            "weight_cache_path": str(self.cache_path) if self.cache_path else None,
            "weight_cache_file_exists": bool(self.cache_path and self.cache_path.is_file()),
        }
