"""laionet_export: one set of a release (LAIONet, its top 50 per class, the text-matched rows, the
image-selected rows) written as an ImageFolder, WebDataset shards or a ``datasets`` folder, with
its dataset card (``core.export``)."""

import time
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field, field_validator

from laionet_assets.core.choices import check_choice
from laionet_assets.core.export import card as cards
from laionet_assets.core.export.folder import ExportExists, write_folder
from laionet_assets.core.export.hf import write_hf
from laionet_assets.core.export.imagefolder import IMAGE_MODES, write_imagefolder
from laionet_assets.core.export.records import EXPORT_FORMATS, EXPORT_SETS, records
from laionet_assets.core.export.webdataset import write_shards
from laionet_assets.core.io.atomic import write_text_atomic
from laionet_assets.core.io.progress import Progress
from laionet_assets.core.io.storage import is_remote
from laionet_assets.defs.lib import latest_metadata, markdown_table, on_demand
from laionet_assets.defs.partitions import RELEASE_LEVEL, crossing_dep
from laionet_assets.defs.report.report import safety_policy_text
from laionet_assets.resources import LaionetStorage

GROUP = "laionet_export"
SET_MEANING = {
    "laionet": "LAIONet: LAION's single-label captions most similar to their ImageNet synset's text, "
    "with their images (downloaded, checked, and without the class's name written in them).",
    "top50": "LAIONet's 50 rows per class whose captions are most similar to the synset text (paper "
    "Appendix B), with their images.",
    "text_matched": "LAION's rows whose captions are nearest to ImageNet-Captions' texts (paper §4.3), "
    "with their images.",
    "image_selected": "LAIONet's pool selected by the image instead of the caption (CLIP image-to-class "
    "similarity above a threshold), with their images: the causal experiment's set.",
}


class ExportConfig(dg.Config):
    set: str = Field(default="laionet", description=f"what is exported: one of {', '.join(EXPORT_SETS)}")
    format: str = Field(default="imagefolder", description=f"how: one of {', '.join(EXPORT_FORMATS)}")
    out: str = Field(
        default="", description="the folder exported into (default <home>/exports/<release>/<set>-<format>)"
    )
    overwrite: bool = Field(default=False, description="replace a folder that is not empty")
    shard_size: int = Field(
        default=10_000, ge=1, description="samples per WebDataset shard, rows per Parquet file"
    )
    images: str = Field(default="copy", description=f"ImageFolder's images: {', '.join(IMAGE_MODES)}")

    _set = field_validator("set")(classmethod(lambda cls, v: check_choice(v, EXPORT_SETS, "export set")))
    _format = field_validator("format")(
        classmethod(lambda cls, v: check_choice(v, EXPORT_FORMATS, "export format"))
    )
    _images = field_validator("images")(
        classmethod(lambda cls, v: check_choice(v, IMAGE_MODES, "export images"))
    )


def set_rows(storage: LaionetStorage, name: str, release: str) -> pl.DataFrame:
    """The rows of one export set of a release: sample id, class, caption, URL, similarity, part
    and the stored image; an empty frame where the set's asset has not been materialised."""
    if name in ("laionet", "top50"):
        parts = storage.registry.releases().get(release, [])
        rows = storage.read_asset("laionet_final", partitions=parts) if parts else None
        top = storage.read_asset("laionet_top50", partitions=[release]) if name == "top50" else None
        if rows is not None and name == "top50":
            rows = None if top is None else rows.join(top, on=["release_part", "part_row"], how="semi")
    elif name == "text_matched":
        rows = storage.read_asset("text_matched_images")
        captions = storage.read_asset("captions_nearest_laion")
        if rows is not None:
            rows = rows.filter(pl.col("selected") & (pl.col("status") == "ok"))
            if captions is not None:
                text = captions.select("sample_id", "url", "text").unique(["sample_id", "url"])
                rows = rows.join(text, on=["sample_id", "url"], how="left")
    else:
        rows = storage.read_asset("laionet_image_selected", partitions=[release])
        if rows is not None:
            rows = rows.filter((pl.col("set") == "image_to_class") & (pl.col("status") == "ok"))
    if rows is None or rows.is_empty():
        return pl.DataFrame()
    similarity = "text_similarity" if "text_similarity" in rows.columns else "similarity"
    return rows.filter(pl.col("image_path").is_not_null()).with_columns(
        path=pl.lit(str(storage.images) + "/") + pl.col("image_path"),
        similarity=pl.col(similarity).cast(pl.Float64),
    )


def _status_facts(storage: LaionetStorage, release: str) -> tuple[str | None, str | None, float | None]:
    """The first and last fetch of the release's images that downloaded, and the share that did."""
    parts = storage.registry.releases().get(release, [])
    status = (
        storage.read_asset("laionet_images", ["status", "fetched_at"], partitions=parts) if parts else None
    )
    if status is None or status.is_empty():
        return None, None, None
    ok = status.filter(pl.col("status") == "ok")
    span = ok.select(pl.col("fetched_at").min().alias("a"), pl.col("fetched_at").max().alias("b")).row(0)
    fmt = lambda t: t.strftime("%Y-%m-%d %H:%M UTC") if t is not None else None  # noqa: E731
    return fmt(span[0]), fmt(span[1]), ok.height / status.height


