"""Selection by image against selection by caption (``core.analysis.image_selection``):
laionet_image_selected and image_selection_sweep → selection_comparison."""

import time

import dagster as dg
import numpy as np
import polars as pl

from laionet_assets.core.analysis import image_selection as rules
from laionet_assets.core.analysis import stats
from laionet_assets.core.analysis.accuracy import per_class_recall
from laionet_assets.core.analysis.image_synset import synset_matrix
from laionet_assets.core.images.download import STATUS_SCHEMA, download_images
from laionet_assets.core.io.atomic import write_parquet_atomic
from laionet_assets.core.io.progress import Progress
from laionet_assets.core.models.image_embeddings import cached_rows, embed_images, embedded_rows
from laionet_assets.core.releases import shipped
from laionet_assets.core.report.figures import image_selection_sweep_figure, selection_comparison_figure
from laionet_assets.core.text.candidates import PartTables, drop_repeated_urls, policy_kept, with_captions
from laionet_assets.defs.creation.selection import LaionetSelectionConfig, selection_inputs
from laionet_assets.defs.evaluation.assets import IMAGE_KEY, PREDICTIONS_SCHEMA, downloaded_path, predict
from laionet_assets.defs.lib import (
    figure,
    gpu_asset,
    gpu_multi_asset,
    latest_metadata,
    markdown_table,
    reusable_rows,
)
from laionet_assets.defs.partitions import RELEASE_LEVEL, crossing_dep, of_release_parts
from laionet_assets.defs.similarity.intra_class import IntraClassConfig
from laionet_assets.resources import (
    Experiments,
    ImageDownloader,
    ImageEncoder,
    ImageModels,
    LaionetStorage,
    TextEncoderResource,
)

GROUP = "laionet_experiments"
SCORE_CHUNK = 65_536  # candidates scored at once from a part's shipped vectors
# what the downloader says of a row's image (so a later run reuses it)
IMAGE_COLUMNS = {k: v for k, v in STATUS_SCHEMA.items() if k not in ("sample_id", "url")}
SELECTED_SCHEMA = {
    "set": pl.String,
    **rules.CANDIDATE_SCHEMA,
    "url": pl.String,
    "text": pl.String,
    **IMAGE_COLUMNS,
    "matched": pl.Boolean,
}
SWEEP_SCHEMA = {
    "rule": pl.String,
    "threshold": pl.Float64,
    "chosen_as": pl.String,
    "rows": pl.Int64,
    "classes": pl.Int64,
    "laionet_share": pl.Float64,
    "intra_class_mean": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
}
IMAGENET_HALF = "imagenet_val_half"  # ImageNet val's comparison half: the prototypes' other half


def _candidates(
    parts: dict[str, PartTables], laionet_clean: pl.DataFrame, config, union: bool
) -> pl.DataFrame:
    """The release's candidates the safety policy keeps, at any similarity, with whether LAIONet
    holds them (a union release keeps each URL once, as LAIONet does)."""
    frames = [
        policy_kept(part, key, config.nsfw_policy, config.max_unsafe_score) for key, part in parts.items()
    ]
    candidates = (
        pl.concat(frames)
        if frames
        else pl.DataFrame(schema=rules.CANDIDATE_SCHEMA).drop("in_laionet", "vector_key", *rules.SCORES)
    )
    if union:
        candidates, _ = drop_repeated_urls(with_captions(parts, candidates))
        candidates = candidates.drop("url", "text")
    laionet = laionet_clean.select("release_part", pl.col("part_row").cast(pl.Int64))
    return candidates.join(
        laionet.with_columns(in_laionet=pl.lit(True)), on=["release_part", "part_row"], how="left"
    ).with_columns(pl.col("in_laionet").fill_null(False))


class _Scorer:
    """Each candidate image's similarity to its synset text and to its class's prototype."""

    def __init__(self, synsets: pl.DataFrame, prototypes: tuple[np.ndarray, list[str]]):
        self.synsets, self.synset_wnids = synset_matrix(synsets)
        self.prototypes, self.prototype_wnids = prototypes

    def score(self, rows: pl.DataFrame, x: np.ndarray) -> pl.DataFrame:
        labels = rows["wnid"].to_list()
        return rows.with_columns(
            class_similarity=pl.Series(
                rules.own_class_similarity(x, labels, self.synsets, self.synset_wnids), dtype=pl.Float32
            ),
            prototype_similarity=pl.Series(
                rules.own_class_similarity(x, labels, self.prototypes, self.prototype_wnids),
                dtype=pl.Float32,
            ),
        )


