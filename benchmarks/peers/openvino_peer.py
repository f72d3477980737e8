"""The OpenVINO peer, run INSIDE its own venv (benchmarks/peers/openvino.sh creates it): no albert_edge here.

    python openvino_peer.py build MODEL_ONNX CALIBRATION_NPZ OUT_DIR
        OpenVINO's documented post-training recipe:
          model = ov.convert_model(MODEL_ONNX); ov.save_model(model, OUT_DIR/model.xml)
          q = nncf.quantize(model, nncf.Dataset(sentences), model_type=nncf.ModelType.TRANSFORMER,
                            subset_size=300); ov.save_model(q, OUT_DIR/model.int8.xml)
        (ov.save_model's default compress_to_fp16=True: float constants stored as fp16, as the docs do)
    python openvino_peer.py worker      # one benchmark job on stdin (benchmarks/timing.py protocol)

The worker times the compiled model as OpenVINO's docs run latency-bound apps: CPU plugin,
PERFORMANCE_HINT=LATENCY, INFERENCE_NUM_THREADS = the row's thread count, one infer request. Its timing
loop, run-count policy and RSS rule are albert-edge's own (timing.py, loaded by path), so its numbers
compare with ours; it runs in a fresh process per job like every other engine.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FILES = {"fp32": "model.xml", "int8": "model.int8.xml"}
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _timing():
    spec = importlib.util.spec_from_file_location("albert_edge_bench_timing", HERE.parent / "timing.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _feeds(ids_list, pad_id: int, names) -> dict:
    L = max(len(x) for x in ids_list)
    ids = np.full((len(ids_list), L), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids_list), L), dtype=np.int64)
    for i, x in enumerate(ids_list):
        ids[i, : len(x)] = x
        mask[i, : len(x)] = 1
    all_ = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return {n: all_[n] for n in names}


def _calibration(path: str) -> tuple[list[list[int]], int]:
    z = np.load(path)
    ids, lengths = z["ids"], z["lengths"]
    out, pos = [], 0
    for n in lengths:
        out.append(ids[pos : pos + int(n)].tolist())
        pos += int(n)
    return out, int(z["pad_id"])


def _ir_facts(xml: Path) -> dict:
    """Sizes and op counts of a saved IR (how many weight copies the int8 file carries)."""
    import openvino as ov

    m = ov.Core().read_model(str(xml))
    ops: dict[str, int] = {}
    for op in m.get_ops():
        t = op.get_type_name()
        ops[t] = ops.get(t, 0) + 1
    return {"xml_bytes": xml.stat().st_size, "bin_bytes": xml.with_suffix(".bin").stat().st_size,
            "ops": {k: v for k, v in sorted(ops.items()) if k in ("MatMul", "FakeQuantize", "Constant", "Convert", "Multiply", "Gather", "Softmax", "MVN")}}


def build(model_onnx: str, calib_npz: str, out_dir: str) -> dict:
    import nncf
    import openvino as ov

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = time.time()
    model = ov.convert_model(model_onnx)
    ov.save_model(model, str(out / FILES["fp32"]))
    t_fp32 = time.time() - t
    sentences, pad_id = _calibration(calib_npz)
    names = [i.get_any_name() for i in model.inputs]
    data = nncf.Dataset(sentences, lambda ids: _feeds([ids], pad_id, names))
    t = time.time()
    q = nncf.quantize(model, data, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(sentences))
    ov.save_model(q, str(out / FILES["int8"]))
    t_int8 = time.time() - t
    versions = {}
    for n in ("openvino", "nncf", "numpy"):
        try:
            versions[n] = md.version(n)
        except md.PackageNotFoundError:
            pass
    calib_desc = os.environ.get("CALIBRATION_DESC") or f"{len(sentences)} sentences"
    peer = {
        "name": "openvino",
        "source_onnx": str(Path(model_onnx).resolve()),
        "files": dict(FILES),
        "calibration": calib_desc,
        "build_s": {"fp32": round(t_fp32, 1), "int8": round(t_int8, 1)},
        "bytes": {p: (out / f).stat().st_size + (out / f).with_suffix(".bin").stat().st_size for p, f in FILES.items()},
        "ir": {p: _ir_facts(out / f) for p, f in FILES.items()},
        "runtime": {"device": "CPU", "config": {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": "<threads of the row>"},
                    "note": "inference precision: the CPU plugin's default for this CPU (bf16 where AVX-512 BF16/AMX exist)"},
        "commands": [
            f"bash benchmarks/peers/openvino.sh {model_onnx} calibration.npz {out_dir}",
            "model = ov.convert_model('model.onnx'); ov.save_model(model, 'model.xml')",
            f"nncf.quantize(model, nncf.Dataset(<{calib_desc}, one [1, L] feed each>), model_type=nncf.ModelType.TRANSFORMER, subset_size={len(sentences)}); ov.save_model(q, 'model.int8.xml')",
            "ov.Core().compile_model(xml, 'CPU', {'PERFORMANCE_HINT': 'LATENCY', 'INFERENCE_NUM_THREADS': T}).create_infer_request().infer(feeds)",
        ],
        "versions": versions,
    }
    (out / "peer.json").write_text(json.dumps(peer, indent=2) + "\n")
    return peer


class OpenVINORunner:
    inputs = "ids"

    def __init__(self, path: str, threads: int | None, pad_id: int = 0):
        import openvino as ov

        self.path = Path(path)
        self.threads = threads
        self.pad_id = int(pad_id)
        core = ov.Core()
        cfg = {"PERFORMANCE_HINT": "LATENCY"}
        if threads:
            cfg["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled = core.compile_model(str(self.path), "CPU", cfg)
        self.request = self.compiled.create_infer_request()
        self.names = [i.get_any_name() for i in self.compiled.inputs]
        self.precision_hint = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))

    def call(self, texts, ids_list):
        res = self.request.infer(_feeds(ids_list, self.pad_id, self.names))
        return np.asarray(next(iter(res.values())), dtype=np.float32)

    def info(self) -> dict:
        import openvino as ov

        return {"runtime": f"openvino {ov.__version__} CPU", "threads": self.threads, "performance_hint": "LATENCY",
                "inference_precision": self.precision_hint, "num_streams": str(self.compiled.get_property("NUM_STREAMS"))}


def _make_runner(job: dict):
    spec = job["spec"]
    return OpenVINORunner(spec["path"], int(job["threads"]), spec.get("pad_id", 0))


def main(argv: list[str]) -> int:
    if argv[:1] == ["build"] and len(argv) == 4:
        peer = build(*argv[1:])
        print(f"openvino peer: wrote {argv[3]}/model.xml ({peer['bytes']['fp32'] / 1e6:.2f} MB) and model.int8.xml ({peer['bytes']['int8'] / 1e6:.2f} MB)", file=sys.stderr)
        return 0
    if argv == ["worker"]:
        return _timing().main_with(_make_runner, lambda job: __import__("openvino"))
    print("usage: openvino_peer.py build MODEL_ONNX CALIBRATION_NPZ OUT_DIR | worker", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
