"""The HF-exact SentencePiece model (albert_edge.spm_hf): plain SentencePiece + [CLS]/[SEP] must give
the ids of `load_tokenizer(folder)(text, add_special_tokens=True)` on the shipped samples, SST-2 dev,
the 12,000 generated strings the Java tokenizer tests use, and every Unicode code point (alone, inside
a word, doubled), for the official albert-base-v2 model (../shared) and the committed 8k model.

The only tolerated difference is special-token text (docs/tokenizer-hf-exact.md), and a text counts as
that only when a copy of the HF tokenizer without special-token handling gives the SentencePiece ids.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from albert_edge import spm_hf, testing
from albert_edge.data import SAMPLES_TSV, official_spiece_dir, read_labeled_tsv, sst2_dev
from albert_edge.errors import AlbertEdgeError

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "android_demo" / "app" / "src" / "test" / "resources"
OWN_DIR = RES / "spm" / "sst2_unigram_8k"
GOLDEN = {"official": RES / "golden" / "generated_albert_base_v2.tsv.gz", "own": RES / "golden" / "generated_sst2_unigram_8k.tsv.gz"}
NO_OFFICIAL = "../shared/tokenizers/albert-base-v2 is absent: official-model HF-exact checks not run (CI has it)"

# Texts (context.format(code point)) whose ids still differ with the HF-exact model. Exactly this set
# must come out, so a regression and an improvement both fail. Empty for both models and all three
# contexts (measured). The first attempt missed U+1F102..U+1F10A ("1," after NFKD): fixed by
# taking HF's scores, in which AlbertConverter lowered "▁1,"-style pieces by 100.
CODE_POINT_EXCEPTIONS: dict[str, set[str]] = {"{0}": set(), "a{0}b": set(), "{0}{0}": set()}


@dataclass
class Built:
    name: str
    folder: Path
    checker: spm_hf.HFChecker
    model: bytes
    facts: dict


_BUILT: dict[str, Built] = {}


def _built(name: str) -> Built:
    if name not in _BUILT:
        if name == "official":
            folder = official_spiece_dir()
            if folder is None:
                pytest.skip(NO_OFFICIAL)
        else:
            folder = OWN_DIR
        checker = spm_hf.HFChecker(folder)
        model, facts = spm_hf._build_hf_spm(folder, tokenizer=checker.tok)
        _BUILT[name] = Built(name, folder, checker, model, facts)
    return _BUILT[name]


@pytest.fixture(params=["own", "official"])
def built(request) -> Built:
    return _built(request.param)


def _generated(name: str) -> list[str]:
    """The strings of android_demo's golden file (JSON string literal, TAB, ids; see make_golden.py)."""
    with gzip.open(GOLDEN[name], "rt", encoding="utf-8") as f:
        return [json.loads(line.split("\t", 1)[0]) for line in f if line.strip()]


def _special_text(tok, text: str) -> bool:
    """Whether `text` holds what HF treats specially: an added token's content, or, after HF's
    normalizer, the string of a control/unknown piece (which its Unigram matches, e.g. '<PAD>')."""
    added = [str(t) for t in tok.added_tokens_decoder.values()]
    if any(a in text for a in added):
        return True
    norm = tok.backend_tokenizer.normalizer.normalize_str(text)
    return any(a in norm for a in added)


def _unexplained(mismatches) -> list[str]:
    return [f"{m.text!r}: HF {m.hf_ids[:16]} vs SentencePiece {m.spm_ids[:16]}" for m in mismatches if m.reason is None][:10]


