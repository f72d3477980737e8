"""The tokenizer we load must reproduce SentencePiece itself (the transformers-5 `<unk>` trap)."""

from __future__ import annotations

import unicodedata

import pytest
import sentencepiece as spm

from albert_edge.data import SAMPLES_TSV, read_labeled_tsv, sst2_dev
from albert_edge.tokenizer import TextEncoder, load_tokenizer, pad_batch, truncate_ids


def albert_preprocess(text: str) -> str:
    """ALBERT's reference preprocessing (google-research/albert tokenization.preprocess_text)."""
    out = " ".join(text.strip().split())
    out = out.replace("``", '"').replace("''", '"')
    out = unicodedata.normalize("NFKD", out)
    out = "".join(c for c in out if not unicodedata.combining(c))
    return out.lower()


def _texts():
    dev = sst2_dev()
    texts = read_labeled_tsv(dev)[0] if dev else []
    return texts + read_labeled_tsv(SAMPLES_TSV)[0] + ["Hello, my dog is cute", "  spaced   out  ", "Café déjà vu — naïve ``quotes''"]


@pytest.mark.parametrize("which", ["session", "own"])
def test_ids_equal_sentencepiece(which, spiece_dir, own_spiece_dir):
    folder = spiece_dir if which == "session" else own_spiece_dir
    tok = load_tokenizer(folder)
    sp = spm.SentencePieceProcessor(model_file=str(folder / "spiece.model"))
    mismatches = []
    for t in _texts():
        ours = tok(t, add_special_tokens=False)["input_ids"]
        ref = sp.encode(albert_preprocess(t))
        if ours != ref:
            mismatches.append((t, ours, ref))
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[0]}"


def test_official_vocab_known_ids(spiece_dir):
    if sp_size(spiece_dir) != 30000:
        pytest.skip("../shared/tokenizers/albert-base-v2 is missing: official 30k vocabulary not available")
    tok = load_tokenizer(spiece_dir)
    assert tok("hello, my dog is cute")["input_ids"] == [2, 10975, 15, 51, 1952, 25, 10901, 3]


def sp_size(folder):
    return spm.SentencePieceProcessor(model_file=str(folder / "spiece.model")).get_piece_size()


def test_no_unk_for_ordinary_words(spiece_dir):
    tok = load_tokenizer(spiece_dir)
    ids = tok("the movie was wonderful and the actors were great", add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids


def test_encoder_truncates_and_pads(spiece_dir):
    enc = TextEncoder(load_tokenizer(spiece_dir), max_length=8)
    ids = enc.encode(["a very long sentence " * 10, "short"])
    assert len(ids[0]) == 8 and ids[0][0] == 2 and ids[0][-1] == 3
    feeds = pad_batch(ids)
    assert feeds["input_ids"].shape == (2, 8)
    assert feeds["attention_mask"][1].sum() == len(ids[1])
    assert (feeds["input_ids"][1, len(ids[1]):] == 0).all()
    assert truncate_ids([2, 5, 6, 7, 3], 4, 3) == [2, 5, 6, 3]
    assert truncate_ids([2, 5, 3], 4, 3) == [2, 5, 3]


# ---------------------------------------------------------------------------------------------
# spiece.model alone: transformers 5 turns SentencePiece's user-defined pieces into added tokens


@pytest.fixture(scope="module")
def user_defined_spm(tmp_path_factory):
    """A folder with only a spiece.model that has user-defined pieces, as the official ALBERT one has
    ( ) " - . – £ € (no tokenizer.json: transformers 5 builds the tokenizer from the proto)."""
    import io
    import json

    from albert_edge.testing import _SPM_ARGS, sample_texts

    folder = tmp_path_factory.mktemp("user-defined-spm")
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([t.lower() for t in sample_texts() * 3]), model_writer=buf, vocab_size=300,
        user_defined_symbols=["(", ")", '"', "-", "."], minloglevel=2, **_SPM_ARGS,
    )
    (folder / "spiece.model").write_bytes(buf.getvalue())
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "AlbertTokenizer", "do_lower_case": True, "keep_accents": False, "remove_space": True}))
    return folder


_UD_TEXTS = ["journey .", "half-finished", 'a "good" (film) - really.'] + read_labeled_tsv(SAMPLES_TSV)[0]


@pytest.mark.parametrize("layout", ["with-tokenizer-config", "bare"])
def test_a_spiece_only_folder_tokenizes_like_sentencepiece(user_defined_spm, tmp_path, layout):
    """transformers 5 alone splits at the user-defined pieces first ("journey ." -> ▁journey .):
    load_tokenizer gives SentencePiece's ids, and so does the artifacts folder written from it.
    "bare": spiece.model and config.json only (no tokenizer_config.json to copy over the one
    save_pretrained writes, which listed the pieces as extra special tokens)."""
    import json
    import shutil

    from transformers import AutoTokenizer

    from albert_edge.tokenizer import copy_tokenizer_files

    if layout == "bare":
        src = tmp_path / "bare"
        src.mkdir()
        shutil.copyfile(user_defined_spm / "spiece.model", src / "spiece.model")
        (src / "config.json").write_text(json.dumps({"model_type": "albert"}))
        user_defined_spm = src
    tmp_path = tmp_path / "artifacts"
    tmp_path.mkdir()
    sp = spm.SentencePieceProcessor(model_file=str(user_defined_spm / "spiece.model"))
    raw = AutoTokenizer.from_pretrained(str(user_defined_spm))
    ours = load_tokenizer(user_defined_spm)
    want = {t: sp.encode(albert_preprocess(t)) for t in _UD_TEXTS}
    assert raw("journey .", add_special_tokens=False)["input_ids"] != want["journey ."]  # the transformers 5 behaviour
    assert [t for t in _UD_TEXTS if ours(t, add_special_tokens=False)["input_ids"] != want[t]] == []
    assert ours("journey .")["input_ids"][0] == ours.cls_token_id and ours("journey .")["input_ids"][-1] == ours.sep_token_id
    copy_tokenizer_files(user_defined_spm, tmp_path, ours)
    again = load_tokenizer(tmp_path)
    assert [t for t in _UD_TEXTS if again(t)["input_ids"] != ours(t)["input_ids"]] == []
    assert set(again.all_special_tokens) == {"<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"}


def test_a_mismatch_from_non_special_added_tokens_is_not_the_special_token_exception(user_defined_spm):
    """The HF-exact check excuses only special-token text; ids that differ because of ordinary added
    tokens are real mismatches (reason None)."""
    from transformers import AutoTokenizer

    from albert_edge.spm_hf import HFChecker, build_hf_spm

    raw = AutoTokenizer.from_pretrained(str(user_defined_spm))
    model, _ = build_hf_spm(user_defined_spm)
    found = HFChecker(tokenizer=raw).check(model, _UD_TEXTS)
    assert found and all(m.reason is None for m in found), [(m.text, m.reason) for m in found]