def _from_release(
    candidates: pl.DataFrame, handles: dict, scorer: _Scorer, progress: Progress
) -> pl.DataFrame:
    """The candidates scored from the vectors their parts ship, ``SCORE_CHUNK`` rows at a time
    (memory-mapped reads; the vectors are never all in memory); rows whose shipped vector is NaN
    or zero are dropped."""
    frames = []
    for start in range(0, candidates.height, SCORE_CHUNK):
        chunk = candidates.slice(start, SCORE_CHUNK)
        kept, vectors, _ = shipped.read_frame_rows(chunk, handles)
        frames.append(scorer.score(kept, vectors))
        progress.update(chunk.height)
    scored = pl.concat(frames) if frames else candidates.with_columns(vector_key=pl.lit(None, pl.String))
    return scored.with_columns(**{c: pl.lit(None, t) for c, t in IMAGE_COLUMNS.items()})


def _download(
    context, storage: LaionetStorage, downloader: ImageDownloader, rows: pl.DataFrame, label: str, fetch=True
):
    """``rows``' images in the content-addressed store, as the status table (``STATUS_SCHEMA``)
    and its counts: what laionet_images or an earlier run fetched is reused, the rest fetched,
    or, with ``fetch`` off, left without a status."""
    previous = reusable_rows(
        storage, "laionet_image_selected", "laionet_images", list(STATUS_SCHEMA), ["sample_id", "url"]
    )
    if not fetch:
        known = (
            pl.DataFrame(schema=STATUS_SCHEMA)
            if previous is None
            else previous.cast(STATUS_SCHEMA).join(
                rows.select("sample_id", "url"), on=["sample_id", "url"], how="semi"
            )
        )
        return known, {"fetched": 0, "reused": known.height, "not_downloaded": rows.height - known.height}
    progress = Progress(rows.height, f"{label} image downloads", context.log.info)
    table, counts = download_images(
        rows.select("sample_id", "url"), storage.images, downloader.settings(), previous, progress.update
    )
    return table.unique(["sample_id", "url"]), counts


def _from_downloads(context, storage, downloader, image_encoder, model, cache, candidates, scorer):
    """The candidates scored from their downloaded images, encoded (LanceDB cache by sha256);
    rows without an image or whose image does not decode are dropped."""
    status, counts = _download(context, storage, downloader, candidates, "candidate")
    rows = candidates.join(status, on=["sample_id", "url"], how="left").filter(pl.col("status") == "ok")
    paths = rows.select(downloaded_path(storage)).to_series().to_list()
    progress = Progress(len(paths), "candidate image embeddings", context.log.info)
    vectors, errors, embed_counts = embed_images(
        model, paths, rows["image_sha256"].to_list(), cache, image_encoder.decode_workers, progress.update
    )
    ok = np.array([not e for e in errors], dtype=bool)
    rows = rows.filter(pl.Series(ok)).with_columns(vector_key=pl.col("image_sha256"))
    return scorer.score(rows, vectors[ok]), {
        **counts,
        **{f"embedded_{k}": v for k, v in embed_counts.items()},
    }


def _imagenet_halves(cache, reference: pl.DataFrame, seed: int):
    """ImageNet val's embedded images split per class (``rules.split_halves``): the prototype
    half's vectors and labels, and the comparison half's vectors and rows."""
    x, rows = embedded_rows(cache, reference, "imagenet_val")
    if not rows.height:
        return (x, np.zeros(0, object)), (x, rows)
    half = rules.split_halves(rows["image_id"].to_list(), rows["wnid"].to_list(), seed)
    return (x[half], rows["wnid"].to_numpy()[half]), (x[~half], rows.filter(pl.Series(~half)))


def _check_encoders(model_id: str, reference: pl.DataFrame) -> None:
    others = set(reference["encoder"].unique().drop_nulls().to_list()) - {model_id}
    if others:
        raise dg.Failure(
            f"reference_image_embeddings were computed with {sorted(others)}, the candidates with "
            f"{model_id}: re-materialise reference_image_embeddings with one image encoder"
        )