def test_model_keeps_pieces_ids_types_and_changes_only_normalizer_and_hf_scores(built, tmp_path):
    from sentencepiece import sentencepiece_model_pb2 as pb

    dst = tmp_path / spm_hf.HF_SPM_FILENAME
    facts = spm_hf.write_hf_spm(built.folder, dst, tokenizer=built.checker.tok)
    data = dst.read_bytes()
    assert data == built.model, "two builds gave different bytes"
    src = (built.folder / "spiece.model").read_bytes()
    assert facts["source"] == {"file": "spiece.model", "sha256": hashlib.sha256(src).hexdigest(), "bytes": len(src)}
    assert facts["bytes"] == len(data) and facts["sha256"] == hashlib.sha256(data).hexdigest()
    assert facts["file"] == "spiece.hf.model" and facts["exceptions"] == list(spm_hf.EXCEPTIONS)
    assert 15_000 < facts["rules"] < 30_000 and facts["multi_char_rules"] == ["''", "``"]
    assert 0 < len(data) - len(src) < 64_000, f"size grew by {len(data) - len(src)} bytes"

    old, new = pb.ModelProto(), pb.ModelProto()
    old.ParseFromString(src)
    new.ParseFromString(data)
    # Types are kept, except that user-defined pieces become normal ones (spm_hf._user_defined_as_normal).
    normal = pb.ModelProto.SentencePiece.NORMAL
    assert [(p.piece, p.type) for p in new.pieces] == [(p.piece, normal if p.type == p.USER_DEFINED else p.type) for p in old.pieces]
    assert facts["user_defined_as_normal"] == [p.piece for p in old.pieces if p.type == p.USER_DEFINED]
    if built.name == "official":
        assert facts["user_defined_as_normal"] == ["(", ")", '"', "-", ".", "–", "£", "€"]
    assert new.trainer_spec == old.trainer_spec
    ns = new.normalizer_spec
    assert (ns.name, ns.add_dummy_prefix, ns.remove_extra_whitespaces, ns.escape_whitespaces) == ("user_defined", True, True, True)
    assert ns.precompiled_charsmap != old.normalizer_spec.precompiled_charsmap
    # Scores are HF's (float32) on a 2^-13 grid (spm_hf._quantize_scores: float32 sums then stay exact, so
    # tied segmentations resolve as in HF): only "digit," pieces may differ from spiece.model by more, by -100.
    hf_vocab = json.loads(built.checker.tok.backend_tokenizer.to_str())["model"]["vocab"]
    q = 2.0**spm_hf.SCORE_QUANTUM_LOG2
    assert facts["score_quantum"] == "2^-13"
    assert all(p.score == round(p.score / q) * q and abs(p.score - s) <= q / 2 for p, (_, s) in zip(new.pieces, hf_vocab) if p.type == p.NORMAL)
    changed = [(a.piece, b.score - a.score) for a, b in zip(old.pieces, new.pieces) if abs(a.score - b.score) > q]
    assert all(re.search(r"\d,$", piece) and abs(d + 100) < 1e-3 for piece, d in changed), changed[:5]
    assert facts["score_changes"] == len(changed)
    if built.name == "official":
        assert len(changed) == 141  # transformers' AlbertConverter, recorded in the shared tokenizer.json


# What still differs on tied runs (albert_edge.testing.TIE_EXCEPTIONS): exactly this set must come out.
TIE_EXCEPTIONS = {"official": set(testing.TIE_EXCEPTIONS), "own": set()}


def test_tied_segmentations_resolve_as_in_hf(built):
    """Without the 2^-13 score grid, many of these runs ("wow!!!!": '! !!!' vs '!!! !') tokenized
    differently (137 of a 7,045-text variant of this set on the official model), and the parity gate
    failed the text-in ONNX models on review-style data."""
    texts = testing.tie_texts()
    bad = built.checker.check(built.model, texts)
    assert {m.text for m in bad} == TIE_EXCEPTIONS[built.name], [m.text for m in bad][:10]


def test_shipped_samples_equal_hf(built):
    texts, _ = read_labeled_tsv(SAMPLES_TSV)
    assert len(texts) >= 100
    assert built.checker.check(built.model, texts) == []


@pytest.mark.realdata
def test_sst2_dev_equals_hf(built):
    dev = sst2_dev()
    if dev is None:
        pytest.skip("../shared/data/sst2/dev.tsv is missing: SST-2 dev id check not run (CI has it); shipped samples were checked")
    texts, _ = read_labeled_tsv(dev)
    assert len(texts) == 872
    assert built.checker.check(built.model, texts) == []


