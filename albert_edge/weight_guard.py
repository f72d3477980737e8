"""Refuse to write a model file that stores ALBERT's weights more than once (format-neutral).

ALBERT applies one set of layer weights N times, so a correct artifact stores about
`unique parameters x bytes per parameter` of constants. Converters and quantizers break that in
ways that depend on the weight VALUES (LiteRT folds a LayerNorm scale into the next layer's weights:
on random weights the copy is byte-identical and merged away, on a trained checkpoint it is three
extra 768x768 matrices), so a test on random weights cannot be trusted and the check runs on every
file, every time, before it is written.

Every format supplies two things:
- the constants its file stores, as `Constant(name, shape, dtype, nbytes, role)` (export/tflite_buffers
  `list_constants`, export/onnx_graph `list_constants`);
- a `Budget`: what each unique parameter of the checkpoint costs in that format (`Expected` entries:
  4 bytes/element fp32, 1 byte int8, vectors left fp32, re-layouts such as per-bucket slices) plus the
  format's own overhead (quantization scales and zero points, per-row embedding scales).
`check_weights` compares the stored bytes with the budget and raises a one-line AlbertEdgeError
naming the over-represented tensors and shapes when the file stores more than TOLERANCE over it,
unless the caller passes allow=True (`--allow-duplicated-weights`, recorded in the manifest).

Graph constants (integer shapes, indices, axes, masks, and scalars) are reported but not counted:
none of them can hold a duplicated weight.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .errors import AlbertEdgeError

# ~2 %: a duplicated 768x768 matrix is 5 % of ALBERT-base in every precision (2.4 MB of 46.7 MB fp32,
# 0.59 MB of 11.7 MB int8), a duplicated 768-vector (3 KB) is noise and not worth refusing a file for.
TOLERANCE = 0.02
FLAG = "--allow-duplicated-weights"
ROLES = ("weight", "quantization", "graph")
# Integer dtypes that are never weights (int8/uint8 are: quantized weights and zero points).
_GRAPH_DTYPES = {"int16", "int32", "int64", "uint16", "uint32", "uint64", "bool", "string"}


@dataclass(frozen=True)
class Constant:
    """One constant tensor stored in a model file. role: weight | quantization | graph."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    role: str = "weight"


@dataclass(frozen=True)
class Expected:
    """What one unique parameter (or an allowed re-layout of it) costs in the format."""

    name: str
    shape: tuple[int, ...]
    nbytes: int


@dataclass
class Budget:
    precision: str
    parameters: int  # unique parameters of the checkpoint
    expected: list[Expected] = field(default_factory=list)
    overhead_bytes: int = 0  # the format's own extras (scales, zero points, per-row scales)
    overhead_what: str = ""

    @property
    def weight_bytes(self) -> int:
        return sum(e.nbytes for e in self.expected)

    @property
    def total(self) -> int:
        return self.weight_bytes + int(self.overhead_bytes)


def role_for(dtype: str, shape) -> str:
    """Default role of a constant: integer index/shape tensors and scalars are graph constants."""
    n = 1
    for d in shape:
        n *= int(d)
    if str(dtype).lower() in _GRAPH_DTYPES or n <= 1:
        return "graph"
    return "weight"