def _sweep(
    scored: pl.DataFrame, thresholds: dict, laionet_threshold: float | None, vectors_of, experiments
) -> pl.DataFrame:
    """Per image rule and threshold (quantiles of the rule's scores, and the one chosen), the rows
    and classes kept, the share of them LAIONet holds, and the mean of the classes' intra-class
    similarity (capped and seeded as in the comparison) with its interval; LAIONet's caption rule
    is the first row."""
    rows = []

    def measure(rule: str, threshold, chosen_as: str, keep: pl.Expr) -> None:
        kept = scored.filter(keep.fill_null(False))
        classes = kept.group_by("wnid").len().filter(pl.col("len") >= experiments.matched_min_images)
        sample = kept.join(classes.select("wnid"), on="wnid", how="semi").sort(
            "wnid", "release_part", "part_row"
        )
        x, sampled = vectors_of(sample)
        per_class = (
            stats.per_class_intra_similarity(
                x, sampled["wnid"].to_numpy(), experiments.matched_max_images, experiments.seed
            )
            if sampled.height
            else pl.DataFrame(schema=stats.CLASS_STATS_SCHEMA)
        )
        pooled = rules.pooled_mean(per_class.filter(pl.col("n") >= 2))
        rows.append(
            {
                "rule": rule,
                "threshold": threshold,
                "chosen_as": chosen_as,
                "rows": kept.height,
                "classes": classes.height,
                "laionet_share": float(kept["in_laionet"].mean()) if kept.height else None,
                "intra_class_mean": pooled["mean"],
                "ci_low": pooled["ci_low"],
                "ci_high": pooled["ci_high"],
            }
        )

    measure(rules.CAPTION, laionet_threshold, "LAIONet's threshold", pl.col("in_laionet"))
    for rule in ("image_to_class", "image_to_prototype"):
        score = rules.RULE_SCORE[rule]
        values = scored[score].drop_nans().drop_nulls()
        chosen = {float(thresholds[score]): "chosen"}
        for q in experiments.image_selection_quantiles:
            if values.len():
                chosen.setdefault(float(values.quantile(q, "lower")), f"quantile {q:g}")
        for threshold, how in sorted(chosen.items()):
            measure(rule, threshold, how, pl.col(score) > threshold)
    return pl.DataFrame(rows, schema=SWEEP_SCHEMA)


