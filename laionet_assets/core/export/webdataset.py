"""WebDataset shards as img2dataset writes them: ``laionet-000000.tar`` … of ``shard_size``
samples, each sample the members ``<name>.jpg`` (or ``.png``/``.webp``), ``<name>.cls`` (the class
index in the vocabulary, as text), ``<name>.txt`` (the caption) and ``<name>.json`` (url, sample
id, wnid, similarity, release part).  Members carry one fixed time, so a re-export writes the same
bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import polars as pl

from laionet_assets.core.export.records import loadable
from laionet_assets.core.io.atomic import write_atomic
from laionet_assets.core.io.storage import read_bytes

SHARD = "laionet-{:06d}.tar"
MEMBER_TIME = 0.0  # the members' mtime: fixed, so exports are reproducible


def sample_of(row: dict) -> dict:
    """One row (``records``) as a WebDataset sample."""
    data, ext = loadable(row["path"])
    meta = {k: row[k] for k in ("url", "sample_id", "wnid", "similarity", "release_part")}
    return {
        "__key__": row["name"],
        ext: data if data is not None else read_bytes(row["path"]),
        "cls": str(row["label"]).encode(),
        "txt": (row["text"] or "").encode(),
        "json": json.dumps(meta, ensure_ascii=False, sort_keys=True).encode(),
    }


def write_shards(
    folder: Path, rows: pl.DataFrame, shard_size: int, progress: Callable[[int], None]
) -> list[str]:
    """The rows in shards of ``shard_size`` samples under ``folder``; each shard is written to a
    temporary name and renamed when complete.  The shards' names."""
    import webdataset as wds

    if shard_size < 1:
        raise ValueError(f"a shard holds at least one sample, not {shard_size}")
    names = []
    for number, start in enumerate(range(0, rows.height, shard_size)):
        chunk = rows.slice(start, shard_size)

        def write(tmp: str, chunk=chunk) -> None:
            with open(tmp, "wb") as stream, wds.TarWriter(stream, mtime=MEMBER_TIME, encoder=False) as sink:
                for row in chunk.iter_rows(named=True):
                    sink.write(sample_of(row))
                    progress(1)

        names.append(write_atomic(folder / SHARD.format(number), write).name)
    return names
