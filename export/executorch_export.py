"""`albert-edge export executorch`: an ExecuTorch program (.pte) with ALBERT's encoder delegated to
XNNPACK, dynamic sequence length, every shared weight stored once.

torch.export of the rewritten classifier (export/executorch_rewrites.py: on ALBERT-base the stock graph
splits into 62 XNNPACK pieces with portable kernels between them, the rewritten one is 1),
`to_edge_transform_and_lower` with the XnnpackPartitioner, `to_executorch`. XNNPACK keys its constants
by the sha256 of their bytes, so the 12 applications of ALBERT's shared layer reference one copy of
each weight in the file; `list_constants` reads back what the file stores and albert_edge.weight_guard
refuses a file that stores any weight twice.

Batch size is 1 in the program (the runner loops over a batch): XNNPACK 1.5.1 reshapes take literal
sizes plus at most one inferred dim, and with both batch and sequence dynamic the per-head reshapes
have two, which put them (4 per layer application) outside the delegate. Phones classify one text
at a time anyway.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from pathlib import Path

from ..errors import AlbertEdgeError
from ..staging import shown

HELP = "export a fine-tuned ALBERT checkpoint to ExecuTorch (model.pte: fp32, XNNPACK, dynamic sequence length)"
PTE_FILE = "model.pte"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
DEFAULT_MAX_LENGTH = 128
MIN_LENGTH = 2
BACKEND = "xnnpack"
# The self-check before the file is renamed into place: max |Δlogit| vs PyTorch on a few lengths.


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", metavar="OUTPUT_DIR", help="artifacts folder to create or add to")
    p.add_argument("--model", required=True, metavar="MODEL_DIR", help="local Hugging Face ALBERT classifier folder")
    p.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH, help="longest token sequence the artifacts serve (default %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace existing artifacts")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--allow-duplicated-weights", action="store_true", help="write the file even if it stores weights more than once (recorded in the manifest)")


def run(args) -> int:
    entry = export_executorch(
        args.model, args.output, max_length=args.max_length, overwrite=args.overwrite, quiet=args.quiet,
        allow_duplicated_weights=getattr(args, "allow_duplicated_weights", False),
    )
    if not args.quiet:
        print(f"wrote {shown(Path(args.output) / entry['file'])} ({describe(entry)})")
    return 0


def describe(entry: dict) -> str:
    g = entry["graph"]
    return (
        f"{entry['bytes'] / 1e6:.2f} MB; {g['delegate_partitions']} XNNPACK partition(s), "
        f"{g['weight_matmuls_integer']} integer / {g['weight_matmuls_float']} float weight matmuls, "
        f"{g['constants']['duplicate_bytes']} duplicate constant bytes"
    )


def executorch_io(num_labels: int, max_length: int) -> tuple[list[dict], list[dict]]:
    inputs = [{"name": n, "dtype": "int64", "shape": [1, "sequence"]} for n in INPUT_NAMES]
    outputs = [{"name": "logits", "dtype": "float32", "shape": [1, num_labels]}]
    return inputs, outputs


def require_executorch() -> None:
    try:
        with quiet_native():
            import executorch.exir  # noqa: F401
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner  # noqa: F401
    except ImportError as e:
        raise AlbertEdgeError(f"ExecuTorch is not installed ({e}); `pip install executorch==1.5.1`") from None


@contextlib.contextmanager
def quiet_native(quiet: bool = True):
    """ExecuTorch and torchao print import-time and lowering chatter (cpuinfo probes, optional CUDA kernels, deprecations)."""
    if not quiet:
        yield
        return
    from ..executorch_runner import quiet_executorch

    with quiet_executorch():
        yield


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__


def sample_inputs(length: int = 16):
    import torch

    z = torch.zeros((1, length), dtype=torch.long)
    return (z + 5, z + 1, z)


def dynamic_shapes(max_length: int):
    from torch.export import Dim

    seq = Dim("sequence", min=MIN_LENGTH, max=max_length)
    return tuple({1: seq} for _ in INPUT_NAMES)


def export_program(module, max_length: int):
    """torch.export with a dynamic sequence dim (batch 1)."""
    import torch
    from torch.export import export

    try:
        with torch.no_grad(), quiet_native():
            return export(module, sample_inputs(min(16, max_length)), dynamic_shapes=dynamic_shapes(max_length), strict=False)
    except Exception as e:
        raise AlbertEdgeError(f"torch.export could not capture the model: {_first_line(e)}") from None


def prepare_module(model):
    """The classifier rewritten for XNNPACK (in place) and wrapped to take the three id tensors."""
    from .executorch_rewrites import AdditiveMaskLogits, apply_rewrites

    rewrites = apply_rewrites(model)
    wrapped = AdditiveMaskLogits(model).eval()
    rewrites["cls_only_last_application"] = wrapped.layers is not None
    rewrites["token_rows"] = wrapped.layers is not None  # batch 1: [seq, hidden] rows (cls_only.ClsOnlyLogits)
    return wrapped, rewrites


def lower_to_pte(ep, quantized: bool = False, rewrites: bool = True) -> tuple[bytes, dict]:
    """to_edge_transform_and_lower(XNNPACK) + to_executorch -> (.pte bytes, delegate stats).

    rewrites=False is the stock recipe (benchmarks/peers/executorch_stock.py): ExecuTorch's
    XnnpackPartitioner and no transform passes."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower

    from .executorch_rewrites import FixpointXnnpackPartitioner, delegate_stats, edge_transform_passes

    try:
        with quiet_native():
            if rewrites:
                edge = to_edge_transform_and_lower(ep, transform_passes=edge_transform_passes(), partitioner=[FixpointXnnpackPartitioner()])
            else:
                edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
            stats = delegate_stats(edge)
            # Quant fusion turns PT2E's dequantize_per_channel -> embedding into ExecuTorch's
            # quantized_decomposed::embedding_byte (uint8 rows + one scale and zero point per row).
            prog = edge.to_executorch(ExecutorchBackendConfig(extract_delegate_segments=True, do_quant_fusion_and_const_prop=quantized))
            return prog.buffer, stats
    except AlbertEdgeError:
        raise
    except Exception as e:
        raise AlbertEdgeError(f"ExecuTorch could not lower the model: {_first_line(e)}") from None