@gpu_multi_asset(
    group_name=GROUP,
    **RELEASE_LEVEL,
    outs={
        "laionet_image_selected": dg.AssetOut(
            description="LAION's candidates selected by their image (image-to-class, image-to-prototype, "
            "caption then image) beside LAIONet's caption selection, with the class-matched samples",
            kinds={"pytorch", "polars"},
        ),
        "image_selection_sweep": dg.AssetOut(
            description="Per image rule and threshold: rows, classes and intra-class similarity kept",
            kinds={"polars", "matplotlib"},
        ),
    },
    ins={"lemma_matches": of_release_parts(), "text_sims": of_release_parts()},
    # laionet_images is read, not loaded: what it fetched is reused
    deps=[crossing_dep("laionet_images")],
)
def laionet_image_selected(
    context: dg.AssetExecutionContext,
    config: LaionetSelectionConfig,
    storage: LaionetStorage,
    text_encoder: TextEncoderResource,
    image_encoder: ImageEncoder,
    downloader: ImageDownloader,
    experiments: Experiments,
    lemma_matches: dict[str, pl.LazyFrame],
    text_sims: dict[str, pl.LazyFrame],
    laionet_clean: pl.DataFrame,
    reference_image_embeddings: pl.DataFrame,
    image_encoder_synset_embeddings: pl.DataFrame,
):
    """The release's single-label, safety-filtered candidates (LAIONet's pool) selected by their
    image: image-to-class (CLIP similarity to the synset text), image-to-prototype (cosine to the
    class's centroid over one seeded half of ImageNet val) and caption then image (LAIONet's rows
    that also pass image-to-class), beside LAIONet's own caption selection; per class, each set's
    seeded sample at the smallest set's size (``matched``).  The candidates' image vectors are
    those the release ships (no download), or, with ``--image-selected-downloads``, their
    downloaded images encoded.  ``image_selection_sweep``: each rule over a range of thresholds."""
    started = time.perf_counter()
    laionet_threshold, parts, _, _ = selection_inputs(config, storage, text_encoder, lemma_matches, text_sims)
    release = context.partition_key
    union = len(storage.registry.folders(release)) > 1
    candidates = _candidates(parts, laionet_clean, config, union)
    model = image_encoder.load()
    cache = storage.embedding_cache("image")
    _check_encoders(model.encoder_id, reference_image_embeddings)
    registered = storage.registry.load()
    try:
        handles, why = shipped.choose_for_parts(
            image_encoder.embeddings,
            {p: registered.get(p) for p in sorted(parts)},
            "image",
            image_encoder.release_tag(),
        )
    except shipped.ShippedEmbeddingError as exc:
        raise dg.Failure(str(exc)) from None
    prototype_half, _ = _imagenet_halves(cache, reference_image_embeddings, experiments.seed)
    scorer = _Scorer(image_encoder_synset_embeddings, rules.class_prototypes(*prototype_half))
    metadata = {
        "release": release,
        "candidates": candidates.height,
        "in_laionet": int(candidates["in_laionet"].sum()),
    }
    if handles is not None:
        source = why
        scored = _from_release(
            candidates, handles, scorer, Progress(candidates.height, "candidates scored", context.log.info)
        )
    elif experiments.image_selected_downloads:
        source = f"downloaded images, encoded ({why})"
        scored, counts = _from_downloads(
            context,
            storage,
            downloader,
            image_encoder,
            model,
            cache,
            with_captions(parts, candidates),
            scorer,
        )
        metadata["downloads"] = dg.MetadataValue.json(counts)
    else:
        reason = (
            f"no image vectors for the candidates: {why}, and --image-selected-downloads is off (turn it on "
            f"to download and encode the {candidates.height} candidates' images)"
        )
        context.log.warning(f"selection by image skipped: {reason}")
        yield dg.Output(
            pl.DataFrame(schema=SELECTED_SCHEMA),
            output_name="laionet_image_selected",
            metadata={**metadata, "skipped": reason},
        )
        yield dg.Output(
            pl.DataFrame(schema=SWEEP_SCHEMA),
            output_name="image_selection_sweep",
            metadata={"skipped": reason},
        )
        return
    scored = scored.select(
        *rules.CANDIDATE_SCHEMA, *(c for c in ("url", "text", *IMAGE_COLUMNS) if c in scored.columns)
    )
    thresholds = rules.thresholds_for(
        scored,
        {
            "class_similarity": experiments.image_to_class_threshold,
            "prototype_similarity": experiments.image_to_prototype_threshold,
        },
    )
    selected = rules.select_sets(scored, thresholds)
    sizes = rules.matched_sizes(selected, experiments.matched_min_images, experiments.matched_max_images)
    selected = rules.matched_sample(selected, sizes, experiments.seed)
    if "url" not in selected.columns:
        selected = with_captions(parts, selected)
    vectors_of = _vector_reader(model, cache, handles)
    _cache_matched(model, cache, handles, selected)
    if handles is not None:  # images fetched before (LAIONet's, an earlier run's), or fetched now
        wanted = selected.filter(pl.col("matched")).unique(["sample_id", "url"], maintain_order=True)
        status, counts = _download(
            context, storage, downloader, wanted, "image-selected", fetch=experiments.image_selected_downloads
        )
        selected = selected.drop(*IMAGE_COLUMNS).join(
            status, on=["sample_id", "url"], how="left", maintain_order="left"
        )
        metadata["downloads"] = dg.MetadataValue.json(counts)
    selected = selected.select(list(SELECTED_SCHEMA)).cast(SELECTED_SCHEMA)
    sweep = _sweep(scored, thresholds, laionet_threshold, vectors_of, experiments)
    fig = image_selection_sweep_figure(sweep, storage.figure_path("image_selection_sweep", release))
    per_set = dict(selected.group_by("set").len().iter_rows())
    compared = sizes.filter(pl.col("status") == rules.COMPARED)
    metadata.update(
        {
            "image_vectors": source,
            "encoder": model.encoder_id,
            "dropped_without_vector": candidates.height - scored.height,
            "thresholds": dg.MetadataValue.json(
                {
                    "image_to_class": thresholds["class_similarity"],
                    "image_to_prototype": thresholds["prototype_similarity"],
                    "chosen_as": {
                        "image_to_class": "set"
                        if experiments.image_to_class_threshold is not None
                        else "as many as LAIONet",
                        "image_to_prototype": "set"
                        if experiments.image_to_prototype_threshold is not None
                        else "as many as LAIONet",
                    },
                }
            ),
            "rows_per_set": dg.MetadataValue.json({s: per_set.get(s, 0) for s in rules.SETS}),
            "classes_compared": compared.height,
            "classes_too_few": sizes.height - compared.height,
            "matched_images": int(compared["matched_n"].sum()),
            "class_sizes": markdown_table(sizes, 30),
            "seconds": round(time.perf_counter() - started, 2),
        }
    )
    yield dg.Output(selected, output_name="laionet_image_selected", metadata=metadata)
    yield dg.Output(
        sweep,
        output_name="image_selection_sweep",
        metadata={"sweep": markdown_table(sweep), "fig_image_selection_sweep": figure(fig)},
    )


