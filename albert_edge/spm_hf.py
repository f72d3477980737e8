"""An HF-exact SentencePiece model: plain SentencePiece runtimes then give Hugging Face's ids.

C++ sentencepiece, Java via JNI, MediaPipe's SentencePiece tokenizer and onnxruntime-extensions
run only what a `.model` file holds: its pieces/scores and one normalizer (a precompiled
charsmap applied with longest match, then whitespace handling). Hugging Face's ALBERT tokenizer
does more: Replace ``` `` ```/`''` -> `"`, NFKD, StripAccents, Unicode Lowercase, then the
model's charsmap; WhitespaceSplit + Metaspace; and a Unigram vocabulary in which transformers'
AlbertConverter lowered the score of every "digit," piece (e.g. "▁1,") by 100. With the
original spiece.model, 3,244 of 1,112,064 single code points and 20 of 872 SST-2 dev sentences
get other ids than HF (measured, albert-base-v2).

The HF-exact copy keeps the pieces and ids of spiece.model and changes only:
  * normalizer_spec.precompiled_charsmap: one rule per code point that HF's normalizer changes
    (the rule's output is exactly HF's normalizer output, whitespace mapped to " "), plus the
    multi-character Replace patterns (``` `` ```, `''`); compiled by SentencePiece's own builder
    (trainer option normalization_rule_tsv; no hand-written charsmap/trie code);
  * the scores, taken from the HF tokenizer's Unigram vocabulary (the -100 "digit," pieces) and
    rounded to a 2^-13 grid, and user-defined pieces typed as normal ones: so that SentencePiece's
    float32 Viterbi breaks tied segmentations ("!!!!") as HF does (_quantize_scores).
Whitespace: HF's WhitespaceSplit strips and collapses Unicode White_Space and Metaspace
("always") prefixes every word with "▁"; SentencePiece's remove_extra_whitespaces +
add_dummy_prefix + escape_whitespaces do the same on " ", which every White_Space character is
mapped to.

Exception (documented in docs/tokenizer-hf-exact.md, tested): special-token text. HF matches the
added tokens [CLS]/[SEP]/[MASK]/<pad>/<unk> typed literally in the text, and its Unigram also
matches the control pieces' strings after normalization ("<PAD>" -> "<pad>" -> id 0);
SentencePiece never emits control/unknown pieces from text. `check_hf_spm` tells these apart by
re-tokenizing with a copy of the HF tokenizer that has those rules switched off.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .errors import AlbertEdgeError

HF_SPM_FILENAME = "spiece.hf.model"
NORMALIZER_NAME = "user_defined"  # what SentencePiece's trainer names a charsmap built from a rule TSV
SPECIAL_TOKEN_TEXT = "special-token text"
EXCEPTIONS = (
    f"{SPECIAL_TOKEN_TEXT}: [CLS]/[SEP]/[MASK]/<pad>/<unk> typed in the text (and text that normalizes to "
    "<pad>/<unk>, e.g. '<PAD>') are special tokens for Hugging Face, ordinary characters for SentencePiece",
)

# Unicode White_Space: what tokenizers' WhitespaceSplit splits on (Rust char::is_whitespace).
# Python's str.isspace() differs (it adds U+001C..U+001F), hence the explicit list; the module
# checks it against the tokenizer's own pre-tokenizer when building.
WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_SURROGATES = range(0xD800, 0xE000)

# Normalizer steps whose effect one rule per code point (plus the Replace patterns) reproduces.
# NFC/NFKC would compose several code points into one, which per-code-point rules cannot; they
# are accepted only after StripAccents, when no combining mark is left to compose.
_PER_CHAR = {"NFKD", "NFD", "StripAccents", "Lowercase", "Precompiled"}


def _code_points():
    return (chr(c) for c in range(0x110000) if c not in _SURROGATES)


def _tokenizer_json(tok) -> dict:
    return json.loads(tok.backend_tokenizer.to_str())


def _flatten(node: dict | None) -> list[dict]:
    if not node:
        return []
    if node.get("type") == "Sequence":
        return [n for child in node.get("normalizers") or node.get("pretokenizers") or [] for n in _flatten(child)]
    return [node]


def _check_pipeline(spec: dict, where: str) -> list[str]:
    """The multi-character Replace patterns; raises when HF's pipeline is beyond a charsmap."""
    patterns: list[str] = []
    seen_strip_accents = False
    for n in _flatten(spec.get("normalizer")):
        t = n.get("type")
        pat = n.get("pattern") or {}
        if t == "Replace" and "String" in pat:
            if len(pat["String"]) > 1:
                patterns.append(pat["String"])
        elif t == "Replace" and pat.get("Regex") == " {2,}" and n.get("content") == " ":
            pass  # collapses runs of spaces: SentencePiece's remove_extra_whitespaces does it too
        elif t == "Strip":
            pass  # leading/trailing whitespace: remove_extra_whitespaces strips it too
        elif t in ("NFC", "NFKC") and seen_strip_accents:
            pass
        elif t in _PER_CHAR:
            seen_strip_accents |= t == "StripAccents"
        else:
            raise AlbertEdgeError(f"{where}: the tokenizer's normalizer step {t} cannot be expressed as SentencePiece rules")
    pre = _flatten(spec.get("pre_tokenizer"))
    kinds = [p.get("type") for p in pre]
    meta = [p for p in pre if p.get("type") == "Metaspace"]
    if kinds not in (["WhitespaceSplit", "Metaspace"], ["Metaspace"]) or meta[0].get("replacement") != "\u2581":
        raise AlbertEdgeError(f"{where}: the tokenizer's pre-tokenizer {kinds} is not ALBERT's WhitespaceSplit + Metaspace")
    scheme = meta[0].get("prepend_scheme") or ("always" if meta[0].get("add_prefix_space", True) else "never")
    if scheme != "always":
        raise AlbertEdgeError(f"{where}: Metaspace prepend_scheme {scheme!r} has no SentencePiece equivalent (ALBERT uses 'always')")
    model = spec.get("model") or {}
    if model.get("type") != "Unigram" or model.get("byte_fallback"):
        raise AlbertEdgeError(f"{where}: the tokenizer is not a Unigram model without byte fallback")
    return patterns


