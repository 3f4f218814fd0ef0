"""Evaluation: model_predictions → accuracy (paper §3.1, Figs. 1 and 5)."""

import time

import dagster as dg
import polars as pl

from laionet_assets.core.analysis.accuracy import accuracy_table, per_class_recall
from laionet_assets.core.analysis.per_class import correlations, ranked, recall_differences
from laionet_assets.core.io.progress import Progress, library_versions
from laionet_assets.core.models.classifiers import top_k_wnids
from laionet_assets.core.models.runner import MODEL_ERRORS, decode_groups, run_models
from laionet_assets.core.models.specs import LabelSpaceError
from laionet_assets.core.report.figures import (
    accuracy_figure,
    per_class_difference_figure,
    weighted_accuracy_figure,
)
from laionet_assets.core.text.vocabularies import label_space
from laionet_assets.defs.lib import (
    all_parts,
    figure,
    gpu_asset,
    markdown_table,
    parts_output,
    previous_output,
    run_parts,
)
from laionet_assets.defs.partitions import IMAGE_PART, RELEASE_LEVEL, of_release_parts
from laionet_assets.resources import ImageModels, LaionetStorage

GROUP = "laionet_evaluation"
PREDICTIONS_SCHEMA = {
    "dataset": pl.String,
    "model": pl.String,
    "model_version": pl.String,
    "image_id": pl.String,
    # the image file's hash (downloaded images): a later run reuses the row while model and image
    # are unchanged; null for folder images
    "image_sha256": pl.String,
    "wnid": pl.String,
    "top5": pl.List(pl.String),
    "error": pl.String,
}
IMAGE_KEY = ["image_id", "image_sha256"]


def downloaded_path(storage: LaionetStorage) -> pl.Expr:
    """The file of a downloaded image (``image_path`` is relative to the image store)."""
    return pl.lit(str(storage.images) + "/") + pl.col("image_path")


def downloaded_set(storage: LaionetStorage, rows: pl.DataFrame) -> pl.DataFrame:
    """``image_id``, ``path``, ``wnid`` and ``image_sha256`` of downloaded images (rows with
    ``sample_id``, ``wnid``, ``image_path``, ``image_sha256``: LAIONet's, the text-matched rows')."""
    return rows.select(
        image_id=pl.col("sample_id"),
        path=downloaded_path(storage),
        wnid=pl.col("wnid"),
        image_sha256=pl.col("image_sha256"),
    )


def folder_set(frame: pl.DataFrame) -> pl.DataFrame:
    """The same columns for a labelled folder's images (hash unknown: null)."""
    return frame.select("image_id", "path", "wnid", image_sha256=pl.lit(None, pl.String))


def _load_models(context, image_models: ImageModels, imagenet_synsets: pl.DataFrame, skipped: dict) -> list:
    wnids, texts = imagenet_synsets["wnid"].to_list(), imagenet_synsets["synset_text"].to_list()
    models = []
    own_space = label_space(imagenet_synsets) is None
    for spec in image_models.specs():
        if own_space and spec.source != "clip":  # zero-shot CLIP scores any vocabulary's texts
            reason = LabelSpaceError(
                f"predicts ImageNet-1k's 1000 classes; this vocabulary's {len(wnids)} classes are another "
                "label space (a clip: zero-shot model can be evaluated on it)"
            )
            _skip(context, skipped, spec.name, reason)
            continue
        try:
            models.append(image_models.load(spec, wnids, texts))
        except (FileNotFoundError, *MODEL_ERRORS) as e:
            _skip(context, skipped, spec.name, e)
    return models


def _skip(context, skipped: dict, name: str, error: Exception) -> None:
    skipped[name] = f"{type(error).__name__}: {error}"[:300]
    context.log.warning(f"model {name} skipped: {skipped[name]}")