def _vector_reader(model, cache, handles):
    """A function from rows (with ``vector_key``; ``release_part`` and ``part_row`` for shipped
    vectors) to their unit vectors and the rows found, in order."""

    def read(rows: pl.DataFrame) -> tuple[np.ndarray, pl.DataFrame]:
        if not rows.height:
            return np.zeros((0, 1), np.float32), rows
        if handles is not None:
            kept, vectors, _ = shipped.read_frame_rows(rows.drop("vector_key"), handles)
            return vectors, kept
        return cached_rows(cache, model.encoder_id, rows)

    return read


def _cache_matched(model, cache, handles, selected: pl.DataFrame) -> None:
    """The matched rows' shipped vectors into the LanceDB cache, where selection_comparison reads
    every set's vectors by ``vector_key`` (encoded images are there already)."""
    if handles is None:
        return
    matched = selected.filter(pl.col("matched")).unique("vector_key")
    kept, vectors, _ = shipped.read_frame_rows(matched.drop("vector_key"), handles)
    if kept.height:
        cache.add(model.encoder_id, kept["vector_key"].to_list(), vectors)


ACCURACY_SCHEMA = {
    "set": pl.String,
    "model": pl.String,
    "classes": pl.Int64,
    "images": pl.Int64,
    "top1_equal": pl.Float64,
}


def _equal_weight_top1(predictions: pl.DataFrame) -> pl.DataFrame:
    """Per set (``dataset``) and model: classes, images and top-1 accuracy with every class
    weighted equally (the mean of the classes' recall@1, the paper's headline)."""
    if predictions.is_empty():
        return pl.DataFrame(schema=ACCURACY_SCHEMA)
    recall = per_class_recall(predictions)
    return (
        recall.group_by("dataset", "model")
        .agg(classes=pl.len(), images=pl.col("n").sum(), top1_equal=pl.col("recall1").mean())
        .rename({"dataset": "set"})
        .select(list(ACCURACY_SCHEMA))
        .cast(ACCURACY_SCHEMA)
        .sort("set", "model")
    )