def probe_ids(vocab_size: int, max_length: int, seed: int = 0) -> list[list[int]]:
    """A few id lists ([CLS] ... [SEP]) at the shortest, a middle and the longest length."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = sorted({MIN_LENGTH, min(9, max_length), max_length})
    return [[2] + [int(x) for x in rng.integers(5, vocab_size, size=L - 2)] + [3] for L in lengths]


def torch_logits(model, ids_list) -> "object":
    """PyTorch reference logits, one text at a time (what the .pte computes)."""
    import numpy as np
    import torch

    from .wrappers import logits_only

    m = logits_only(model)
    out = []
    with torch.inference_mode():
        for ids in ids_list:
            x = torch.tensor([ids], dtype=torch.long)
            out.append(m(x, torch.ones_like(x), torch.zeros_like(x))[0].numpy())
    return np.stack(out)


def self_check(path: Path, ids_list, reference, tolerance: float | None, name: str | None = None) -> float:
    """Load the written file with ExecuTorch and compare with PyTorch; returns max |Δlogit|.
    name: the file's final name for messages (path is the staged temporary file)."""
    import numpy as np

    from ..executorch_runner import ExecuTorchRunner

    runner = ExecuTorchRunner(path, entry={"sequence": {"min": MIN_LENGTH}})
    try:
        got = runner.logits(ids_list)
    finally:
        runner.close()
    if got.shape != reference.shape or not np.isfinite(got).all():
        raise AlbertEdgeError(f"{name or path.name}: ExecuTorch produced bad logits of shape {got.shape}")
    diff = float(np.max(np.abs(got - reference)))
    if tolerance is not None and diff > tolerance:
        raise AlbertEdgeError(f"{name or path.name}: max |Δlogit| vs PyTorch is {diff:.2e} (limit {tolerance:.0e}); refusing to write it")
    return diff


