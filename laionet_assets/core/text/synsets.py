"""The 1000 ILSVRC-2012 synsets from WordNet 3.0 (paper §2)."""

from __future__ import annotations

from importlib import resources

import polars as pl

SYNSETS_SCHEMA = {
    "wnid": pl.String,
    "class_index": pl.Int32,
    "name": pl.String,
    "lemmas": pl.List(pl.String),
    "definition": pl.String,
    "synset_text": pl.String,
}


def imagenet_wnids() -> list[str]:
    """The 1000 ILSVRC-2012 wnids in the standard class-index order (timm's list)."""
    text = resources.files("timm.data").joinpath("_info/imagenet_synsets.txt").read_text()
    wnids = text.split()
    if len(wnids) != 1000:
        raise ValueError(f"timm's imagenet_synsets.txt lists {len(wnids)} wnids, expected 1000")
    return wnids


def synset_text(name: str, definition: str) -> str:
    """The paper's textual representation of a synset: ``"<name> which is <definition>"``."""
    return f"{name} which is {definition}"


def load_imagenet_synsets(wordnet=None) -> pl.DataFrame:
    """One row per ILSVRC-2012 class: wnid, class_index, name, lemmas, definition, synset_text.

    ``name`` is the WordNet synset name before ``.n.`` with ``_`` as space (``tench``,
    ``great white shark``); lemmas are WordNet's lemma names with ``_`` as space, in WordNet order.
    """
    if wordnet is None:
        from laionet_assets.core.text.wordnet import ensure_wordnet

        wordnet = ensure_wordnet()
    rows = []
    for class_index, wnid in enumerate(imagenet_wnids()):
        synset = wordnet.synset_from_pos_and_offset(wnid[0], int(wnid[1:]))
        name = synset.name().split(".")[0].replace("_", " ")
        definition = synset.definition()
        rows.append(
            {
                "wnid": wnid,
                "class_index": class_index,
                "name": name,
                "lemmas": [lemma.replace("_", " ") for lemma in synset.lemma_names()],
                "definition": definition,
                "synset_text": synset_text(name, definition),
            }
        )
    return pl.DataFrame(rows, schema=SYNSETS_SCHEMA)