def hf_normalization_rules(tok, where: str = "tokenizer") -> dict[str, str]:
    """{source: target} for every code point HF's normalizer changes, plus the Replace patterns.

    Target = HF's normalizer output with White_Space mapped to " " (HF splits words there;
    SentencePiece only knows " "). 1,112,064 normalize_str calls take ~2 s: fast enough at export
    time, so there is no cache."""
    spec = _tokenizer_json(tok)
    patterns = _check_pipeline(spec, where)
    norm = tok.backend_tokenizer.normalizer
    pre = tok.backend_tokenizer.pre_tokenizer
    # The whitespace list must be the pre-tokenizer's: probe it rather than trust the constant.
    probe = sorted(WHITE_SPACE | {"\x1c", "\x1d", "\x1e", "\x1f", "\u180e", "\u200b", "\u2060", "\ufeff"})
    splits = {c for c in probe if len(pre.pre_tokenize_str("a" + c + "b")) == 2}
    if splits != WHITE_SPACE:
        raise AlbertEdgeError(f"{where}: the pre-tokenizer splits on {sorted(map(ord, splits))}, not on Unicode White_Space")

    normalize = norm.normalize_str if norm is not None else str

    def target(s: str) -> str:
        t = normalize(s)
        return "".join(" " if c in WHITE_SPACE else c for c in t) if not WHITE_SPACE.isdisjoint(t) else t

    rules = {}
    for c in _code_points():
        t = target(c)
        if t != c:
            rules[c] = t
    for p in patterns:
        rules[p] = target(p)
    # Metaspace splits at a literal "▁" (and prefixes words not starting with it): " " is the
    # SentencePiece equivalent. ALBERT's nmt_nfkc charsmap already maps it so; kept for others.
    rules.setdefault("\u2581", " ")
    return rules


