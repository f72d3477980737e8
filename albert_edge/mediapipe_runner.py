"""MediaPipe runner: MediaPipe Tasks' own TextClassifier on raw text, as an Android/iOS/Web app runs it.

NOTE: the scores this runner returns are PROBABILITIES (the MediaPipe file ends in a softmax; each
row sums to 1), not logits. `logits_text` keeps the runners' method naming; compare its rows with
softmax(reference logits), never softmax them again. Argmax (the label) is the same either way.

It tokenizes nothing itself: MediaPipe reads the SentencePiece model packed into the file's metadata
(the HF-exact model, albert_edge.spm_hf), pads every text to the file's one sequence length, and
truncates longer texts. So a check through this runner covers the client's tokenizer, the metadata
(tensor names, labels) and the model together. It therefore takes texts, not token ids: `logits()`
(ids) is refused with a one-line error.

mediapipe is an optional extra (a 128 MB native library plus OpenCV):
pip install 'albert-edge[mediapipe]' -c constraints.txt. Its Python API has no thread-count option;
`threads` is accepted for the common runner signature and reported as not applied.
"""

from __future__ import annotations

import atexit
import os
import sys
import weakref
from pathlib import Path

import numpy as np

from .errors import AlbertEdgeError
from .runners import Runner

SCORES = "probabilities"
INSTALL_HINT = "pip install 'albert-edge[mediapipe]' -c constraints.txt"


def require_mediapipe(what: str = "this command"):
    """The mediapipe package, or a one-line AlbertEdgeError naming the install command."""
    try:
        import mediapipe  # noqa: F401  (imports cv2 and the native task library: ~3 s)
    except ImportError as e:
        raise AlbertEdgeError(f"{what} needs mediapipe ({e}); install it with: {INSTALL_HINT}") from None
    return sys.modules["mediapipe"]


def mediapipe_version() -> str | None:
    import importlib.metadata as md

    try:
        return md.version("mediapipe")
    except md.PackageNotFoundError:
        return None

_OPEN: "weakref.WeakSet[MediaPipeRunner]" = weakref.WeakSet()


@atexit.register
def _close_open_runners() -> None:
    for r in list(_OPEN):
        try:
            r.close()
        except Exception:
            pass


class MediaPipeRunner(Runner):
    format = "mediapipe"
    inputs = "text"  # as TextOnnxRunner: verify/predict/bench feed raw sentences (Runner.scores), not ids
    outputs = SCORES  # rows are probabilities (softmax in the graph): never softmax them again

    def __init__(self, path: str | os.PathLike, precision: str = "", pad_id: int = 0, threads: int | None = None, entry: dict | None = None, **kwargs):
        from .tflite_runner import native_stderr_captured, _native_error

        self.path = Path(path)
        self.name = self.path.name
        self.entry = entry or {}
        self.precision = precision or self.entry.get("precision", "")
        self.pad_id = int(pad_id or 0)  # MediaPipe pads with the tokenizer's own id; kept for the interface
        self.threads = int(threads) if threads else None
        if not self.path.is_file():
            raise AlbertEdgeError(f"MediaPipe model {self.path} does not exist")
        require_mediapipe("the MediaPipe runner")
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.text import text_classifier

        # Every label, whatever its score: the default options already return all categories;
        # set explicitly so a metadata threshold or max_results can never drop a column.
        opts = text_classifier.TextClassifierOptions(
            base_options=BaseOptions(model_asset_path=str(self.path)), max_results=-1, score_threshold=-1.0
        )
        failure = None
        with native_stderr_captured() as native:  # MediaPipe's native side logs on every create
            try:
                self.classifier = text_classifier.TextClassifier.create_from_options(opts)
            except Exception as e:
                failure = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        if failure is not None:
            detail = _native_error(native["text"])
            raise AlbertEdgeError(f"MediaPipe's TextClassifier cannot load {self.path}: {failure}" + (f" ({detail})" if detail else ""))
        _OPEN.add(self)
        self.num_labels = self._num_labels()

    def _num_labels(self) -> int:
        outs = self.entry.get("outputs") or []
        shape = outs[0].get("shape") if outs else None
        if shape and isinstance(shape[-1], int):
            return int(shape[-1])
        r = self.classifier.classify("a")
        return len(r.classifications[0].categories)

    def close(self) -> None:
        """Release MediaPipe's task now. Runners still open at exit are closed by an atexit hook:
        MediaPipe's own __del__ running during interpreter teardown prints a TypeError traceback
        per classifier (its ctypes dispatcher is already gone; measured with 1.2.3)."""
        from .tflite_runner import native_stderr_captured

        c = getattr(self, "classifier", None)
        self.classifier = None
        _OPEN.discard(self)
        if c is None:
            return
        try:
            with native_stderr_captured():
                c.close()
        finally:
            c._classifier_handle = None  # never closed twice (its __del__ calls close again)

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def logits_text(self, texts, progress=None) -> np.ndarray:
        """[len(texts), num_labels] PROBABILITIES (MediaPipe's scores, columns in class-id order)."""
        if self.classifier is None:
            raise AlbertEdgeError(f"{self.name}: the MediaPipe runner is closed")
        out = np.zeros((len(texts), self.num_labels), dtype=np.float32)
        for i, t in enumerate(texts):
            try:
                res = self.classifier.classify(str(t))
            except Exception as e:
                raise AlbertEdgeError(f"MediaPipe failed to classify text {i + 1} with {self.name}: {str(e).splitlines()[0][:200]}") from None
            cats = res.classifications[0].categories
            seen = set()
            for c in cats:
                if c.index is None or not 0 <= c.index < self.num_labels:
                    raise AlbertEdgeError(f"{self.name}: MediaPipe returned category index {c.index} for a {self.num_labels}-label model")
                out[i, c.index] = c.score
                seen.add(c.index)
            if len(seen) != self.num_labels:
                raise AlbertEdgeError(f"{self.name}: MediaPipe returned {len(seen)} of {self.num_labels} categories for text {i + 1}")
            if progress is not None:
                progress.update(1)
        return out

    def probabilities_text(self, texts) -> np.ndarray:
        """The same rows as logits_text (they ARE probabilities), under the name that says so."""
        return self.logits_text(texts)

    def run_batched_text(self, texts, batch_size: int = 32, lengths=None, progress=None) -> np.ndarray:
        """MediaPipe classifies one text per call and pads each to the file's one length, so batching
        and `lengths` change nothing here."""
        return self.logits_text(list(texts), progress=progress)

    def predict_text(self, texts) -> list[dict]:
        """[{label, probability, probabilities}] per text, as MediaPipe names the categories."""
        from mediapipe.tasks.python.text import text_classifier  # noqa: F401  (already imported)

        rows = []
        for t in texts:
            cats = sorted(self.classifier.classify(str(t)).classifications[0].categories, key=lambda c: c.index)
            best = max(cats, key=lambda c: c.score)
            rows.append({"label": best.category_name, "probability": float(best.score), "probabilities": {c.category_name: float(c.score) for c in cats}})
        return rows

    def logits(self, ids_list):
        raise AlbertEdgeError(f"{self.name} is run by MediaPipe on raw text (its own tokenizer); call logits_text(texts), not logits(ids)")

    def info(self):

        return {
            "runtime": f"MediaPipe Tasks TextClassifier (mediapipe {mediapipe_version()})",
            "input": "raw text (tokenizer from the file's metadata)",
            "scores": SCORES,
            "threads": "MediaPipe default (the Python API has no thread option)",
        }


# --- the gate for probability outputs (what `verify` needs for these files) ----------------------