def export_executorch(model_dir, folder, max_length: int = DEFAULT_MAX_LENGTH, overwrite: bool = False, quiet: bool = False, allow_duplicated_weights: bool = False) -> dict:
    from ..artifacts import open_output, preflight
    from ..checkpoint import load_checkpoint
    from ..progress import step

    # The sequence dim is dynamic from MIN_LENGTH ([CLS] [SEP]) to max_length; torch.export needs max > min.
    if max_length <= MIN_LENGTH:
        raise AlbertEdgeError(f"--max-length must be at least {MIN_LENGTH + 1} ([CLS], [SEP] and one token of text)")
    folder = Path(folder)
    preflight(folder, model_dir, max_length, overwrite, [PTE_FILE])
    require_executorch()
    with step(f"loading {model_dir}", quiet):
        ckpt = load_checkpoint(model_dir)
    with open_output(folder, ckpt, max_length, overwrite, [PTE_FILE]) as out:
        entry = _write_pte(ckpt, out.dir, max_length, quiet, allow_duplicated_weights)
        out.add(entry)
    return entry


def _write_pte(ckpt, folder: Path, max_length: int, quiet: bool, allow_duplicated_weights: bool = False) -> dict:
    from ..parity import Thresholds

    """Export `ckpt` to folder/model.pte; returns its manifest entry."""
    from ..fsutil import atomic_path
    from ..manifest import artifact_entry
    from ..progress import step
    from ..weight_guard import parameter_shapes

    probes = probe_ids(ckpt.config.vocab_size, max_length)
    reference = torch_logits(ckpt.model, probes)  # before the in-place rewrites
    params = parameter_shapes(ckpt.model)
    module, rewrites = prepare_module(ckpt.model)
    with step(f"exporting to ExecuTorch (torch.export, dynamic sequence 2..{max_length})", quiet):
        ep = export_program(module, max_length)
    with step("lowering to XNNPACK (to_edge_transform_and_lower)", quiet):
        data, stats = lower_to_pte(ep)
    with atomic_path(folder / PTE_FILE, suffix=".pte") as tmp:
        tmp.write_bytes(data)
        summary = pte_summary(tmp)
        guard = _weight_guard(tmp, PTE_FILE, params, "fp32", allow_duplicated_weights)
        if summary["weight_matmuls_float"] == 0 or summary["weight_matmuls_integer"]:
            raise AlbertEdgeError(f"{PTE_FILE}: expected fp32 XNNPACK matmuls, found {summary['weight_matmuls_integer']} integer / {summary['weight_matmuls_float']} float")
        with step("checking the program against PyTorch", quiet):
            diff = self_check(tmp, probes, reference, Thresholds().fp32_max_abs, PTE_FILE)  # the parity gate's fp32 bound
    inputs, outputs = executorch_io(len(ckpt.labels), max_length)
    return artifact_entry(
        folder, PTE_FILE, "executorch", "fp32", inputs, outputs,
        backend=BACKEND,
        batch=1,
        sequence={"min": MIN_LENGTH, "max": int(max_length)},
        rewrites=rewrites,
        graph={**stats, **summary},
        self_check={"max_abs_logit_diff": diff, "lengths": [len(p) for p in probes]},
        runtime_hints=runtime_hints(),
        weight_guard=guard,
    )


def runtime_hints() -> dict:
    """What a runtime needs to keep ALBERT's weights once in memory (see executorch_runner)."""
    return {"xnnpack_weight_cache": True, "xnnpack_backend_option": "weight_cache_enabled"}


def _weight_guard(path: Path, name: str, param_shapes, precision: str, allow: bool, embeddings_int8: bool = True, embedding_min_rows: int = 256) -> dict:
    """Refuse a .pte that stores any weight twice (albert_edge.weight_guard)."""
    from ..weight_guard import check_weights

    budget = weight_budget(param_shapes, precision, embeddings_int8=embeddings_int8, embedding_min_rows=embedding_min_rows)
    return check_weights(list_constants(path), budget, name, allow=allow)


# ---------------------------------------------------------------------------------------------
# What a .pte stores: the program's constants and the named data XNNPACK keys by sha256.

_ET_DTYPES = {0: ("uint8", 1), 1: ("int8", 1), 2: ("int16", 2), 3: ("int32", 4), 4: ("int64", 8), 5: ("float16", 2), 6: ("float32", 4), 7: ("float64", 8), 11: ("bool", 1), 15: ("bfloat16", 2)}
_XNN_DTYPES = {
    "xnn_datatype_fp32": "float32",
    "xnn_datatype_fp16": "float16",
    "xnn_datatype_qint8": "int8",
    "xnn_datatype_quint8": "uint8",
    "xnn_datatype_qint32": "int32",
    "xnn_datatype_qcint8": "int8",
    "xnn_datatype_qcint32": "int32",
    "xnn_datatype_qcint4": "int4",
    "xnn_datatype_int32": "int32",
    "xnn_datatype_bf16": "bfloat16",
}
# Kernel arguments (by position) that hold quantization parameters, not weights.
_QUANT_ARGS = {"quantized_decomposed::embedding_byte": (1, 2), "quantized_decomposed::embedding_4bit": (1, 2), "quantized_decomposed::embedding_2bit": (1, 2)}


