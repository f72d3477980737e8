"""Runner for the text-in ONNX models (model.text.onnx, model.int8.text.onnx, model.int8.text.ort): the
tokenizer is in the graph (onnxruntime-extensions' SentencepieceTokenizer), so they take raw strings.
Session settings are albert_edge.runners' (ort_session): one place for every ONNX Runtime caller.
ORT-format id-input files (model.int8.ort) open with the plain OnnxRunner.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import AlbertEdgeError
from .runners import EXTENSIONS_PACKAGE, Runner, ort_session, session_config_entries


class TextOnnxRunner(Runner):
    """A text-in model (model.text.onnx, model.int8.text.onnx, or its .ort): raw strings in, logits out."""

    format = "onnx-text"
    inputs = "text"

    def __init__(self, path: str | os.PathLike, precision: str = "", pad_id: int = 0, threads: int | None = None, entry: dict | None = None, **kwargs):
        self.path = Path(path)
        self.name = self.path.name
        self.precision = precision
        self.pad_id = pad_id  # padding happens inside the graph; kept for the common constructor
        self.threads = threads
        self.ort_format = self.path.suffix == ".ort"
        tig = (entry or {}).get("tokenizer_in_graph") or {}
        # What the graph was built with (recorded in its manifest entry), for token_ids().
        self._graph_ids = (tig.get("max_seq_length"), tig.get("cls_id", kwargs.get("cls_id")), tig.get("sep_id", kwargs.get("sep_id")))
        self.session = ort_session(self.path, threads, custom_ops=True)
        ins = self.session.get_inputs()
        if not (len(ins) == 1 and ins[0].type == "tensor(string)"):
            raise AlbertEdgeError(f"{self.path} is not a text-in model (its inputs are {[i.name for i in self.session.get_inputs()]})")
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def logits(self, ids_list):
        raise AlbertEdgeError(f"{self.name} takes raw text (its tokenizer is in the graph); use logits_text(texts)")

    def logits_text(self, texts: list[str]) -> np.ndarray:
        """Logits for a batch of raw strings (padded in the graph to the batch's longest text)."""
        return self._run(texts, "logits")

    def probabilities_text(self, texts: list[str]) -> np.ndarray:
        return self._run(texts, "probabilities")

    def _run(self, texts, output):
        texts = list(texts)
        if not texts:
            raise AlbertEdgeError("no texts given")
        if not all(isinstance(t, str) for t in texts):
            raise AlbertEdgeError("a text-in model takes str texts")
        return self.session.run([output], {self.input_name: np.array(texts, dtype=object)})[0]

    def token_ids(self, texts: list[str]) -> list[list[int]] | None:
        """The ids the file's own tokenizer graph feeds its model (verify compares them with Hugging
        Face's); None for .ort files, whose equivalence to their .onnx is checked on the scores."""
        if self.ort_format or None in self._graph_ids:
            return None
        from .onnx_text_graph import graph_token_ids

        max_length, cls_id, sep_id = (int(v) for v in self._graph_ids)
        return graph_token_ids(self.path, texts, max_length, cls_id, sep_id, self.pad_id)

    def info(self):
        return {
            "runtime": "onnxruntime",
            "threads": self.threads,
            "providers": self.session.get_providers(),
            "session_config": session_config_entries(),
            "custom_op_library": EXTENSIONS_PACKAGE,
            "model_format": "ORT" if self.ort_format else "ONNX",
        }
