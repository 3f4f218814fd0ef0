"""A Hugging Face ``datasets`` folder: ``data/train-0000i-of-0000n.parquet`` written by
``datasets`` itself, so its features survive (``image``: an ``Image`` with the file's bytes;
``label``: a ``ClassLabel`` over the vocabulary's wnids, in its index order), loadable with
``datasets.load_dataset(folder)``; the card beside it names the split."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl

from laionet_assets.core.export.records import loadable
from laionet_assets.core.io.storage import read_bytes

DATA = "data"
SHARD = "train-{:05d}-of-{:05d}.parquet"


def features(class_wnids: list[str]):
    import datasets

    return datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=class_wnids),
            "wnid": datasets.Value("string"),
            "class_name": datasets.Value("string"),
            "text": datasets.Value("string"),
            "url": datasets.Value("string"),
            "sample_id": datasets.Value("string"),
            "similarity": datasets.Value("float64"),
            "release_part": datasets.Value("string"),
        }
    )


def write_hf(
    folder: Path, rows: pl.DataFrame, classes: pl.DataFrame, shard_size: int, progress: Callable[[int], None]
) -> list[str]:
    """The rows as Parquet shards of ``shard_size`` rows under ``folder/data``; their names."""
    import datasets

    datasets.disable_progress_bars()
    columns = ["label", "wnid", "class_name", "text", "url", "sample_id", "similarity", "release_part"]

    def generate():
        for row in rows.iter_rows(named=True):
            data, ext = loadable(row["path"])
            image = data if data is not None else read_bytes(row["path"])
            progress(1)
            yield {"image": {"bytes": image, "path": f"{row['name']}.{ext}"}, **{c: row[c] for c in columns}}

    (folder / DATA).mkdir()
    with tempfile.TemporaryDirectory(prefix=".hf-cache-", dir=folder.parent) as cache:
        dataset = datasets.Dataset.from_generator(
            generate, features=features(classes["wnid"].to_list()), cache_dir=cache, keep_in_memory=False
        )
        shards = max(1, -(-dataset.num_rows // max(shard_size, 1)))
        names = []
        for index in range(shards):
            name = f"{DATA}/{SHARD.format(index, shards)}"
            dataset.shard(shards, index, contiguous=True).to_parquet(str(folder / name))
            names.append(name)
    return names
