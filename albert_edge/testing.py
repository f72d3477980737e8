"""Build small ALBERT checkpoints for tests and examples (no hub: everything is made locally)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .data import SAMPLES_TSV, official_spiece_dir

# ALBERT's special-token layout: <pad>=0 <unk>=1 [CLS]=2 [SEP]=3 [MASK]=4.
_SPM_ARGS = dict(
    model_type="unigram",
    pad_id=0,
    unk_id=1,
    bos_id=-1,
    eos_id=-1,
    control_symbols=["[CLS]", "[SEP]", "[MASK]"],
    normalization_rule_name="nmt_nfkc",
    character_coverage=1.0,
    hard_vocab_limit=False,
)


def train_spiece(out_dir: str | Path, texts: list[str], vocab_size: int = 400, seed_sentencepiece_size: int = 100000) -> Path:
    """Train a small ALBERT-style SentencePiece model (lower-cased input, ALBERT special ids)."""
    import io

    import sentencepiece as spm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([t.lower() for t in texts]),
        model_writer=buf,
        vocab_size=vocab_size,
        seed_sentencepiece_size=seed_sentencepiece_size,
        minloglevel=2,
        **_SPM_ARGS,
    )
    (out_dir / "spiece.model").write_bytes(buf.getvalue())
    # Lets AutoTokenizer.from_pretrained(out_dir) pick ALBERT's tokenizer without a model config.
    (out_dir / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "AlbertTokenizer", "do_lower_case": True, "keep_accents": False, "remove_space": True}))
    return out_dir / "spiece.model"


def sample_texts() -> list[str]:
    from .data import read_labeled_tsv

    return read_labeled_tsv(SAMPLES_TSV)[0]


# Tied segmentations (albert_edge.spm_hf._quantize_scores, docs/tokenizer-hf-exact.md): runs whose best
# segmentations are the same pieces in another order. The run follows 0, 1, 4 and 15 words, so
# SentencePiece's running sum (over the whole text, unlike HF's per word) is small or large at the tie.
TIE_PREFIXES = ("", "wow", "this movie was great ", "i really did not like the acting in this one , it was terrible and boring ")
TIE_RUNS = tuple(c * n for c in "!?.,'-:;()*=abcdefghijklmnopqrstuvwxyz0123456789" for n in range(2, 21)) + tuple(
    p * n for p in ("ha", "no", "lol", "ab", "xo", ".!", "?!") for n in range(2, 15)
)
# Where HF itself does not follow the first-found rule: its tokenizer.json scores are short decimals, so
# its float64 sums are inexact and rounding picks the order (measured with albert-base-v2's vocabulary;
# none with the 8k test model). No float32 runtime, and not the Java port, can follow that.
TIE_EXCEPTIONS = frozenset(pre + "o" * n for pre in TIE_PREFIXES if pre != "wow" for n in (14, 18))


def tie_texts() -> list[str]:
    """4,012 texts: every run in TIE_RUNS after every prefix in TIE_PREFIXES."""
    return [pre + run for run in TIE_RUNS for pre in TIE_PREFIXES]


def tokenizer_source(cache_dir: str | Path, official: bool = True) -> Path:
    """A folder with an ALBERT spiece.model: the official 30k one when ../shared has it, else a small one trained here."""
    off = official_spiece_dir() if official else None
    if off is not None:
        return off
    cache_dir = Path(cache_dir)
    if not (cache_dir / "spiece.model").exists():
        train_spiece(cache_dir, sample_texts() * 3, vocab_size=300)
    return cache_dir


def make_checkpoint(
    folder: str | Path,
    spiece_dir: str | Path,
    *,
    num_labels: int = 2,
    id2label: dict[int, str] | None = None,
    legacy_bin: bool = False,
    seed: int = 0,
    init_std: float = 0.2,
    trained_looking: bool = False,
    **config_overrides,
) -> Path:
    """Save a random-weight AlbertForSequenceClassification as a normal Hugging Face folder.

    init_std is larger than ALBERT's 0.02 so random logits differ between inputs and parity
    checks compare something meaningful. trained_looking=True applies `perturb_like_trained`
    (LayerNorm scales/shifts and biases away from 1/0) before saving.
    """
    import sentencepiece as spm
    import torch
    from transformers import AlbertConfig, AlbertForSequenceClassification

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spiece_dir = Path(spiece_dir)
    vocab = spm.SentencePieceProcessor(model_file=str(spiece_dir / "spiece.model")).get_piece_size()
    cfg = dict(
        vocab_size=vocab,
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=3,
        num_hidden_groups=1,
        inner_group_num=1,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        hidden_act="gelu_new",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        classifier_dropout_prob=0.0,
        initializer_range=init_std,
        num_labels=num_labels,
    )
    cfg.update(config_overrides)
    if id2label:
        cfg["id2label"] = {int(k): v for k, v in id2label.items()}
        cfg["label2id"] = {v: int(k) for k, v in id2label.items()}
    torch.manual_seed(seed)
    config = AlbertConfig(**cfg)
    model = AlbertForSequenceClassification(config).eval()
    if trained_looking:
        perturb_like_trained(model, seed=seed)
    if legacy_bin:
        config.save_pretrained(str(folder))
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    else:
        model.save_pretrained(str(folder))
    for name in ("spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (spiece_dir / name).exists():
            shutil.copyfile(spiece_dir / name, folder / name)
    if not (folder / "tokenizer_config.json").exists():
        (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "AlbertTokenizer", "do_lower_case": True}))
    return folder


def perturb_like_trained(model, seed: int = 0, ln_scale_std: float = 0.2, ln_shift_std: float = 0.1, bias_std: float = 0.05):
    """Make a randomly initialised model look trained where converters look: in place, returns `model`.

    Random init has every LayerNorm scale = 1, shift = 0 and every bias = 0; a converter that folds
    those values into the neighbouring weights (LiteRT folds a LayerNorm scale into the next
    FULLY_CONNECTED) then produces byte-identical copies that a buffer merge hides, so sharing and
    size tests pass on random weights and fail on a real checkpoint. Here: LayerNorm weight
    1 + ln_scale_std*N(0,1), LayerNorm bias ln_shift_std*N(0,1), every other bias bias_std*N(0,1)
    (the recipe of /work/scratch/models/make_perturbed.py). Shared parameters are touched once.
    """
    import torch

    gen = torch.Generator().manual_seed(int(seed) + 7919)
    ln_params = {id(p) for mod in model.modules() if isinstance(mod, torch.nn.LayerNorm) for p in mod.parameters(recurse=False)}
    with torch.no_grad():
        for name, p in model.named_parameters():  # named_parameters() yields a shared tensor once
            noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            if id(p) in ln_params:
                p.copy_(1 + ln_scale_std * noise if name.endswith("weight") else ln_shift_std * noise)
            elif name.endswith("bias"):
                p.copy_(bias_std * noise)
    return model


def tiny_classifier(seed: int = 0, **over):
    """An in-memory AlbertForSequenceClassification (eval, eager attention, no dropout) that looks
    trained (perturb_like_trained): 3 applications of one 32-wide layer over a 120-word vocabulary,
    for module-level tests of the export rewrites. `over` changes any AlbertConfig field."""
    import torch
    from transformers import AlbertConfig, AlbertForSequenceClassification

    torch.manual_seed(seed)
    kw = dict(vocab_size=120, embedding_size=16, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
              max_position_embeddings=64, hidden_act="gelu_new", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
              classifier_dropout_prob=0.0, initializer_range=0.2)
    cfg = AlbertConfig(**{**kw, **over})
    cfg._attn_implementation = "eager"  # as checkpoint.load_checkpoint sets it
    return perturb_like_trained(AlbertForSequenceClassification(cfg).eval())