def parameter_shapes(model) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every unique parameter of a torch model (named_parameters() yields a shared tensor once)."""
    return [(n, tuple(int(d) for d in p.shape)) for n, p in model.named_parameters()]


def parameter_shapes_from_config(config_path: str | Path, num_labels: int | None = None) -> list[tuple[str, tuple[int, ...]]]:
    """The same list for a saved config.json, without weights: the model is built on the meta device."""
    import torch
    from transformers import AlbertConfig, AlbertForSequenceClassification

    try:
        cfg = json.loads(Path(config_path).read_text())
    except (OSError, ValueError) as e:
        raise AlbertEdgeError(f"cannot read {config_path} to size the weight budget ({e})") from None
    if num_labels:
        cfg = {k: v for k, v in cfg.items() if k not in ("id2label", "label2id")}
        cfg["num_labels"] = int(num_labels)
    with torch.device("meta"):
        model = AlbertForSequenceClassification(AlbertConfig(**cfg))
    return parameter_shapes(model)


def parameter_shapes_for_folder(folder: str | Path, manifest: dict) -> list[tuple[str, tuple[int, ...]]]:
    """Parameter shapes of the checkpoint an artifacts folder was exported from (its config.json,
    cross-checked with the manifest's unique_parameters); used by the quantizers, which never load weights."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise AlbertEdgeError(f"{Path(folder)} has no config.json to size the weight budget; export the folder again")
    shapes = parameter_shapes_from_config(path, num_labels=len(manifest.get("labels") or []) or None)
    want = (manifest.get("model") or {}).get("unique_parameters")
    got = sum(numel(s) for _, s in shapes)
    if want and got != want:
        raise AlbertEdgeError(f"{path} describes {got:,} parameters but the manifest says {want:,}; export the folder again")
    return shapes


def numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def row_quantized_budget(param_shapes, precision: str, *, matrix_row_bytes: int, embedding_row_bytes: int,
                         embedding_min_rows: int, embeddings_int8: bool = True, per_channel: bool = True,
                         overhead_what: str = "") -> Budget:
    """The Budget of a format that stores fp32 as 4 B per parameter and int8 as 1 B per matrix element
    plus `matrix_row_bytes` of scale/zero point per output row (per matrix without per_channel), with
    embedding tables of at least `embedding_min_rows` rows int8 + `embedding_row_bytes` per row, and
    every vector and smaller table fp32 (ONNX and ExecuTorch; TFLite's fixed-shape position slices
    need their own, export/tflite_buffers.weight_budget)."""
    if precision not in ("fp32", "int8"):
        raise ValueError(precision)
    b = Budget(precision=precision, parameters=sum(numel(s) for _, s in param_shapes))
    for name, shape in param_shapes:
        n = numel(shape)
        if precision == "fp32" or len(shape) < 2:
            b.expected.append(Expected(name, tuple(shape), 4 * n))
        elif "embeddings." in name and name.endswith(".weight"):  # a lookup table [rows, E]
            if embeddings_int8 and shape[0] >= embedding_min_rows:
                b.expected.append(Expected(name, tuple(shape), n))
                b.overhead_bytes += embedding_row_bytes * shape[0]
            else:
                b.expected.append(Expected(name, tuple(shape), 4 * n))
        else:  # a Linear weight, torch layout [out, in]
            b.expected.append(Expected(name, tuple(shape), n))
            b.overhead_bytes += matrix_row_bytes * (shape[0] if per_channel else 1)
    if precision == "int8":
        b.overhead_what = overhead_what
    return b


def _key(shape) -> tuple[int, ...]:
    # Formats store matrices transposed ([in, out] in ONNX) or with leading unit dims ((1, L, E)).
    return tuple(sorted(int(d) for d in shape if int(d) != 1))


def _fmt_shape(shape) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def _excess(constants: list[Constant], budget: Budget) -> list[dict]:
    """Shapes that hold more bytes than the parameters of that shape need, largest excess first."""
    stored: dict[tuple, list[Constant]] = defaultdict(list)
    for c in constants:
        if c.role == "weight":
            stored[_key(c.shape)].append(c)
    expected: dict[tuple, list[Expected]] = defaultdict(list)
    for e in budget.expected:
        expected[_key(e.shape)].append(e)
    out = []
    for k, cs in stored.items():
        es = expected.get(k, [])
        extra = sum(c.nbytes for c in cs) - sum(e.nbytes for e in es)
        if extra > 0:
            out.append(
                {
                    "shape": list(cs[0].shape),
                    "dtype": cs[0].dtype,
                    "stored": len(cs),
                    "expected": len(es),
                    "excess_bytes": int(extra),
                    "names": [c.name for c in cs],
                }
            )
    out.sort(key=lambda d: -d["excess_bytes"])
    return out


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n / 1e3:.1f} KB"


def _describe(ex: dict, max_names: int = 4) -> str:
    # Converter names are long "loc1;loc2" lists: keep the end (the op and who reads it).
    names = [n if len(n) <= 64 else "..." + n[-61:] for n in ex["names"][:max_names]]
    more = f", +{len(ex['names']) - max_names} more" if len(ex["names"]) > max_names else ""
    return (
        f"{ex['stored']} x {_fmt_shape(ex['shape'])} {ex['dtype']} where the checkpoint has {ex['expected']} "
        f"(+{_size(ex['excess_bytes'])}: {' | '.join(names)}{more})"
    )


def check_weights(constants: Iterable[Constant], budget: Budget, what: str, allow: bool = False, tolerance: float = TOLERANCE) -> dict:
    """Compare stored constant bytes with `budget`; returns the report recorded in the manifest.

    Raises AlbertEdgeError (one line, naming the duplicated tensors and shapes) when the file stores
    more than (1 + tolerance) x budget.total, unless allow=True.
    """
    constants = list(constants)
    bad_roles = {c.role for c in constants} - set(ROLES)
    assert not bad_roles, bad_roles
    counted = [c for c in constants if c.role != "graph"]
    stored = sum(c.nbytes for c in counted)
    limit = budget.total * (1 + tolerance)
    over = stored > limit
    report = {
        "stored_bytes": int(stored),
        "budget_bytes": int(budget.total),
        "ratio": round(stored / budget.total, 4) if budget.total else None,
        "tolerance": tolerance,
        "unique_parameters": int(budget.parameters),
        "precision": budget.precision,
        "overhead_bytes": int(budget.overhead_bytes),
        "quantization_bytes": int(sum(c.nbytes for c in constants if c.role == "quantization")),
        "graph_constant_bytes": int(sum(c.nbytes for c in constants if c.role == "graph")),
        "constants": len(counted),
        "within_budget": not over,
        "allow_duplicated_weights": bool(allow),
    }
    if not over:
        return report
    excess = _excess(counted, budget)
    report["excess"] = [{k: v for k, v in e.items() if k != "names"} | {"names": e["names"][:8]} for e in excess[:8]]
    pct = 100.0 * (stored / budget.total - 1) if budget.total else float("inf")
    total_excess = sum(e["excess_bytes"] for e in excess) or 1
    # The shapes that explain the excess (a stray vector next to three extra matrices is noise).
    shown = [e for e in excess[:3] if e["excess_bytes"] >= 0.05 * total_excess]
    detail = "; ".join(_describe(e) for e in shown) or "no single shape stands out"
    if allow:
        report["warning"] = f"{what} stores {pct:.1f}% more constant bytes than its parameters need (written anyway: {FLAG})"
        return report
    raise AlbertEdgeError(
        f"{what} would store {_size(stored)} of constants, {pct:.1f}% over the {_size(budget.total)} that "
        f"{budget.parameters:,} unique parameters need as {budget.precision} (limit +{tolerance:.0%}): {detail}; "
        f"refusing to write it ({FLAG} writes it anyway)"
    )