def _read_pte(path: str | os.PathLike):
    from executorch.exir._serialize._program import deserialize_pte_binary

    try:
        return deserialize_pte_binary(Path(path).read_bytes())
    except Exception as e:
        raise AlbertEdgeError(f"{path} is not a readable ExecuTorch program ({_first_line(e)[:200]})") from None


def _xnn_graph_json(blob: bytes) -> dict:
    """Decode one XNNPACK delegate payload with the flatc and the schema the wheel ships."""
    import importlib.resources as res
    import tempfile

    import executorch.backends.xnnpack.serialization as xs
    from executorch.backends.xnnpack.serialization.xnnpack_graph_serialize import XNNHeader
    from executorch.exir._serialize._flatbuffer import _flatc_decompile

    h = XNNHeader.from_bytes(blob[: XNNHeader.EXPECTED_LENGTH])
    fb = blob[h.flatbuffer_offset : h.flatbuffer_offset + h.flatbuffer_size]
    with tempfile.TemporaryDirectory(prefix="albert-edge-xnn-") as d:
        schema = os.path.join(d, "schema.fbs")
        Path(schema).write_bytes(res.files(xs).joinpath("schema.fbs").read_bytes())
        Path(d, "graph.bin").write_bytes(fb)
        _flatc_decompile(d, schema, os.path.join(d, "graph.bin"), ["--raw-binary"])
        return flatc_json(Path(d, "graph.json").read_text())


# flatc writes non-finite floats as bare inf / -inf / nan, which JSON has no spelling for; a ReLU's
# fused clamp (output_max = +inf) is one. Only value positions are rewritten (after ':', '[' or ',').
_NON_FINITE = re.compile(r"(?<=[:\[,\s])(-?)(inf|nan)(?=\s*[,\]}])")


def flatc_json(text: str) -> dict:
    """flatc's JSON output, read with its non-finite floats as Python floats."""
    import json

    return json.loads(_NON_FINITE.sub(lambda m: "NaN" if m.group(2) == "nan" else m.group(1) + "Infinity", text))


def _xnn_graphs(program) -> list[dict]:
    """Every XNNPACK delegate payload's graph, decoded ({} for a payload of another backend).

    A payload with XNNPACK's header that does not decode is an error, not {}: the manifest's op
    counts and the duplicate-weight guard read these graphs, and an empty one would pass silently."""
    from executorch.backends.xnnpack.serialization.xnnpack_graph_serialize import XNNHeader

    out = []
    for i, d in enumerate(program.backend_delegate_data):
        blob = bytes(d.data)
        try:
            XNNHeader.from_bytes(blob[: XNNHeader.EXPECTED_LENGTH])
        except Exception:
            out.append({})  # not an XNNPACK payload
            continue
        try:
            out.append(_xnn_graph_json(blob))
        except Exception as e:
            raise AlbertEdgeError(f"could not decode XNNPACK delegate payload {i} of the program ({_first_line(e)})") from None
    return out


def _tensor_value(xv: dict) -> tuple[dict, dict]:
    u = xv.get("xvalue_union", {})
    return u.get("tensor_value", u), u.get("quant_params") or {}


