"""A gallery of LAIONet against its comparison dataset, and pairs for a human rating study.

The paper measures that LAIONet's classes are more diverse than ImageNet's with CLIP; whether
people see it is open.  Two outputs answer it:

* **strips**: per class and dataset, a seeded sample of images, shown as thumbnails in one HTML
  page with the class's intra-class similarities;
* **rating trials**: per class, seeded trials of a two-alternative task.  Each trial shows two
  *pairs* of images of the class, one pair from LAIONet and one from the comparison dataset, and
  asks which pair looks more varied.  A pair is the human counterpart of the intra-class
  similarity (the mean cosine similarity of a class's image pairs): each trial carries the CLIP
  similarity of both pairs, so a rater's choice can be compared with CLIP's trial by trial.
  LAIONet is on the left in half of the trials (within one trial overall and within one trial per
  class), and the trials come in a seeded random order.

Everything is seeded and independent of the input's row order (rows are sorted first).
Thumbnails never raise: a file that cannot be read gives an error string, and its image is left
out of the strip.
"""

from __future__ import annotations

import hashlib
import html
from pathlib import Path

import numpy as np
import polars as pl

from laionet_assets.core.io.atomic import write_atomic, write_text_atomic
from laionet_assets.core.io.storage import open_binary
from laionet_assets.core.report.page import document, label, number

LAIONET = "laionet"
STRIP_SCHEMA = {
    "dataset": pl.String,
    "wnid": pl.String,
    "position": pl.UInt32,  # the image's place in its class's strip
    "image_id": pl.String,
    "path": pl.String,
    "row": pl.UInt32,  # the image's row in its dataset's vector matrix
}
SIDES = ("left", "right")
TRIAL_SCHEMA = {
    "trial": pl.UInt32,  # presentation order
    "wnid": pl.String,
    "laionet_side": pl.String,
    **{
        f"{side}_{field}": dtype
        for side in SIDES
        for field, dtype in (
            ("dataset", pl.String),
            ("image_a", pl.String),
            ("image_b", pl.String),
            ("similarity", pl.Float64),  # cosine of the pair's two image vectors
        )
    },
}


def sample_strips(images: pl.DataFrame, per_class: int, seed: int) -> pl.DataFrame:
    """A seeded sample of at most ``per_class`` images per dataset and class, for the classes that
    both ``laionet`` and the other dataset have.  ``images``: dataset, wnid, image_id, path, row
    (two datasets).  Rows are sorted first, so the sample does not depend on their order."""
    datasets = images["dataset"].unique().to_list()
    if len(datasets) > 2 or (len(datasets) == 2 and LAIONET not in datasets):
        raise ValueError(f"a gallery compares laionet with one other dataset, got {sorted(datasets)}")
    ordered = images.select(list(STRIP_SCHEMA.keys() - {"position"})).sort("dataset", "wnid", "image_id")
    keys = np.random.default_rng(seed).random(ordered.height)
    ordered = ordered.with_columns(key=pl.Series(keys, dtype=pl.Float64))
    shared = ordered.group_by("wnid").agg(pl.col("dataset").n_unique().alias("n")).filter(pl.col("n") == 2)
    return (
        ordered.join(shared.select("wnid"), on="wnid", how="semi")
        .with_columns(position=(pl.col("key").rank("ordinal").over("dataset", "wnid") - 1).cast(pl.UInt32))
        .filter(pl.col("position") < per_class)
        .sort("wnid", "dataset", "position")
        .select(list(STRIP_SCHEMA))
    )


def rating_trials(
    strips: pl.DataFrame, vectors: dict[str, np.ndarray], trials_per_class: int, seed: int
) -> pl.DataFrame:
    """``trials_per_class`` seeded trials per class with at least two strip images in each
    dataset: two distinct LAIONet images and two distinct comparison images, the cosine of each
    pair (``vectors[dataset][row]``, unit vectors), and which side LAIONet is shown on.  Sides
    alternate along the class-ordered trials, so they balance overall and within every class;
    ``trial`` is then a seeded random presentation order."""
    rng = np.random.default_rng(seed)
    enough = (
        strips.group_by("wnid", "dataset")
        .len()
        .filter(pl.col("len") >= 2)
        .group_by("wnid")
        .len()
        .filter(pl.col("len") == 2)
    )
    classes = sorted(enough["wnid"].to_list())
    other = next((d for d in strips["dataset"].unique().sort() if d != LAIONET), None)
    by_class = strips.sort("wnid", "dataset", "position").partition_by("wnid", "dataset", as_dict=True)
    rows = []
    first_left = bool(rng.integers(2))
    for wnid in classes:
        for _ in range(trials_per_class):
            pair = {}
            for dataset in (LAIONET, other):
                members = by_class[(wnid, dataset)]
                a, b = (int(i) for i in rng.choice(members.height, size=2, replace=False))
                ids, index = members["image_id"], members["row"]
                similarity = float(vectors[dataset][index[a]] @ vectors[dataset][index[b]])
                pair[dataset] = (dataset, ids[a], ids[b], similarity)
            laionet_left = (len(rows) % 2 == 0) == first_left
            left, right = (pair[LAIONET], pair[other]) if laionet_left else (pair[other], pair[LAIONET])
            rows.append((wnid, "left" if laionet_left else "right", *left, *right))
    names = [c for c in TRIAL_SCHEMA if c != "trial"]
    table = pl.DataFrame(rows, schema={c: TRIAL_SCHEMA[c] for c in names}, orient="row")
    order = rng.permutation(table.height)
    return (
        table.with_columns(trial=pl.Series(order, dtype=pl.UInt32)).sort("trial").select(list(TRIAL_SCHEMA))
    )