def _compile_charsmap(rules: dict[str, str]) -> bytes:
    """SentencePiece's builder compiles rules only inside the trainer (normalization_rule_tsv; the
    Python API exposes no Builder), so a throwaway 'char' model is trained on a fixed sentence and
    its charsmap kept: ~0.1 s for 20k rules, and the same bytes every run (rules are a sorted map)."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    def hexes(s: str) -> str:
        return " ".join(f"{ord(c):04X}" for c in s)

    with tempfile.TemporaryDirectory(prefix="spm-hf-") as d:
        tsv = Path(d) / "rules.tsv"
        tsv.write_text("".join(f"{hexes(s)}\t{hexes(rules[s])}\n" for s in sorted(rules)), encoding="ascii")
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["abc abd abe"] * 4), model_writer=buf, model_type="char", vocab_size=8,
            normalization_rule_tsv=str(tsv), num_threads=1, hard_vocab_limit=False, minloglevel=2,
        )
    proto = pb.ModelProto()
    proto.ParseFromString(buf.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def _proto_from_tokenizer_json(tok, spec: dict):
    """A ModelProto for a folder with tokenizer.json only: Unigram pieces/scores, <unk> UNKNOWN,
    special added tokens CONTROL, the rest NORMAL (a tokenizer.json does not say which pieces a
    SentencePiece trainer had as user-defined symbols)."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    model = spec["model"]
    special = {t["id"] for t in spec.get("added_tokens") or [] if t.get("special")}
    unk_id = model.get("unk_id")
    if unk_id is None:
        raise AlbertEdgeError("tokenizer.json's Unigram model has no unk_id; SentencePiece needs an unknown piece")
    m = pb.ModelProto()
    for i, (piece, score) in enumerate(model["vocab"]):
        p = m.pieces.add()
        p.piece, p.score = piece, score
        if i == unk_id or i in special:  # NORMAL is the default; setting it would store it 30,000 times
            p.type = p.UNKNOWN if i == unk_id else p.CONTROL
    ts = m.trainer_spec
    ts.model_type = ts.UNIGRAM
    ts.vocab_size = len(model["vocab"])
    ts.unk_id, ts.unk_piece = unk_id, model["vocab"][unk_id][0]
    ts.bos_id = ts.eos_id = -1
    pad = tok.pad_token_id
    ts.pad_id = pad if pad is not None and pad in special else -1
    if ts.pad_id >= 0:
        ts.pad_piece = model["vocab"][pad][0]
    return m


def _cache_key(folder: Path) -> str:
    """What the built model depends on: the tokenizer files, this module's code, the libraries' versions."""
    import importlib.metadata as md

    h = hashlib.sha256(Path(__file__).read_bytes())
    for name in ("spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (folder / name).is_file():
            h.update(name.encode() + (folder / name).read_bytes())
    for pkg in ("tokenizers", "transformers", "sentencepiece", "protobuf"):
        try:
            h.update(f"{pkg}={md.version(pkg)}".encode())
        except md.PackageNotFoundError:
            pass
    return h.hexdigest()[:32]


def build_hf_spm(tokenizer_folder: str | os.PathLike, tokenizer=None) -> tuple[bytes, dict]:
    """(model bytes, facts), from the disk cache when the same inputs were built before (the build
    passes all 1.1 M code points through the HF normalizer: 3-10 s; every export writes the file)."""
    import json

    from .paths import cache_dir

    folder = Path(tokenizer_folder)
    cache = cache_dir("spm-hf") / _cache_key(folder)
    try:
        data = (cache.with_suffix(".model")).read_bytes()
        facts = json.loads(cache.with_suffix(".json").read_text(encoding="utf-8"))
        if facts.get("sha256") == hashlib.sha256(data).hexdigest():
            return data, facts
    except (OSError, ValueError):
        pass
    data, facts = _build_hf_spm(folder, tokenizer)
    try:
        from .fsutil import atomic_path, write_text_atomic

        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache.with_suffix(".model")) as tmp:
            tmp.write_bytes(data)
        write_text_atomic(cache.with_suffix(".json"), json.dumps(facts))
    except OSError:  # a read-only cache only costs time
        pass
    return data, facts


