"""Labeled TSV data (`sentence<TAB>label`, SST-2 style) and where the real data lives."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .errors import AlbertEdgeError

from .paths import SAMPLES_TSV, checkout, shared_dir, shared_path  # noqa: F401 - re-exported

# Where the embedded demo model lives in a source checkout (a wheel does not carry it: pipeline says so).
DEMO_MODEL_DIR = (checkout() or Path(__file__).resolve().parents[1]) / "models" / "albert-sst2-demo"
_FIELD_LIMIT = 1 << 30


def sst2_dev() -> Path | None:
    return shared_path("data", "sst2", "dev.tsv")


def sst2_train() -> Path | None:
    return shared_path("data", "sst2", "train.tsv")


def official_spiece_dir() -> Path | None:
    return shared_path("tokenizers", "albert-base-v2")


def default_eval_data() -> tuple[Path, str]:
    """SST-2 dev when ../shared has it, else the shipped sample set; returns (path, description)."""
    dev = sst2_dev()
    if dev is not None:
        return dev, "SST-2 dev (../shared/data/sst2/dev.tsv)"
    return SAMPLES_TSV, "shipped samples (../shared/data/sst2/dev.tsv is missing)"


def _first_non_utf8_line(path: Path) -> int:
    """The text layer decodes in blocks, so its error does not say which line is bad: find it."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return lineno
    return 0


def read_labeled_tsv(path: str | os.PathLike, labels: list[str] | None = None, limit: int | None = None) -> tuple[list[str], list[int]]:
    """Read `sentence<TAB>label` rows (header allowed). Labels are ids or names from `labels`."""
    path = Path(path)
    if not path.exists():
        raise AlbertEdgeError(f"data file {path} does not exist")
    if not path.is_file():
        raise AlbertEdgeError(f"data file {path} is not a file")
    # csv refuses fields over 128 KiB by default; a long review is still a sentence.
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    name_to_id = {name.lower(): i for i, name in enumerate(labels or [])}
    texts: list[str] = []
    ys: list[int] = []
    try:
        with open(path, encoding="utf-8", newline="") as f:
            # SST-2 sentences contain quotes: never let csv interpret them.
            for lineno, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != 2:
                    raise AlbertEdgeError(f"{path}:{lineno}: expected 2 tab-separated columns (sentence, label), got {len(row)}")
                text, raw = row[0].strip(), row[1].strip()
                if lineno == 1 and raw.lower() == "label":
                    continue
                if raw.lstrip("-").isdigit():
                    y = int(raw)
                elif raw.lower() in name_to_id:
                    y = name_to_id[raw.lower()]
                else:
                    raise AlbertEdgeError(f"{path}:{lineno}: label {raw!r} is not a class id or one of {labels or []}")
                if labels is not None and not 0 <= y < len(labels):
                    raise AlbertEdgeError(f"{path}:{lineno}: label {y} is out of range for {len(labels)} classes")
                if not text:
                    raise AlbertEdgeError(f"{path}:{lineno}: empty sentence")
                texts.append(text)
                ys.append(y)
                if limit is not None and len(texts) >= limit:
                    break
    except UnicodeDecodeError:
        raise AlbertEdgeError(f"{path}:{_first_non_utf8_line(path)}: not UTF-8 text (save the file as UTF-8)") from None
    except csv.Error as e:
        raise AlbertEdgeError(f"{path}: cannot parse as TSV ({e})") from None
    except OSError as e:
        raise AlbertEdgeError(f"cannot read data file {path} ({e.strerror})") from None
    if not texts:
        raise AlbertEdgeError(f"data file {path} has no labeled rows")
    return texts, ys