def test_generated_strings_equal_hf_except_special_token_text(built):
    texts = _generated(built.name)
    assert len(texts) == 12_000
    mismatches = built.checker.check(built.model, texts)
    assert not _unexplained(mismatches), _unexplained(mismatches)
    # Both ways: every text with special-token text differs, and only those.
    special = {t for t in texts if _special_text(built.checker.tok, t)}
    assert {m.text for m in mismatches} == special
    assert len(special) > 1000  # make_golden.py mixes [CLS], <pad>, ... into many strings


@pytest.mark.parametrize("context", sorted(CODE_POINT_EXCEPTIONS))
def test_every_code_point_equals_hf(built, context):
    got = set(built.checker.code_point_mismatches(built.model, context))
    assert got == CODE_POINT_EXCEPTIONS[context], sorted(spm_hf.describe(t) for t in got ^ CODE_POINT_EXCEPTIONS[context])[:20]


def test_checks_catch_the_original_model():
    """The same checks on the untouched spiece.model must fail, where we know HF differs."""
    b = _built("own")
    original = OWN_DIR / "spiece.model"
    texts, _ = read_labeled_tsv(SAMPLES_TSV)
    mismatches = b.checker.check(original, texts)
    assert len(mismatches) >= 100 and all(m.reason is None for m in mismatches)  # mixed-case samples
    ascii_ = range(0x80)
    upper = {chr(c) for c in range(ord("A"), ord("Z") + 1)}
    assert set(b.checker.code_point_mismatches(original, "{0}", code_points=ascii_)) == upper
    assert set(b.checker.code_point_mismatches(original, "{0}{0}", code_points=ascii_)) == {c + c for c in upper} | {"``", "''"}


def test_tokenizer_json_only_folder(tmp_path):
    off = official_spiece_dir()
    if off is None:
        pytest.skip(NO_OFFICIAL)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (tmp_path / name).write_bytes((off / name).read_bytes())
    checker = spm_hf.HFChecker(tmp_path)
    model, facts = spm_hf._build_hf_spm(tmp_path, tokenizer=checker.tok)
    assert facts["source"]["file"] == "tokenizer.json"
    texts, _ = read_labeled_tsv(SAMPLES_TSV)
    texts += _generated("official")[:1500]
    mismatches = checker.check(model, texts)
    assert mismatches and not _unexplained(mismatches), _unexplained(mismatches)


def test_pipeline_beyond_a_charsmap_is_refused():
    from tokenizers import Regex, normalizers, pre_tokenizers

    tok = _built("own").checker.tok
    saved = tok.backend_tokenizer.pre_tokenizer, tok.backend_tokenizer.normalizer
    try:
        tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
        with pytest.raises(AlbertEdgeError, match="prepend_scheme 'first'"):
            spm_hf._build_hf_spm(OWN_DIR, tokenizer=tok)
        tok.backend_tokenizer.pre_tokenizer = saved[0]
        tok.backend_tokenizer.normalizer = normalizers.Sequence([saved[1], normalizers.Replace(Regex("[0-9]+"), "0")])
        with pytest.raises(AlbertEdgeError, match="normalizer step Replace"):
            spm_hf._build_hf_spm(OWN_DIR, tokenizer=tok)
    finally:
        tok.backend_tokenizer.pre_tokenizer, tok.backend_tokenizer.normalizer = saved


def test_disk_cache_returns_the_built_bytes_and_rebuilds_a_corrupt_entry(tmp_path, monkeypatch):
    """Every export writes spiece.hf.model; the cache must hand back exactly what a build makes, and a
    damaged cache entry must be rebuilt, never used."""
    monkeypatch.setenv("ALBERT_EDGE_CACHE", str(tmp_path / "cache"))
    built = _built("own")
    first, facts = spm_hf.build_hf_spm(built.folder, tokenizer=built.checker.tok)
    assert first == built.model and facts["sha256"] == built.facts["sha256"]
    (entry,) = (tmp_path / "cache" / "spm-hf").glob("*.model")
    entry.write_bytes(b"garbage")
    again, _ = spm_hf.build_hf_spm(built.folder, tokenizer=built.checker.tok)
    assert again == built.model and entry.read_bytes() == built.model
