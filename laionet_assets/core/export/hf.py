"""A Hugging Face ``datasets`` folder: ``data/train-0000i-of-0000n.parquet`` written by
``datasets`` itself, so its features survive (``image``: an ``Image`` with the file's bytes;
``label``: a ``ClassLabel`` over the vocabulary's wnids, in its index order), loadable with
``datasets.load_dataset(folder)``; the card beside it names the split."""

from __future__ import annotations

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
    """The rows as Parquet files of at most ``shard_size`` rows under ``folder/data`` (one file's
    images in memory at a time); their names."""
    import datasets

    datasets.disable_progress_bars()
    schema = features(classes["wnid"].to_list())
    columns = [c for c in schema if c != "image"]
    (folder / DATA).mkdir()
    shards = max(1, -(-rows.height // max(shard_size, 1)))
    names = []
    for index in range(shards):
        chunk = rows.slice(index * shard_size, shard_size)
        images = []
        for name, path in chunk.select("name", "path").iter_rows():
            data, ext = loadable(path)
            images.append({"bytes": data if data is not None else read_bytes(path), "path": f"{name}.{ext}"})
            progress(1)
        batch = {"image": images, **{c: chunk[c].to_list() for c in columns}}
        name = f"{DATA}/{SHARD.format(index, shards)}"
        datasets.Dataset.from_dict(batch, features=schema).to_parquet(str(folder / name))
        names.append(name)
    return names
