#!/usr/bin/env python3
"""Reproduce the ExecuTorch peer: the STOCK ExecuTorch recipe for a Hugging Face text classifier.

    python benchmarks/peers/executorch_stock.py MODEL_DIR OUT_DIR [--max-length 128]

writes OUT_DIR/model.pte       fp32: torch.export (dynamic sequence length, batch 1) +
                               to_edge_transform_and_lower(partitioner=[XnnpackPartitioner()]) + to_executorch()
       OUT_DIR/model_int8.pte  int8: PT2E prepare/convert with XNNPACKQuantizer
                               (get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)),
                               then the same lowering; embeddings stay fp32 (the stock quantizer has no embedding rule)
       OUT_DIR/peer.json       versions, the exact recipe, delegate partition counts, sizes
then benchmark it beside ours with the DEFAULT runtime options (no XNNPACK weight cache), e.g.
    ExecuTorchRunner(OUT_DIR/model_int8.pte, weight_cache=False)

The model is loaded as transformers loads it (`from_pretrained`, default attention implementation: SDPA),
nothing rewritten. The one deviation from the stock recipe is the minimal fix without which int8 does not
run at all: XNNPACKQuantizer's prepare step turns the integer scalar adds of transformers 5's mask code
into float tensors and prepare_pt2e fails with `IndexError: tensors used as indices must be long, ...`;
the script first tries the stock quantizer and records its error in peer.json, then uses
albert_edge's IntegerSafeXNNPACKQuantizer (the same quantizer, integer-typed add/mul left alone).
optimum-executorch has no text-classification task (1.1.0), so there is no higher-level stock tool to use.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import sys
import time
from pathlib import Path

from albert_edge.benchmarks.peers.stock import quiet as _quiet
from albert_edge.benchmarks.peers.stock import stock_module as _stock_module

FP32_FILE = "model.pte"
INT8_FILE = "model_int8.pte"


def _export(module, max_length: int):
    import torch
    from torch.export import Dim, export

    L = min(16, max_length)
    ex = (torch.full((1, L), 5, dtype=torch.long), torch.ones((1, L), dtype=torch.long), torch.zeros((1, L), dtype=torch.long))
    seq = Dim("sequence", min=2, max=max_length)
    with torch.no_grad():
        return export(module, ex, dynamic_shapes=({1: seq}, {1: seq}, {1: seq}), strict=False), ex


def _lower(ep) -> tuple[bytes, int]:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
    gm = edge.exported_program().graph_module
    pieces = sum(1 for n in gm.graph.nodes if n.op == "call_function" and getattr(n.target, "__name__", "") == "executorch_call_delegate")
    return edge.to_executorch().buffer, pieces


def _quantize(ep, ex, quantizer_cls):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import get_symmetric_quantization_config
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    q = quantizer_cls()
    q.set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
    gm = prepare_pt2e(ep.module(), q)
    gm(*ex)
    return convert_pt2e(gm)


def build(model_dir: str, out_dir: str, max_length: int = 128) -> dict:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # One thread: the peer is built, not timed, here; keep the shared CPUs free.
    import torch

    torch.set_num_threads(1)
    peer: dict = {"name": "executorch-stock", "model_dir": str(Path(model_dir).resolve()), "max_length": max_length, "files": {}, "partitions": {}, "bytes": {}}
    with _quiet():
        module, hf = _stock_module(model_dir)
        peer["attn_implementation"] = hf.config._attn_implementation
        t = time.time()
        ep, ex = _export(module, max_length)
        data, pieces = _lower(ep)
        (out / FP32_FILE).write_bytes(data)
        peer["files"]["fp32"] = FP32_FILE
        peer["partitions"]["fp32"] = pieces
        peer["bytes"]["fp32"] = len(data)
        peer["build_s"] = {"fp32": round(time.time() - t, 1)}

        t = time.time()
        try:
            _quantize(ep, ex, XNNPACKQuantizer)
            peer["stock_quantizer_error"] = None
            quantizer_cls = XNNPACKQuantizer
        except Exception as e:  # the transformers-5 mask-code failure documented above
            peer["stock_quantizer_error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200]}"
            from albert_edge.export.executorch_rewrites import IntegerSafeXNNPACKQuantizer

            quantizer_cls = IntegerSafeXNNPACKQuantizer
        peer["quantizer"] = f"{quantizer_cls.__module__}.{quantizer_cls.__name__}"
        qm = _quantize(ep, ex, quantizer_cls)
        qep, _ = _export(qm, max_length)
        data, pieces = _lower(qep)
        (out / INT8_FILE).write_bytes(data)
        peer["files"]["int8"] = INT8_FILE
        peer["partitions"]["int8"] = pieces
        peer["bytes"]["int8"] = len(data)
        peer["build_s"]["int8"] = round(time.time() - t, 1)
    peer["runtime"] = {"weight_cache": False, "note": "default ExecuTorch runtime options: XNNPACK weight cache off as in the PyPI wheel"}
    peer["commands"] = [
        f"python benchmarks/peers/executorch_stock.py {model_dir} {out_dir} --max-length {max_length}",
        "model = AutoModelForSequenceClassification.from_pretrained(MODEL_DIR).eval()  # wrapped to return .logits",
        "ep = torch.export.export(model, (ids, mask, types), dynamic_shapes=<sequence 2..max_length, batch 1>, strict=False)",
        "to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch() -> model.pte",
        "prepare_pt2e(ep.module(), XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)))"
        " (integer-add fix if the stock quantizer fails); one calibration call; convert_pt2e; torch.export; same lowering -> model_int8.pte",
    ]
    versions = {}
    for n in ("executorch", "torch", "torchao", "transformers"):
        try:
            versions[n] = md.version(n)
        except md.PackageNotFoundError:
            pass
    peer["versions"] = versions
    (out / "peer.json").write_text(json.dumps(peer, indent=2) + "\n")
    return peer


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model_dir", metavar="MODEL_DIR")
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument("--max-length", type=int, default=128)
    a = p.parse_args(argv)
    if not (Path(a.model_dir) / "config.json").is_file():
        print(f"executorch peer: {a.model_dir} has no config.json (need a Hugging Face model folder)", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    peer = build(a.model_dir, a.out_dir, a.max_length)
    print(
        f"executorch peer: wrote {a.out_dir}/{FP32_FILE} ({peer['bytes']['fp32'] / 1e6:.2f} MB, {peer['partitions']['fp32']} XNNPACK pieces) and "
        f"{a.out_dir}/{INT8_FILE} ({peer['bytes']['int8'] / 1e6:.2f} MB, {peer['partitions']['int8']} pieces)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