def with_thumbnails(trials: pl.DataFrame, strips: pl.DataFrame) -> pl.DataFrame:
    """The trials with each image's thumbnail (``<side>_thumbnail_<a|b>``, from ``strips``'
    ``thumbnail`` column) after its image id."""
    thumbs = strips.select("dataset", "image_id", "thumbnail")
    for side in SIDES:
        for which in ("a", "b"):
            names = {"dataset": f"{side}_dataset", "image_id": f"{side}_image_{which}"}
            trials = trials.join(
                thumbs.rename({**names, "thumbnail": f"{side}_thumbnail_{which}"}),
                on=list(names.values()),
                how="left",
                maintain_order="left",
            )
    order = [
        c for name in TRIAL_SCHEMA for c in (name, name.replace("_image_", "_thumbnail_")) if c in trials
    ]
    return trials.select(list(dict.fromkeys(order)))


def thumbnail_name(dataset: str, path: str, size: int) -> str:
    """A thumbnail's path under the gallery folder, named by its source file and size, so a
    later run reuses it while both are unchanged (downloaded images are content-addressed)."""
    return f"{dataset}/{hashlib.sha1(f'{path}@{size}'.encode()).hexdigest()[:20]}.jpg"


def write_thumbnail(source: str, target: Path, size: int) -> str:
    """A JPEG thumbnail of ``source`` whose longer side is at most ``size``, written atomically;
    ``""``, or the error for a file that cannot be read as an image (it never raises on bad bytes)."""
    from PIL import Image, ImageOps

    try:
        with open_binary(source) as f, Image.open(f) as image:
            image = ImageOps.exif_transpose(image)
            image.thumbnail((size, size))
            rgb = image.convert("RGB")
    except Exception as exc:  # noqa: BLE001  any unreadable file is a status, as in the downloader
        return f"{type(exc).__name__}: {exc}"
    write_atomic(target, lambda tmp: rgb.save(tmp, "JPEG", quality=85))
    return ""


def write_gallery(
    path: Path,
    title: str,
    classes: pl.DataFrame,
    strips: pl.DataFrame,
    labels: dict[str, str],
    caveats: list[str] = (),
    back: tuple[str, str] | None = None,
) -> Path:
    """One HTML page: per class (in ``classes``' order; columns wnid, name and any figures to
    show), its figures and one strip of thumbnails per dataset (``strips``: wnid, dataset,
    position, thumbnail relative to the page); ``caveats`` in a banner first, and a link ``back``
    (file, text) to the page it belongs to."""
    thumbs = (
        strips.sort("position").group_by("wnid", "dataset", maintain_order=True).agg("thumbnail", "image_id")
    )
    cells = {(w, d): (t, i) for w, d, t, i in thumbs.iter_rows()}
    figures = [c for c in classes.columns if c not in ("wnid", "name")]
    body = [f"<p><a href='{html.escape(back[0])}'>← {html.escape(back[1])}</a></p>"] if back else []
    for row in classes.iter_rows(named=True):
        facts = ", ".join(f"{label(c)}: {number(row[c])}" for c in figures)
        body += [
            f"<section class='class' id='{html.escape(row['wnid'])}'><h3>{html.escape(row['name'] or '')} "
            f"({html.escape(row['wnid'])})</h3><p class='note'>{html.escape(facts)}</p>",
        ]
        for dataset, name in labels.items():
            files, ids = cells.get((row["wnid"], dataset), ([], []))
            images = "".join(
                f"<img src='{html.escape(f)}' title='{html.escape(i)}' alt='{html.escape(i)}'>"
                for f, i in zip(files, ids, strict=True)
            )
            body.append(f"<div class='strip'><b>{html.escape(name)}</b>{images}</div>")
        body.append("</section>")
    return write_text_atomic(path, document(title, list(caveats), body))
