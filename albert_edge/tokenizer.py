"""Tokenizer loading and batching shared by every runner.

transformers 5's `AlbertTokenizer(vocab_file=...)` silently maps every word to `<unk>`;
`AutoTokenizer.from_pretrained(folder)` converts the SentencePiece model correctly, so that is
the only constructor used here (and a test checks ids against sentencepiece itself).
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from .errors import AlbertEdgeError

TOKENIZER_FILES = ("spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def check_spiece(path: Path):
    """Parse a SentencePiece model (it is also the Android app's tokenizer asset); returns the processor."""
    import sentencepiece as spm

    try:
        sp = spm.SentencePieceProcessor(model_proto=path.read_bytes())
    except OSError as e:
        raise AlbertEdgeError(f"cannot read {path} ({e.strerror})") from None
    except Exception:  # sentencepiece raises RuntimeError/TypeError with C++ text for a corrupt proto
        raise AlbertEdgeError(f"{path} is not a valid SentencePiece model") from None
    n = sp.get_piece_size()
    if n < 5:
        raise AlbertEdgeError(f"{path} has {n} pieces; an ALBERT SentencePiece model has <pad>, <unk>, [CLS], [SEP], [MASK] and the vocabulary")
    return sp


def check_same_vocabulary(sp, tokenizer_json: Path) -> None:
    """spiece.model and tokenizer.json must hold the same pieces and scores: Python tokenizes with the
    latter, the Android app and plain SentencePiece runtimes with the former."""
    from .fsutil import read_json

    vocab = (read_json(tokenizer_json).get("model") or {}).get("vocab")
    if not isinstance(vocab, list):
        return  # not a Unigram tokenizer.json; transformers validates it when loading
    n = sp.get_piece_size()
    if len(vocab) != n:
        raise AlbertEdgeError(f"{tokenizer_json.parent}: spiece.model has {n} pieces but tokenizer.json has {len(vocab)}; they are not the same tokenizer")
    for i, item in enumerate(vocab):
        piece, score = item[0], float(item[1])
        # transformers' AlbertConverter lowers the score of pieces like "▁1," by exactly 100.
        off = min(abs(score - sp.get_score(i)), abs(score - sp.get_score(i) + 100.0))
        if piece != sp.id_to_piece(i) or (not sp.is_control(i) and not sp.is_unknown(i) and off > 1e-3):
            raise AlbertEdgeError(f"{tokenizer_json.parent}: spiece.model and tokenizer.json differ at piece {i} ({sp.id_to_piece(i)!r} vs {piece!r}); they are not the same tokenizer")


def _drop_user_defined_added_tokens(tok, spiece: Path) -> int:
    """Tokenize SentencePiece's user-defined pieces the way SentencePiece does; returns how many were dropped.

    Why: built from a spiece.model alone (no tokenizer.json), transformers 5 registers the model's
    user-defined pieces (official ALBERT: ( ) " - . – £ €) as added tokens. Added tokens split the text
    before the Metaspace pre-tokenizer, so every chunk gets its own "▁": "journey ." became ▁journey .
    and "half-finished" ▁half - ▁finished, where SentencePiece, transformers 4 and a tokenizer.json give
    ▁journey ▁ . and ▁half - finish ed (848 of 872 SST-2 dev sentences differed). Reloading the files
    it saves gives the SentencePiece ids again, so an artifacts folder and its source disagreed, and no
    on-device tokenizer (SentencePiece in MediaPipe, ONNX Runtime extensions, the Android app) can
    reproduce the split. The Unigram vocabulary already holds those pieces, so without the added tokens
    they are still one token each, with SentencePiece's spacing."""
    import json

    from sentencepiece import sentencepiece_model_pb2 as pb
    from tokenizers import Tokenizer

    m = pb.ModelProto()
    m.ParseFromString(spiece.read_bytes())
    user = {i for i, piece in enumerate(m.pieces) if piece.type == piece.USER_DEFINED}
    spec = json.loads(tok.backend_tokenizer.to_str())
    added = spec.get("added_tokens") or []
    keep = [t for t in added if t.get("special") or t.get("id") not in user]
    if len(keep) == len(added):
        return 0
    spec["added_tokens"] = keep
    tok._tokenizer = Tokenizer.from_str(json.dumps(spec))  # the fast tokenizer's backend (no public setter)
    # transformers 5 also lists those pieces in extra_special_tokens, and save_pretrained writes that
    # list to tokenizer_config.json: a folder saved from here (an artifacts folder whose source has no
    # tokenizer_config.json) then reloaded them as *special* tokens, splitting "half-finished" into
    # ▁half - ▁finished again (4 of the 150 samples differed from the source).
    dropped = {t["content"] for t in added if t not in keep}
    extra = list(getattr(tok, "_extra_special_tokens", None) or [])
    if any(str(t) in dropped for t in extra):
        tok.extra_special_tokens = [t for t in extra if str(t) not in dropped]
    return len(added) - len(keep)


def load_tokenizer(folder: str | os.PathLike):
    folder = Path(folder)
    if not (folder / "tokenizer.json").is_file() and not (folder / "spiece.model").is_file():
        raise AlbertEdgeError(f"{folder} has no tokenizer (tokenizer.json or spiece.model)")
    if (folder / "spiece.model").is_file():
        sp = check_spiece(folder / "spiece.model")
        if (folder / "tokenizer.json").is_file():
            check_same_vocabulary(sp, folder / "tokenizer.json")
    from transformers import AutoTokenizer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as e:
        raise AlbertEdgeError(f"cannot load the tokenizer in {folder}: {str(e).splitlines()[0][:200]}") from None
    if not getattr(tok, "is_fast", False):
        raise AlbertEdgeError(f"the tokenizer in {folder} did not load as a fast tokenizer")
    if (folder / "spiece.model").is_file():
        _drop_user_defined_added_tokens(tok, folder / "spiece.model")
    # Sanity: a tokenizer that maps ordinary words to <unk> is the transformers-5 trap above.
    probe = tok("the movie was good", add_special_tokens=False)["input_ids"]
    if probe and tok.unk_token_id is not None and all(i == tok.unk_token_id for i in probe):
        raise AlbertEdgeError(f"the tokenizer in {folder} maps every word to <unk>; its vocabulary is broken")
    return tok


def truncates_from_left(tok) -> bool:
    """True for truncation_side "left" (tokenizer_config.json): Hugging Face then keeps a long text's
    *last* tokens, and so do our runners of id-input artifacts (TextEncoder). Every tokenizer that
    runs inside an artifact or app (the text-in ONNX graph, MediaPipe's, the Android app's) keeps the
    first ones, so on texts over max_seq_length they would score other ids."""
    return getattr(tok, "truncation_side", "right") == "left"


LEFT_TRUNCATION = (
    "truncates long texts from the left (truncation_side 'left'), but tokenizers inside artifacts and apps keep "
    "a text's first tokens"
)


def is_cased(tok) -> bool:
    """True when upper- and lower-case text get other ids (do_lower_case false). MediaPipe's
    TextClassifier lower-cases every text before its tokenizer, so it cannot serve such a model."""
    probe = "The Quick Brown Fox Jumps Over A Lazy Dog"
    return tok(probe, add_special_tokens=False)["input_ids"] != tok(probe.lower(), add_special_tokens=False)["input_ids"]


def folds_case_and_accents(tok) -> bool:
    """True when the tokenizer lower-cases and strips accents as ALBERT's official ones do: what the
    Android demo's own tokenizer does to every text (android_demo: NFKD, accents dropped, lower case)."""
    import unicodedata

    probe = "Café Déjà Vu: The QUICK Fox, naïve Ørsted"
    folded = "".join(c for c in unicodedata.normalize("NFKD", probe) if not unicodedata.combining(c)).lower()
    return tok(probe, add_special_tokens=False)["input_ids"] == tok(folded, add_special_tokens=False)["input_ids"]


def app_tokenizer_problem(tok) -> str | None:
    """Why the Android demo's tokenizer would feed this model other ids than its own, or None
    (build_apk.sh refuses such an artifacts folder)."""
    if not folds_case_and_accents(tok):
        return "keeps case or accents, but the app's tokenizer lower-cases and strips accents (as ALBERT's official tokenizers do)"
    if truncates_from_left(tok):
        return LEFT_TRUNCATION
    return None


def copy_tokenizer_files(src: Path, dst: Path, tokenizer, compact_json: bool = False) -> list[str]:
    """Write the tokenizer into dst (an artifacts folder, a trained model folder); returns the file names.

    The source's own files are copied as they are (spiece.model is the Android app's tokenizer asset).
    compact_json re-writes tokenizer.json without indentation instead (same JSON; transformers 5 writes
    2.3 MB pretty-printed for the 30k vocabulary, 0.8 MB compact: the demo model stays small), and a
    special_tokens_map.json is written from the loaded tokenizer when the source has none.
    """
    import json

    tokenizer.save_pretrained(str(dst))
    if compact_json:
        tokenizer.backend_tokenizer.save(str(dst / "tokenizer.json"), pretty=False)
    for name in TOKENIZER_FILES:
        if (src / name).is_file() and not (compact_json and name == "tokenizer.json"):
            shutil.copyfile(src / name, dst / name)
    if not (dst / "special_tokens_map.json").is_file():
        smap = {k: str(v) for k, v in tokenizer.special_tokens_map.items()}
        (dst / "special_tokens_map.json").write_text(json.dumps(smap, indent=2) + "\n", encoding="utf-8")
    return sorted(n for n in TOKENIZER_FILES if (dst / n).is_file())


def artifact_encoder(folder: str | os.PathLike, manifest: dict, max_length: int | None = None) -> "TextEncoder":
    """The encoder of an artifacts folder, after its tokenizer files are checked against the manifest."""
    from .integrity import verify_support_files

    verify_support_files(folder, manifest)
    return TextEncoder(load_tokenizer(folder), max_length or manifest["max_seq_length"])


class TextEncoder:
    """Turns texts into id lists ([CLS] … [SEP], truncated to max_length) and pads batches."""

    def __init__(self, tokenizer, max_length: int):
        self.tok = tokenizer
        self.max_length = int(max_length)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def encode(self, texts: list[str], max_length: int | None = None) -> list[list[int]]:
        out = self.tok(list(texts), truncation=True, max_length=max_length or self.max_length, add_special_tokens=True)
        return [list(map(int, ids)) for ids in out["input_ids"]]

    def untruncated_lengths(self, texts: list[str]) -> list[int]:
        out = self.tok(list(texts), truncation=False, add_special_tokens=True)
        return [len(ids) for ids in out["input_ids"]]


def pad_batch(ids_list: list[list[int]], length: int | None = None, pad_id: int = 0, dtype=np.int64) -> dict[str, np.ndarray]:
    """input_ids / attention_mask / token_type_ids padded to `length` (default: the longest)."""
    L = length or max(len(x) for x in ids_list)
    n = len(ids_list)
    input_ids = np.full((n, L), pad_id, dtype=dtype)
    mask = np.zeros((n, L), dtype=dtype)
    for i, ids in enumerate(ids_list):
        ids = ids[:L]
        input_ids[i, : len(ids)] = ids
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros((n, L), dtype=dtype)}


def truncate_ids(ids: list[int], length: int, sep_id: int) -> list[int]:
    """Cut an encoded text to `length`, keeping the final [SEP] as the model saw in training."""
    if len(ids) <= length:
        return ids
    return ids[: length - 1] + [sep_id]