@gpu_asset(
    group_name=GROUP,
    **RELEASE_LEVEL,
    kinds={"numpy", "matplotlib", "pytorch"},
    # model_predictions is read, not loaded: its predictions of LAIONet's images are reused
    deps=[crossing_dep("model_predictions")],
)
def selection_comparison(
    context: dg.AssetExecutionContext,
    config: IntraClassConfig,
    storage: LaionetStorage,
    image_models: ImageModels,
    experiments: Experiments,
    laionet_image_selected: pl.DataFrame,
    reference_image_embeddings: pl.DataFrame,
    imagenet_val_predictions: pl.DataFrame,
    imagenet_synsets: pl.DataFrame,
) -> pl.DataFrame:
    """Does selecting by image move LAIONet toward ImageNet, and how far?  Per set (LAIONet by
    caption, each image rule, ImageNet val's comparison half) and class, and pooled: the
    intra-class similarity of the class-matched samples with its interval (``interval``:
    jackknife by default), and each set minus LAIONet with its verdict; each model's
    equal-weight top-1 on every set whose images are present; the figure and the answer."""
    release = context.partition_key
    matched = laionet_image_selected.filter(pl.col("matched"))
    if matched.is_empty() or reference_image_embeddings.is_empty():
        why = latest_metadata(context, "laionet_image_selected", release).get("skipped") or (
            "no class has enough images in every set (matched_min_images)"
        )
        context.add_output_metadata({"skipped": why})
        return pl.DataFrame(schema=rules.COMPARISON_SCHEMA)
    cache = storage.embedding_cache("image")
    encoder = reference_image_embeddings["encoder"][0]
    classes = matched["wnid"].unique().to_list()
    per_set = {}
    for name in rules.SETS:
        rows = matched.filter(pl.col("set") == name)
        x, rows = cached_rows(cache, encoder, rows)
        per_set[name] = _stats(x, rows["wnid"].to_numpy(), config)
    _, (imagenet, imagenet_rows) = _imagenet_halves(cache, reference_image_embeddings, experiments.seed)
    in_classes = imagenet_rows["wnid"].is_in(classes).to_numpy()
    imagenet_rows = imagenet_rows.filter(pl.Series(in_classes))
    per_set[IMAGENET_HALF] = _stats(
        imagenet[in_classes], imagenet_rows["wnid"].to_numpy(), config, experiments.matched_max_images
    )
    comparison = rules.compare_sets(per_set)
    table = rules.summary(comparison, IMAGENET_HALF)
    answer = rules.answer(table, IMAGENET_HALF)
    accuracy, accuracy_meta = _accuracy(context, storage, image_models, imagenet_synsets, matched)
    half = imagenet_val_predictions.join(imagenet_rows.select("image_id"), on="image_id", how="semi")
    accuracy = pl.concat([accuracy, _equal_weight_top1(half.with_columns(dataset=pl.lit(IMAGENET_HALF)))])
    write_parquet_atomic(accuracy, storage.report_path("selection_accuracy.parquet", release))
    fig = selection_comparison_figure(comparison, storage.figure_path("selection_comparison", release))
    context.add_output_metadata(
        {
            "answer": dg.MetadataValue.md(answer),
            "summary": markdown_table(table),
            "accuracy": markdown_table(accuracy),
            **accuracy_meta,
            "interval": config.interval,
            "classes_compared": len(classes),
            "fig_selection_comparison": figure(fig),
            "per_class": markdown_table(
                comparison.filter(pl.col("set") != rules.CAPTION).sort("difference"), 30
            ),
        }
    )
    return comparison


def _stats(
    x: np.ndarray, labels: np.ndarray, config: IntraClassConfig, cap: int | None = None
) -> pl.DataFrame:
    if not len(labels):
        return pl.DataFrame(schema=stats.CLASS_STATS_SCHEMA)
    table = stats.per_class_intra_similarity(x, labels, cap, config.seed, config.interval)
    return table.filter(pl.col("n") >= 2)


def _accuracy(context, storage, image_models, imagenet_synsets, matched: pl.DataFrame):
    """Each model's equal-weight top-1 on every set whose matched images are all present, and why
    each other set was not evaluated."""
    sets, skipped = {}, {}
    for name in rules.SETS:
        rows = matched.filter(pl.col("set") == name)
        present = rows.filter(pl.col("status") == "ok")
        if present.height < rows.height:
            skipped[name] = (
                f"{rows.height - present.height} of its {rows.height} matched images are not downloaded"
                + ("" if name == rules.CAPTION else " (download them with --image-selected-downloads)")
            )
            continue
        sets[name] = (
            "laionet",
            present.select(
                image_id=pl.col("sample_id"),
                path=downloaded_path(storage),
                wnid=pl.col("wnid"),
                image_sha256=pl.col("image_sha256"),
            ),
        )
    if not sets:
        return pl.DataFrame(schema=ACCURACY_SCHEMA), {"accuracy_skipped": dg.MetadataValue.json(skipped)}
    previous = reusable_rows(
        storage,
        "laionet_sweep_predictions",
        "model_predictions",
        list(PREDICTIONS_SCHEMA),
        ["model", "model_version", *IMAGE_KEY],
    )
    predictions, meta = predict(context, image_models, imagenet_synsets, sets, dict.fromkeys(sets, previous))
    frames = [p.with_columns(dataset=pl.lit(name)) for name, p in predictions.items()]
    table = _equal_weight_top1(pl.concat(frames))
    return table, {
        "accuracy_skipped": dg.MetadataValue.json(skipped),
        "models": meta["models"],
        "models_skipped": meta["models_skipped"],
    }