def _current(previous: pl.DataFrame | None, dataset: str, model, images: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``previous`` a run keeps for ``model`` on ``images``: same model version, same
    image file (hash), predicted without error."""
    if previous is None or "image_sha256" not in previous.columns:
        return pl.DataFrame(schema=PREDICTIONS_SCHEMA)
    return (
        previous.select(list(PREDICTIONS_SCHEMA))
        .filter(
            (pl.col("dataset") == dataset)
            & (pl.col("model") == model.name)
            & (pl.col("model_version") == model.version)
            & pl.col("error").is_null()
        )
        .join(images.select(IMAGE_KEY), on=IMAGE_KEY, how="semi")
    )


def predict(
    context,
    image_models: ImageModels,
    imagenet_synsets: pl.DataFrame,
    sets: dict[str, tuple[str, pl.DataFrame]],
    previous: dict[str, pl.DataFrame | None] | None = None,
) -> tuple[dict[str, pl.DataFrame], dict]:
    """Top-5 wnids per image and model of each set (``label → (dataset, images)``; a label is a
    LAION part or a dataset), and the metadata.  Models load once; models that share device, batch
    size and preprocessing share one decode pass; a prediction of the label's ``previous`` table
    whose model version and image file are unchanged is kept, not computed again."""
    skipped: dict[str, str] = {}
    previous = previous or {}
    models = _load_models(context, image_models, imagenet_synsets, skipped)
    frames: dict[str, list] = {label: [] for label in sets}
    groups, reused, predicted = [], 0, 0
    for group in decode_groups(models):
        members = [models[i] for i in group]
        names = [m.name for m in members]
        started, decoder = time.perf_counter(), None
        for label, (dataset, images) in sets.items():
            kept = [_current(previous.get(label), dataset, m, images) for m in members]
            running = [k for k in range(len(members)) if kept[k].height < images.height]
            # images some running model has no current prediction of (null hashes never match)
            needed = [
                images.with_row_index("_i").join(kept[k], on=IMAGE_KEY, how="anti")["_i"] for k in running
            ]
            todo = (
                images.with_row_index("_i")
                .filter(pl.col("_i").is_in(pl.concat(needed) if needed else pl.Series([], dtype=pl.UInt32)))
                .drop("_i")
            )
            outputs, errors = {}, []
            if todo.height:
                progress = Progress(todo.height, f"{' + '.join(names)} on {label}", context.log.info)
                ran = run_models(
                    [members[k] for k in running],
                    todo["path"].to_list(),
                    image_models.decode_workers,
                    progress.update,
                )
                decoder, errors = ran.decoder, ran.errors
                for j, error in ran.failures:
                    _skip(context, skipped, members[running[j]].name, error)
                outputs = {k: logits for k, logits in zip(running, ran.outputs) if logits is not None}
                predicted += todo.height * len(outputs)
            for k, model in enumerate(members):
                if todo.height and k in running and k not in outputs:
                    continue  # the model failed: skipped
                new = todo.clear().select(IMAGE_KEY)
                if k in outputs:
                    new = todo.select(*IMAGE_KEY, "wnid").with_columns(
                        dataset=pl.lit(dataset),
                        model=pl.lit(model.name),
                        model_version=pl.lit(model.version),
                        top5=pl.Series(top_k_wnids(outputs[k], model.class_wnids), dtype=pl.List(pl.String)),
                        error=pl.Series([e or None for e in errors], dtype=pl.String),
                    )
                old = kept[k].join(new.select(IMAGE_KEY), on=IMAGE_KEY, how="anti")
                reused += old.height
                frames[label].append((model.name, pl.concat([old, new], how="diagonal_relaxed")))
        groups.append(
            {
                "models": names,
                "preprocessing": str(members[0].preprocessing or "the model's own transform"),
                "decoder": decoder,
                "precision": sorted({m.precision for m in members}),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
    out = {
        label: (
            pl.concat([f.select(list(PREDICTIONS_SCHEMA)) for name, f in parts if name not in skipped])
            if any(name not in skipped for name, _ in parts)
            else pl.DataFrame(schema=PREDICTIONS_SCHEMA)
        )  # a model skipped on any set is dropped from all
        for label, parts in frames.items()
    }
    every = pl.concat(list(out.values())) if out else pl.DataFrame(schema=PREDICTIONS_SCHEMA)
    metadata = {
        "models": dg.MetadataValue.json(sorted(every["model"].unique().to_list())),
        "model_versions": dg.MetadataValue.json(
            dict(every.select("model", "model_version").unique().iter_rows())
        ),
        "models_skipped": dg.MetadataValue.json(skipped),
        "images_per_set": dg.MetadataValue.json({k: v.height for k, (_, v) in sets.items()}),
        "predicted": predicted,
        "reused_from_previous_run": reused,
        "failed_images": int(every["error"].is_not_null().sum()),
        "decode_groups": dg.MetadataValue.json(groups),
        "device": image_models.device,
        "versions": dg.MetadataValue.json(
            library_versions("torch", "torchvision", "timm", "open_clip_torch")
        ),
    }
    return out, metadata


PREDICTION_ERRORS = "model_predictions_errors"


def prediction_errors_check(outputs: dict[str, pl.DataFrame], skipped: dict) -> dg.AssetCheckResult:
    """Every image predicted by every model: warns on rows with an error (an image that does not
    decode) or a model skipped; fails when rows exist and not one was predicted."""
    table = pl.concat(list(outputs.values())) if outputs else pl.DataFrame(schema=PREDICTIONS_SCHEMA)
    errors = int(table["error"].is_not_null().sum())
    by_error = dict(
        table.filter(pl.col("error").is_not_null())
        .group_by(pl.col("error").str.split(":").list.first().alias("kind"))
        .len()
        .iter_rows()
    )
    failed_all = table.height > 0 and errors == table.height
    return dg.AssetCheckResult(
        check_name=PREDICTION_ERRORS,
        passed=errors == 0 and not skipped,
        severity=dg.AssetCheckSeverity.ERROR if failed_all else dg.AssetCheckSeverity.WARN,
        metadata={
            "rows": table.height,
            "error_rows": errors,
            "errors_by_kind": dg.MetadataValue.json(by_error),
            "models_skipped": dg.MetadataValue.json(skipped),
        },
    )


@gpu_asset(
    group_name=GROUP,
    kinds={"pytorch", "timm"},
    check_specs=[
        dg.AssetCheckSpec(
            PREDICTION_ERRORS,
            asset="model_predictions",
            description="Rows whose image could not be predicted and models skipped; fails when no "
            "row was predicted",
        )
    ],
    **IMAGE_PART,
)
def model_predictions(
    context: dg.AssetExecutionContext,
    storage: LaionetStorage,
    image_models: ImageModels,
    laionet_final,
    imagenet_synsets: pl.DataFrame,
):
    """Top-5 wnids per LAIONet image and model, per LAION part.  Models that share device, batch
    size and preprocessing (resize, crop, interpolation, mean/std) share one decode pass
    (``decode_groups`` in metadata).  A model that cannot load or whose label space is not
    ImageNet-1k is skipped with its reason; an image that does not decode gets ``top5`` null and
    its error.  A re-run predicts only images (by file hash) and model versions it has not
    predicted before."""
    finals = run_parts(context, laionet_final)
    outputs, metadata = predict(
        context,
        image_models,
        imagenet_synsets,
        {part: ("laionet", downloaded_set(storage, final)) for part, final in finals.items()},
        {part: previous_output(storage.asset_path("model_predictions", part)) for part in finals},
    )
    yield dg.Output(parts_output(context, outputs), metadata={**metadata, "parts_in_run": len(finals)})
    yield prediction_errors_check(outputs, metadata["models_skipped"].value)


def all_predictions(model_predictions, imagenet_val_predictions: pl.DataFrame) -> pl.DataFrame:
    """LAIONet's predictions of every part and ImageNet val's, as one table; a model predicted
    under different versions (parts run before and after it changed) is an error naming them."""
    table = pl.concat(
        [all_parts(model_predictions, PREDICTIONS_SCHEMA), imagenet_val_predictions], how="diagonal_relaxed"
    )
    versions = (
        table.group_by("model")
        .agg(pl.col("model_version").unique().sort())
        .filter(pl.col("model_version").list.len() > 1)
    )
    if versions.height:
        raise dg.Failure(
            "predictions of one model under different versions: "
            + "; ".join(f"{m}: {v}" for m, v in versions.iter_rows())
            + ". Re-materialise model_predictions (every part) and imagenet_val_predictions with one model."
        )
    return table.select(list(PREDICTIONS_SCHEMA))


@gpu_asset(group_name=GROUP, kinds={"pytorch", "timm"})
def imagenet_val_predictions(
    context: dg.AssetExecutionContext,
    image_models: ImageModels,
    imagenet_val: pl.DataFrame,
    imagenet_synsets: pl.DataFrame,
) -> pl.DataFrame:
    """Top-5 wnids per ImageNet val image and model: the reference ``model_predictions`` are
    compared with (same models, same decode groups)."""
    outputs, metadata = predict(
        context, image_models, imagenet_synsets, {"imagenet_val": ("imagenet_val", folder_set(imagenet_val))}
    )
    context.add_output_metadata(metadata)
    return outputs["imagenet_val"]


@dg.multi_asset(
    group_name=GROUP,
    **RELEASE_LEVEL,
    ins={"laionet_final": of_release_parts(), "model_predictions": of_release_parts()},
    outs={
        "accuracy": dg.AssetOut(
            kinds={"polars", "matplotlib"},
            description=(
                "Per model and dataset: top-1/top-5 accuracy with Wilson 95% intervals (Figs. 1 and 5)"
            ),
        ),
        "per_class_recall": dg.AssetOut(
            kinds={"polars"},
            description=("Per model, dataset and class: top-1/top-5 recall (paper Fig. 7's recalls)"),
        ),
    },
)
def accuracy(
    context: dg.AssetExecutionContext,
    storage: LaionetStorage,
    model_predictions: dict,
    imagenet_val_predictions: pl.DataFrame,
    laionet_final: dict,
):
    """Paper §3.1: per model and dataset, top-1/top-5 accuracy over LAIONet's classes (every
    part) and ImageNet val, equally weighted and LAION-weighted, with propagated Wilson 95%
    intervals; the per-class recalls (``per_class_recall``); Figs. 1 and 5 as PNG."""
    predictions = all_predictions(model_predictions, imagenet_val_predictions)
    recalls = per_class_recall(predictions)
    frequency = all_parts(laionet_final, {"wnid": pl.String}).group_by("wnid").agg(count=pl.len())
    table = accuracy_table(recalls, frequency)
    fig1 = accuracy_figure(table, storage.figure_path("accuracy", context.partition_key))
    fig5 = weighted_accuracy_figure(table, storage.figure_path("weighted_vs_equal", context.partition_key))
    drops = table.filter(pl.col("dataset") == "laionet").join(
        table.filter(pl.col("dataset") == "imagenet_val"), on="model", suffix="_val"
    )
    yield dg.Output(
        table,
        output_name="accuracy",
        metadata={
            "table": markdown_table(
                table.select(
                    "dataset",
                    "model",
                    "classes",
                    "images",
                    "top1_equal",
                    "top1_equal_low",
                    "top1_equal_high",
                    "top5_equal",
                    "top1_laion",
                    "top5_laion",
                )
            ),
            "top1_drop_imagenet_to_laionet": dg.MetadataValue.json(
                dict(zip(drops["model"], (drops["top1_equal_val"] - drops["top1_equal"]).round(4)))
            ),
            "fig1_accuracy": figure(fig1),
            "fig5_weighted_vs_equal": figure(fig5),
        },
    )
    yield dg.Output(recalls, output_name="per_class_recall", metadata={"models": recalls["model"].n_unique()})


@dg.asset(group_name=GROUP, **RELEASE_LEVEL, kinds={"polars", "matplotlib"})
def per_class_differences(
    context: dg.AssetExecutionContext,
    storage: LaionetStorage,
    per_class_recall: pl.DataFrame,
    intra_class_laionet_vs_imagenet: pl.DataFrame,
) -> pl.DataFrame:
    """Per model and class: recall@1 on LAIONet minus recall@1 on ImageNet with its 95% interval
    and verdict, ranked from the class that loses most, with the class's intra-class similarity
    difference; per model, Spearman's ρ between the two differences with its interval (the data
    of paper Fig. 7, as a rank correlation).  Table and figure of the classes that lose most and
    least."""
    differences = recall_differences(per_class_recall, intra_class_laionet_vs_imagenet)
    rho = correlations(differences)
    fig = per_class_difference_figure(
        differences, rho, storage.figure_path("per_class_differences", context.partition_key)
    )
    context.add_output_metadata(
        {
            "models": differences["model"].n_unique(),
            "classes": differences["wnid"].n_unique(),
            "significantly_lower": dg.MetadataValue.json(
                dict(
                    differences.group_by("model", maintain_order=True)
                    .agg((pl.col("verdict") == "significantly lower").sum())
                    .iter_rows()
                )
            ),
            "rank_correlation": markdown_table(rho),
            "most_loss": markdown_table(ranked(differences), 40),
            "least_loss": markdown_table(ranked(differences, least=True), 40),
            "fig_per_class_differences": figure(fig),
        }
    )
    return differences