def _build_hf_spm(tokenizer_folder: str | os.PathLike, tokenizer=None) -> tuple[bytes, dict]:
    """(model bytes, facts). The folder is one load_tokenizer() loads; its spiece.model gives the
    pieces/ids/types (tokenizer.json's Unigram vocabulary when there is no spiece.model)."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    from .tokenizer import load_tokenizer

    folder = Path(tokenizer_folder)
    tok = tokenizer if tokenizer is not None else load_tokenizer(folder)
    spec = _tokenizer_json(tok)
    rules = hf_normalization_rules(tok, str(folder))
    vocab = spec["model"]["vocab"]
    src = folder / "spiece.model"
    if src.is_file():
        raw = src.read_bytes()
        m = pb.ModelProto()
        m.ParseFromString(raw)
        if [p.piece for p in m.pieces] != [v[0] for v in vocab]:
            raise AlbertEdgeError(f"{folder}: spiece.model and the Hugging Face tokenizer hold different pieces")
        for p, (_, score) in zip(m.pieces, vocab):
            p.score = score  # HF's scores: AlbertConverter's -100 on "digit," pieces (float32 here, as in any .model)
        source = {"file": "spiece.model", "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
        score_changes = _score_changes(src, m)
    else:
        m = _proto_from_tokenizer_json(tok, spec)
        raw = (folder / "tokenizer.json").read_bytes()
        source = {"file": "tokenizer.json", "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
        score_changes = None
    _quantize_scores(m, [score for _, score in vocab])
    user = _user_defined_as_normal(m)
    ns = m.normalizer_spec
    ns.name = NORMALIZER_NAME
    ns.precompiled_charsmap = _compile_charsmap(rules)
    ns.add_dummy_prefix = True
    ns.remove_extra_whitespaces = True
    ns.escape_whitespaces = True
    ns.ClearField("normalization_rule_tsv")
    out = m.SerializeToString(deterministic=True)
    facts = {
        "file": HF_SPM_FILENAME,
        "source": source,
        "bytes": len(out),
        "sha256": hashlib.sha256(out).hexdigest(),
        "rules": len(rules),
        "multi_char_rules": sorted(s for s in rules if len(s) > 1),
        "charsmap_bytes": len(ns.precompiled_charsmap),
        "pieces": len(m.pieces),
        "score_changes": score_changes,  # HF's own score changes, before the quantization
        "score_quantum": f"2^{SCORE_QUANTUM_LOG2}",
        "user_defined_as_normal": user,
        "exceptions": list(EXCEPTIONS),
    }
    return out, facts


# Tied segmentations: a run like "!!!!" or "nonono" has several best segmentations that are the same
# pieces in another order ("! !!! " vs "!!! !"), so their scores are equal in exact arithmetic. Hugging
# Face sums its scores in float64 per word and keeps the first-found path on a tie; SentencePiece (and
# so onnxruntime-extensions and MediaPipe) sums in float32 over the whole text, where rounding breaks the
# tie at random: 82 of 2,000 SST-2 sentences with such a run appended tokenized differently, 231 in the
# text-in ONNX graph, whose parity gate failed (benchmarks/results/tokenizer/2026-12-07-tied-segmentations.md). With every score a multiple of 2^-13, float32
# sums are exact while they stay under 2^11 in magnitude (about the first 150-250 pieces, more than
# the default max_seq_length of 128 keeps), so SentencePiece sees the exact tie and resolves it as Hugging Face does. Each
# score moves by at most 2^-14 (6e-5); two different segmentations whose HF scores are closer than
# that could swap, which none of the measured sets shows (docs/tokenizer-hf-exact.md, "Tied
# segmentations"). 2^-12 was measured too coarse (it swapped 7 of 12,000 generated strings whose best
# two segmentations differ by 2e-4), 2^-14 too fine (inexact sums from ~1,000 in magnitude: long texts).
SCORE_QUANTUM_LOG2 = -13


def _quantize_scores(m, hf_scores: list[float]) -> None:
    """Each normal/user-defined piece's score := HF's (float64) score rounded to the grid, in one rounding
    (rounding the float32 copy again could land 2^-14 + float32's ulp away)."""
    q = 2.0**SCORE_QUANTUM_LOG2
    for p, score in zip(m.pieces, hf_scores, strict=True):
        if p.type in (p.NORMAL, p.USER_DEFINED):
            p.score = round(score / q) * q


def _user_defined_as_normal(m) -> list[str]:
    """Store user-defined pieces (albert-base-v2: ( ) " - . – £ €) as normal pieces with HF's score
    (0.0), which is how Hugging Face's Unigram holds them. As user-defined pieces, SentencePiece skips
    the charsmap for them and, in the v0.1.96 that onnxruntime-extensions bundles, scores each as
    length x max_score - 0.1: a float32 -0.1 off the 2^-13 grid, which broke exact ties at random
    (10 of 872 SST-2 dev sentences with a "!!!!"-style run appended got other ids in the text-in
    ONNX model, 0 after this change). As normal pieces with score 0 they still win every segmentation
    (no other piece scores above 0), and the charsmap treats them as HF's normalizer does. Returns
    the pieces changed."""
    changed = []
    for p in m.pieces:
        if p.type == p.USER_DEFINED:
            p.type = p.NORMAL
            changed.append(p.piece)
    return changed


def _score_changes(src: Path, m) -> int:
    from sentencepiece import sentencepiece_model_pb2 as pb

    orig = pb.ModelProto()
    orig.ParseFromString(src.read_bytes())
    return sum(1 for a, b in zip(orig.pieces, m.pieces) if a.score != b.score)


def write_hf_spm(tokenizer_folder: str | os.PathLike, dst_path: str | os.PathLike, tokenizer=None) -> dict:
    """Write the HF-exact model to dst_path (atomically); returns the facts for the manifest:
    file, source {file, sha256, bytes}, bytes, sha256, rules, charsmap_bytes, score_changes,
    exceptions, ..."""
    from .fsutil import atomic_path

    data, facts = build_hf_spm(tokenizer_folder, tokenizer=tokenizer)
    dst = Path(dst_path)
    try:
        with atomic_path(dst) as tmp:
            tmp.write_bytes(data)
    except OSError as e:
        raise AlbertEdgeError(f"cannot write {dst} ({e.strerror})") from None
    facts["file"] = dst.name
    return facts


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class Mismatch:
    text: str
    hf_ids: list[int]
    spm_ids: list[int]
    reason: str | None  # SPECIAL_TOKEN_TEXT when explained by HF's special-token handling, else None


def _processor(model):
    """A SentencePieceProcessor from one, from model bytes, or from a path."""
    import sentencepiece as spm

    if isinstance(model, spm.SentencePieceProcessor):
        return model
    if isinstance(model, (bytes, bytearray)):
        return spm.SentencePieceProcessor(model_proto=bytes(model))
    return spm.SentencePieceProcessor(model_file=str(model))


def spm_encode(sp, texts: list[str], cls_id: int, sep_id: int) -> list[list[int]]:
    """Plain SentencePiece plus the [CLS] … [SEP] wrapping (what a runtime app does); no truncation."""
    return [[cls_id, *ids, sep_id] for ids in sp.encode(list(texts))]


def special_blind_tokenizer(tok):
    """A copy of the HF tokenizer without its special-token behaviour: no special added tokens, and
    the control/unknown pieces renamed to strings with spaces (which a pre-token never holds).
    Non-special added tokens stay: a mismatch they cause is not the special-token exception."""
    from tokenizers import Tokenizer

    spec = _tokenizer_json(tok)
    control = {t["id"] for t in spec.get("added_tokens") or [] if t.get("special")}
    control.add(spec["model"].get("unk_id"))
    for i, item in enumerate(spec["model"]["vocab"]):
        if i in control:
            item[0] = f" {item[0]} #{i} "
    spec["added_tokens"] = [t for t in spec.get("added_tokens") or [] if not t.get("special")]
    return Tokenizer.from_str(json.dumps(spec))


class HFChecker:
    """Compares a SentencePiece model's ids with the HF tokenizer's on texts."""

    def __init__(self, tokenizer_folder: str | os.PathLike | None = None, tokenizer=None):
        from .tokenizer import load_tokenizer

        self.tok = tokenizer if tokenizer is not None else load_tokenizer(tokenizer_folder)
        self.cls_id, self.sep_id = self.tok.cls_token_id, self.tok.sep_token_id
        self._blind = None

    def hf_ids(self, texts: list[str], batch: int = 4096) -> list[list[int]]:
        out: list[list[int]] = []
        for i in range(0, len(texts), batch):
            out += [list(x) for x in self.tok(list(texts[i : i + batch]), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]]
        return out

    def check(self, model, texts: list[str]) -> list[Mismatch]:
        """Every text whose ids differ; reason SPECIAL_TOKEN_TEXT when the special-blind HF tokenizer
        gives the SentencePiece ids (the documented exception), None otherwise."""
        texts = list(texts)
        sp = _processor(model)
        want, got = self.hf_ids(texts), spm_encode(sp, texts, self.cls_id, self.sep_id)
        bad = [i for i, (a, b) in enumerate(zip(want, got)) if a != b]
        if not bad:
            return []
        if self._blind is None:
            self._blind = special_blind_tokenizer(self.tok)
        blind = [e.ids for e in self._blind.encode_batch([texts[i] for i in bad], add_special_tokens=True)]
        return [Mismatch(texts[i], want[i], got[i], SPECIAL_TOKEN_TEXT if b == got[i] else None) for i, b in zip(bad, blind)]

    def code_point_mismatches(self, model, context: str = "{0}", chunk: int = 64, code_points=None) -> list[str]:
        """Code points c (all but surrogates, or those in `code_points`) for which
        context.format(c) gets other ids; returns those texts.

        1.1 M one-character texts take ~45 s through HF; `chunk` of them joined by spaces into one
        text take ~5 s. Words never share a token across a space, so a chunk matches exactly when
        each of its words does; a chunk that differs is re-checked word by word."""
        sp = _processor(model)
        cps = _code_points() if code_points is None else (chr(c) for c in code_points if c not in _SURROGATES)
        items = [context.format(c) for c in cps]
        texts = [" ".join(items[i : i + chunk]) for i in range(0, len(items), chunk)]
        enc = self.tok.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
        got = sp.encode(texts)
        out: list[str] = []
        for k, (e, g) in enumerate(zip(enc, got)):
            if e.ids != g:
                words = items[k * chunk : (k + 1) * chunk]
                we = self.tok.backend_tokenizer.encode_batch(words, add_special_tokens=False)
                out += [w for w, a, b in zip(words, we, sp.encode(words)) if a.ids != b]
        return out


def check_hf_spm(tokenizer_folder: str | os.PathLike, model, texts: list[str], tokenizer=None) -> list[Mismatch]:
    """Texts on which SentencePiece with `model` (bytes or path) + [CLS]/[SEP] differs from
    load_tokenizer(tokenizer_folder)(text, add_special_tokens=True)."""
    return HFChecker(tokenizer_folder, tokenizer=tokenizer).check(model, texts)


def describe(s: str) -> str:
    """'U+0041 LATIN CAPITAL LETTER A' style label for reports."""
    return " ".join(f"U+{ord(c):04X}" + (f" {unicodedata.name(c, '')}" if len(s) == 1 else "") for c in s).strip()
