"""The dataset card beside every export: ``README.md`` with a YAML header as the Hugging Face hub
reads it, then what a person needs to use the data honestly: where it came from, how it was
selected, how many rows each step kept and dropped, when the images were fetched, whose they
are, and the commands that rebuild it."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from laionet_assets.core.export.imagefolder import CLASSES_FILE

CARD = "README.md"
MARKER = "<!-- written by laionet_assets: laionet export -->"  # what --overwrite may replace
LICENCE = (
    "The images and captions belong to the owners of the URLs they were fetched from: no licence "
    "is granted by this export, which records where each image came from (`url`). The selection "
    "(which URL is in which class) is derived from the release's metadata; check the release's own "
    "terms, and remove any image whose owner asks."
)


@dataclass
class CardFacts:
    """What a card states; every field comes from the home's assets and their metadata."""

    title: str
    set_meaning: str
    format: str
    release: str
    parts: list[str]
    folders: list[str]
    vocabulary: str
    classes: int  # classes in the vocabulary
    classes_present: int
    rows: int
    encoder: str | None
    threshold: float | None
    safety_policy: str
    ocr_filter: str
    counts: dict[str, int]  # rows kept and dropped at every step, in order
    dropped: dict[str, int]  # rows dropped by reason
    fetched_from: str | None
    fetched_to: str | None
    download_ok_share: float | None
    commands: list[str]


def header(facts: CardFacts) -> dict:
    """The YAML header: the hub's keys, and a ``configs`` entry for the Parquet export."""
    meta = {
        "pretty_name": facts.title,
        "license": "other",
        "license_name": "per-image, held by the URLs' owners",
        "task_categories": ["image-classification"],
        "tags": ["laionet", "laion", "imagenet", "dataset-bias"],
        "size_categories": [_size_category(facts.rows)],
    }
    if facts.format == "hf":
        meta["configs"] = [
            {"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}
        ]
    return meta


def _size_category(n: int) -> str:
    for bound, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < bound:
            return name
    return "1M<n<10M"


def _table(rows: dict, head: tuple[str, str]) -> str:
    lines = [f"| {head[0]} | {head[1]} |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in rows.items()]
    return "\n".join(lines)


LOADING = {
    "imagefolder": (
        "`torchvision.datasets.ImageFolder(path)` reads `<wnid>/<name>.<ext>`. ImageFolder numbers "
        "only the classes present, in sorted wnid order (`dataset.class_to_idx`); the vocabulary's "
        f"own index of a class is its line in `{CLASSES_FILE}` (0-based, `wnid<TAB>name`): map with "
        "`{i: vocab.index(w) for w, i in dataset.class_to_idx.items()}`."
    ),
    "webdataset": (
        "`webdataset.WebDataset('laionet-{000000..N}.tar').decode('pil')` yields `jpg`/`png`/`webp`, "
        "`cls` (the vocabulary's class index), `txt` (the caption) and `json` (url, sample id, wnid, "
        "similarity, release part), as img2dataset writes them."
    ),
    "hf": (
        "`datasets.load_dataset(path, split='train')`: `image` (an `Image`), `label` (a `ClassLabel` "
        "over the vocabulary's wnids in its index order), `wnid`, `class_name`, `text`, `url`, "
        "`sample_id`, `similarity`, `release_part`."
    ),
}


def dataset_card(facts: CardFacts) -> str:
    """The card's text."""
    selection = {
        "release": facts.release,
        "folders": ", ".join(facts.folders) or "unknown",
        "parts": f"{len(facts.parts)}: "
        + ", ".join(facts.parts[:8])
        + (" …" if len(facts.parts) > 8 else ""),
        "vocabulary": f"{facts.vocabulary} ({facts.classes} classes, {facts.classes_present} present)",
        "text encoder": facts.encoder or "unknown",
        "similarity threshold": "unknown" if facts.threshold is None else f"{facts.threshold:g}",
        "safety policy": facts.safety_policy,
        "OCR filter (synset name in the image's text)": facts.ocr_filter,
    }
    fetched = (
        f"{facts.fetched_from} to {facts.fetched_to}" if facts.fetched_from else "unknown (no status rows)"
    )
    share = "unknown" if facts.download_ok_share is None else f"{facts.download_ok_share:.1%}"
    body = [
        "---",
        yaml.safe_dump(header(facts), sort_keys=False).rstrip(),
        "---",
        "",
        f"# {facts.title}",
        "",
        f"{facts.set_meaning} {facts.rows} images over {facts.classes_present} classes, exported as "
        f"`{facts.format}` by laionet_assets.",
        "",
        "## How it was selected",
        "",
        _table(selection, ("", "value")),
        "",
        "## Rows at every step",
        "",
        _table(facts.counts, ("step", "rows")),
        "",
        "## Rows dropped, by reason",
        "",
        _table(facts.dropped or {"none": 0}, ("reason", "rows")),
        "",
        "## The images",
        "",
        f"Fetched {fetched}; {share} of the images asked for downloaded and passed the checks. Images "
        "are as the web served them, except formats a loader cannot read (GIF, BMP, TIFF), stored here "
        "as a lossless PNG of their first frame.",
        "",
        "## Licence",
        "",
        LICENCE,
        "",
        "## Loading",
        "",
        LOADING[facts.format],
        "",
        "## Rebuilding it",
        "",
        "```",
        *facts.commands,
        "```",
        "",
        MARKER,
        "",
    ]
    return "\n".join(body)