def pte_constants(path: str | os.PathLike, _pte=None, _graphs=None) -> list[dict]:
    """Every constant a .pte stores: [{name, shape, dtype, bytes, store, role, sha256, references}].

    store "named_data": XNNPACK's constants, keyed by the sha256 of their bytes ("scale_<sha256>" for
    per-channel scales); shape/dtype come from the delegate graphs that reference the key
    (`references`: how many XNNPACK node inputs read it, e.g. 12 for a weight of ALBERT-base's shared
    layer). store "program": tensors of the non-delegated ops
    and delegate inputs (embedding tables and their per-row scales, LayerNorm vectors, position ids),
    one entry per stored buffer. role: weight | quantization | graph (albert_edge.weight_guard; the
    LayerNorm averaging columns of export/executorch_rewrites.py are graph, with "averaging": true).
    Two entries with the same sha256 would be the same bytes stored twice.
    """
    import hashlib

    from ..weight_guard import role_for
    from .executorch_rewrites import is_averaging_column

    pte = _pte if _pte is not None else _read_pte(path)
    program = pte.program
    graphs = _graphs if _graphs is not None else _xnn_graphs(program)
    named: dict[str, dict] = {}
    if pte.named_data is not None:
        for key, entry in pte.named_data.pte_data.items():
            b = pte.named_data.buffers[entry.buffer_index]
            buf = bytes(getattr(b, "buffer", b))
            named[key] = {"name": key, "shape": None, "dtype": None, "bytes": len(buf), "store": "named_data", "role": None, "sha256": hashlib.sha256(buf).hexdigest(), "references": 0}
            if is_averaging_column(buf):  # LayerNormMatmulMean's 1/h column: part of the graph, not a weight
                named[key].update(role="graph", averaging=True)
    for g in graphs:
        keys = [c.get("named_key", "") for c in g.get("constant_data", [])]
        uses: dict[int, int] = {}  # value id -> how many node inputs read it
        for node in g.get("xnodes", []):
            for k, v in (node.get("xnode_union") or {}).items():
                if k.endswith("_id") and k != "output_id" and isinstance(v, int):
                    uses[v] = uses.get(v, 0) + 1
        for xv in g.get("xvalues", []):
            tv, qp = _tensor_value(xv)
            idx = tv.get("constant_buffer_idx", 0)
            if idx and idx < len(keys) and keys[idx] in named:
                e = named[keys[idx]]
                e["references"] += uses.get(tv.get("id_out", -1), 0)
                e["shape"] = e["shape"] or [int(d) for d in tv.get("dims", [])]
                e["dtype"] = e["dtype"] or _XNN_DTYPES.get(tv.get("datatype"), tv.get("datatype"))
            sidx = qp.get("scale_buffer_idx", 0)
            if sidx and sidx < len(keys) and keys[sidx] in named:
                e = named[keys[sidx]]
                e["references"] += uses.get(tv.get("id_out", -1), 0)
                e["shape"] = e["shape"] or [int(qp.get("num_scales", e["bytes"] // 4))]
                e["dtype"] = e["dtype"] or "float32"
                e["role"] = "quantization"
    for e in named.values():
        e["shape"] = e["shape"] or [e["bytes"]]
        e["dtype"] = e["dtype"] or "uint8"
        e["role"] = e["role"] or ("quantization" if e["name"].startswith("scale_") else role_for(e["dtype"], e["shape"]))

    # Program constants: data_buffer_idx indexes the constant segment's offsets (or the legacy inline
    # constant_buffer); 0 means "not constant".
    seg_data = None
    if program.constant_segment.offsets and program.segments:
        seg = program.segments[program.constant_segment.segment_index]
        seg_data = (seg, program.constant_segment.offsets)
    quant_values: set[int] = set()
    for plan in program.execution_plan:
        for chain in plan.chains:
            for ins in chain.instructions:
                a = ins.instr_args
                if type(a).__name__ == "KernelCall":
                    for pos in _QUANT_ARGS.get(plan.operators[a.op_index].name, ()):
                        if pos < len(a.args):
                            quant_values.add(a.args[pos])
    prog: dict[int, dict] = {}
    for plan in program.execution_plan:
        for vi, v in enumerate(plan.values):
            t = v.val
            if type(t).__name__ != "Tensor" or not t.data_buffer_idx:
                continue
            i = int(t.data_buffer_idx)
            if i in prog:
                prog[i]["references"] += 1
                continue
            dtype, size = _ET_DTYPES.get(int(t.scalar_type), (str(t.scalar_type), 0))
            shape = [int(d) for d in t.sizes]
            n = 1
            for d in shape:
                n *= d
            raw = bytes(program.constant_buffer[i].storage) if seg_data is None and i < len(program.constant_buffer) else b""
            prog[i] = {
                "name": f"{plan.name}:constant[{i}]",
                "shape": shape,
                "dtype": dtype,
                "bytes": n * size,
                "store": "program",
                "role": "quantization" if vi in quant_values else role_for(dtype, shape),
                "sha256": hashlib.sha256(raw[: n * size]).hexdigest() if raw else None,
                "references": 1,
            }
    return list(named.values()) + list(prog.values())


def list_constants(path: str | os.PathLike) -> list:
    """The .pte's stored constants as weight_guard.Constant (for albert_edge.weight_guard.check_weights)."""
    from ..weight_guard import Constant

    return [Constant(c["name"], tuple(c["shape"]), str(c["dtype"]), int(c["bytes"]), c["role"]) for c in pte_constants(path)]


def weight_budget(param_shapes, precision: str, embeddings_int8: bool = True, embedding_min_rows: int = 256):
    """The weight_guard.Budget of model.pte (fp32) or model.int8.pte made by albert-edge.

    int8: every Linear weight int8 [out, in] + one fp32 scale per output channel (XNNPACK qc8,
    symmetric: no zero point); embedding tables of at least embedding_min_rows rows uint8 + one fp32
    scale and one fp32 zero point per row (PT2E EmbeddingQuantizer -> embedding_byte), smaller tables
    and every vector (biases, LayerNorm) fp32."""
    from ..weight_guard import row_quantized_budget

    return row_quantized_budget(param_shapes, precision, matrix_row_bytes=4, embedding_row_bytes=8, embedding_min_rows=embedding_min_rows,
                                embeddings_int8=embeddings_int8,
                                overhead_what="per-channel scales (4 B per output channel), per-row embedding scale + zero point (8 B per row)")


def pte_summary(path: str | os.PathLike) -> dict:
    """Counts for the manifest: stored constants by dtype, duplicate bytes, instructions, weight matmuls by type."""
    from collections import Counter, defaultdict

    pte = _read_pte(path)
    program = pte.program
    graphs = _xnn_graphs(program)
    consts = pte_constants(path, _pte=pte, _graphs=graphs)
    by_dtype: dict[str, int] = defaultdict(int)
    by_hash: dict[str, list[dict]] = defaultdict(list)
    for c in consts:
        by_dtype[str(c["dtype"])] += c["bytes"]
        if c["sha256"]:
            by_hash[c["sha256"]].append(c)
    dup = sum(sum(c["bytes"] for c in group[1:]) for group in by_hash.values() if len(group) > 1)
    plan = program.execution_plan[0]
    instructions: Counter = Counter()
    for chain in plan.chains:
        for ins in chain.instructions:
            a = ins.instr_args
            if type(a).__name__ == "KernelCall":
                op = plan.operators[a.op_index]
                instructions[f"{op.name}.{op.overload}" if op.overload else op.name] += 1
            elif type(a).__name__ == "DelegateCall":
                instructions["delegate:" + plan.delegates[a.delegate_index].id] += 1
    matmuls: Counter = Counter()
    xnn_ops: Counter = Counter()
    averaging = {c["name"] for c in consts if c.get("averaging")}
    for g in graphs:
        values = g.get("xvalues", [])
        keys = [c.get("named_key", "") for c in g.get("constant_data", [])]
        for node in g.get("xnodes", []):
            kind = node.get("xnode_union_type", "?")
            xnn_ops[kind] += 1
            if kind == "XNNFullyConnected":
                fid = node["xnode_union"]["filter_id"]
                tv, _ = _tensor_value(values[fid]) if fid < len(values) else ({}, {})
                idx = tv.get("constant_buffer_idx", 0)
                if idx and idx < len(keys) and keys[idx] in averaging:
                    matmuls["mean"] += 1  # a LayerNorm mean (LayerNormMatmulMean), not a weight matmul
                    continue
                integer = tv.get("datatype", "") not in ("xnn_datatype_fp32", "xnn_datatype_fp16", "xnn_datatype_bf16")
                matmuls["integer" if integer else "float"] += 1
    return {
        "constants": {
            "count": len(consts),
            "bytes": sum(c["bytes"] for c in consts),
            "bytes_by_dtype": dict(sorted(by_dtype.items())),
            "duplicate_bytes": int(dup),
            "named_data_entries": sum(1 for c in consts if c["store"] == "named_data"),
        },
        "instructions": dict(sorted(instructions.items())),
        "xnnpack_ops": dict(sorted(xnn_ops.items())),
        "weight_matmuls_integer": matmuls["integer"],
        "weight_matmuls_float": matmuls["float"],
        "mean_matmuls": matmuls["mean"],
        "memory_planned_bytes": int(sum(plan.non_const_buffer_sizes)),
    }