def card_facts(
    context,
    storage: LaionetStorage,
    config: ExportConfig,
    out: Path,
    rows: pl.DataFrame,
    classes: pl.DataFrame,
) -> cards.CardFacts:
    """What the card says, from the release's assets and their latest metadata."""
    release = context.partition_key
    parts = storage.registry.releases().get(release, [])
    clean = latest_metadata(context, "laionet_clean", release)
    finals = [latest_metadata(context, "laionet_final", p) for p in parts]
    downloads = [latest_metadata(context, "laionet_images", p) for p in parts]
    total = lambda metas, key: sum(int(m.get(key) or 0) for m in metas)  # noqa: E731
    counts = {
        "captions matched to one class (candidates)": int(clean.get("candidates") or 0),
        "LAIONet (above the threshold, safety policy kept)": int(clean.get("rows") or 0),
        "images asked for": total(downloads, "samples") or total(downloads, "rows"),
        "LAIONet with images (laionet_final)": total(finals, "rows"),
        f"exported ({config.set})": rows.height,
    }
    dropped = {
        "below the similarity threshold": int(clean.get("dropped_below_threshold") or 0),
        "safety policy": int(clean.get("dropped_nsfw_policy") or 0),
        "repeated URL (union release)": int(clean.get("dropped_duplicate_url") or 0),
        "no image (download failed or refused)": total(finals, "dropped_without_image"),
        "synset name in the image's text (OCR)": total(finals, "dropped_synset_name_in_image_text"),
    }
    fetched_from, fetched_to, share = _status_facts(storage, release)
    ocr = "on" if any(str(d.get("ocr", "disabled")) != "disabled" for d in downloads) else "off"
    folders = storage.registry.folders(release)
    rebuild = " ".join(f"--release {f}" for f in folders) or "--release <folder>"
    return cards.CardFacts(
        title=f"LAIONet ({config.set}) of {release}",
        set_meaning=SET_MEANING[config.set],
        format=config.format,
        release=release,
        parts=parts,
        folders=folders,
        vocabulary=storage.vocabulary,
        classes=classes.height,
        classes_present=rows["wnid"].n_unique() if rows.height else 0,
        rows=rows.height,
        encoder=clean.get("encoder"),
        threshold=clean.get("threshold"),
        safety_policy=safety_policy_text(clean),
        ocr_filter=ocr,
        counts=counts,
        dropped={k: v for k, v in dropped.items() if v},
        fetched_from=fetched_from,
        fetched_to=fetched_to,
        download_ok_share=share,
        commands=[
            f"laionet run {rebuild} --name {release} --vocabulary {storage.vocabulary}",
            f"laionet export --set {config.set} --release {release} --format {config.format} --out {out}",
        ],
    )


@dg.asset(
    group_name=GROUP,
    **RELEASE_LEVEL,
    kinds={"pillow", "parquet"},
    **on_demand("it copies the images of a set into a new folder: laionet export asks for it"),
    # read, not loaded: the set's rows come from whichever asset holds them
    deps=[crossing_dep("laionet_final"), "laionet_top50", "text_matched_images", "laionet_image_selected"],
)
def laionet_export(
    context: dg.AssetExecutionContext,
    config: ExportConfig,
    storage: LaionetStorage,
    imagenet_synsets: pl.DataFrame,
) -> None:
    """One set of the release (``set``: laionet, top50, text_matched, image_selected) as a dataset
    people load (``format``: imagefolder, webdataset, hf), with its card (``README.md``).  The
    folder appears whole or not at all; a folder that is not empty is replaced only with
    ``overwrite``."""
    started = time.perf_counter()
    release = context.partition_key
    if not config.out and is_remote(storage.root):
        raise dg.Failure(f"the home {storage.root} is an object store: name a local folder with --out")
    out = Path(config.out or storage.root / "exports" / release / f"{config.set}-{config.format}")
    rows = set_rows(storage, config.set, release)
    if rows.is_empty():
        raise dg.Failure(
            f"nothing to export: the {config.set} set of release {release} has no row with an image "
            "(materialise it first)"
        )
    classes = imagenet_synsets.select("wnid", "name")
    table = records(rows, classes)
    facts = card_facts(context, storage, config, out, table, classes)
    progress = Progress(table.height, f"{config.set} as {config.format}", context.log.info)
    written: dict = {}

    def write(folder: Path) -> None:
        if config.format == "imagefolder":
            written.update(write_imagefolder(folder, table, classes, config.images, progress.update))
        elif config.format == "webdataset":
            written["files"] = write_shards(folder, table, config.shard_size, progress.update)
        else:
            written["files"] = write_hf(folder, table, classes, config.shard_size, progress.update)
        write_text_atomic(folder / cards.CARD, cards.dataset_card(facts))

    try:
        out = write_folder(out, config.overwrite, write)
    except ExportExists as exc:
        raise dg.Failure(str(exc)) from None
    context.add_output_metadata(
        {
            "out": dg.MetadataValue.path(str(out)),
            "card": dg.MetadataValue.path(str(out / cards.CARD)),
            "set": config.set,
            "format": config.format,
            "rows": table.height,
            "classes": table["wnid"].n_unique(),
            "written": dg.MetadataValue.json(written),
            "seconds": round(time.perf_counter() - started, 2),
            "preview": markdown_table(table.drop("path"), 10),
        }
    )
