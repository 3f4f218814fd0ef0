"""Evaluation: model_predictions → accuracy (paper §3.1, Figs. 1 and 5)."""

import time

import dagster as dg
import polars as pl

from laionet_assets.assets.lib import figure, markdown_table
from laionet_assets.core.accuracy import accuracy_table, per_class_recall
from laionet_assets.core.classifiers import top_k_wnids
from laionet_assets.core.decoding import MODEL_ERRORS, decode_groups, run_models
from laionet_assets.core.figures import accuracy_figure, per_class_difference_figure, weighted_accuracy_figure
from laionet_assets.core.per_class import correlations, ranked, recall_differences
from laionet_assets.core.progress import Progress, library_versions
from laionet_assets.executors import GPU_STEP_TAGS
from laionet_assets.resources import ImageModels, LaionetStorage

GROUP = "laionet_evaluation"
PREDICTIONS_SCHEMA = {
    "dataset": pl.String,
    "model": pl.String,
    "model_version": pl.String,
    "image_id": pl.String,
    "wnid": pl.String,
    "top5": pl.List(pl.String),
    "error": pl.String,
}


def downloaded_path(storage: LaionetStorage) -> pl.Expr:
    """The file of a downloaded image (``image_path`` is relative to the image store)."""
    return pl.lit(str(storage.images) + "/") + pl.col("image_path")


def evaluation_sets(
    storage: LaionetStorage, laionet_final: pl.DataFrame, imagenet_val: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """``image_id``, ``path``, ``wnid`` and ``image_sha256`` per image of LAIONet and ImageNet val
    (the hash is known for downloaded LAIONet images, null for folder images)."""
    laionet = laionet_final.select(
        image_id=pl.col("sample_id"),
        path=downloaded_path(storage),
        wnid=pl.col("wnid"),
        image_sha256=pl.col("image_sha256"),
    )
    return {"laionet": laionet, "imagenet_val": folder_set(imagenet_val)}


def folder_set(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select("image_id", "path", "wnid", image_sha256=pl.lit(None, pl.String))


@dg.asset(group_name=GROUP, pool="gpu", op_tags=GPU_STEP_TAGS, kinds={"pytorch", "timm"})
def model_predictions(
    context: dg.AssetExecutionContext,
    storage: LaionetStorage,
    image_models: ImageModels,
    laionet_final: pl.DataFrame,
    imagenet_val: pl.DataFrame,
    imagenet_synsets: pl.DataFrame,
) -> pl.DataFrame:
    """Top-5 wnids per image and model on LAIONet and ImageNet val.  Models that share device,
    batch size and preprocessing (resize, crop, interpolation, mean/std) share one decode pass
    (``decode_groups`` in metadata).  A model that cannot load or whose label space is not
    ImageNet-1k is skipped with its reason; an image that does not decode gets ``top5`` null and
    its error."""
    wnids, texts = imagenet_synsets["wnid"].to_list(), imagenet_synsets["synset_text"].to_list()
    sets = evaluation_sets(storage, laionet_final, imagenet_val)
    models, skipped, frames, groups = [], {}, [], []

    def skip(name: str, error: Exception) -> None:
        skipped[name] = f"{type(error).__name__}: {error}"[:300]
        context.log.warning(f"model {name} skipped: {skipped[name]}")

    for spec in image_models.specs():
        try:
            models.append(image_models.load(spec, wnids, texts))
        except (FileNotFoundError, *MODEL_ERRORS) as e:
            skip(spec.name, e)
    for group in decode_groups(models):
        members = [models[i] for i in group]
        names = [m.name for m in members]
        started, decoder = time.perf_counter(), None
        for dataset, images in sets.items():
            progress = Progress(images.height, f"{' + '.join(names)} on {dataset}", context.log.info)
            ran = run_models(members, images["path"].to_list(), image_models.decode_workers, progress.update)
            decoder = ran.decoder
            for k, error in ran.failures:
                skip(members[k].name, error)
            frames += [
                (
                    model.name,
                    images.select("image_id", "wnid").with_columns(
                        dataset=pl.lit(dataset),
                        model=pl.lit(model.name),
                        model_version=pl.lit(model.version),
                        top5=pl.Series(top_k_wnids(logits, model.class_wnids), dtype=pl.List(pl.String)),
                        error=pl.Series([e or None for e in ran.errors], dtype=pl.String),
                    ),
                )
                for model, logits in zip(members, ran.outputs)
                if logits is not None
            ]
        groups.append(
            {
                "models": names,
                "preprocessing": str(members[0].preprocessing or "the model's own transform"),
                "decoder": decoder,
                "precision": sorted({m.precision for m in members}),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
    frames = [frame for name, frame in frames if name not in skipped]  # skipped on any dataset: dropped
    out = (
        pl.concat(frames).select(list(PREDICTIONS_SCHEMA))
        if frames
        else pl.DataFrame(schema=PREDICTIONS_SCHEMA)
    )
    context.add_output_metadata(
        {
            "models": dg.MetadataValue.json(sorted(out["model"].unique().to_list())),
            "model_versions": dg.MetadataValue.json(
                dict(out.select("model", "model_version").unique().iter_rows())
            ),
            "models_skipped": dg.MetadataValue.json(skipped),
            "images_per_dataset": dg.MetadataValue.json({k: v.height for k, v in sets.items()}),
            "failed_images": int(out["error"].is_not_null().sum()),
            "decode_groups": dg.MetadataValue.json(groups),
            "device": image_models.device,
            "versions": dg.MetadataValue.json(
                library_versions("torch", "torchvision", "timm", "open_clip_torch")
            ),
        }
    )
    return out


@dg.multi_asset(
    group_name=GROUP,
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
    model_predictions: pl.DataFrame,
    laionet_final: pl.DataFrame,
):
    """Paper §3.1: per model and dataset, top-1/top-5 accuracy over LAIONet's classes, equally
    weighted and LAION-weighted, with propagated Wilson 95% intervals; the per-class recalls
    (``per_class_recall``); Figs. 1 and 5 as PNG."""
    recalls = per_class_recall(model_predictions)
    frequency = laionet_final.group_by("wnid").agg(count=pl.len())
    table = accuracy_table(recalls, frequency)
    fig1 = accuracy_figure(table, storage.report_path("fig1_accuracy_imagenet_vs_laionet.png"))
    fig5 = weighted_accuracy_figure(table, storage.report_path("fig5_weighted_vs_equal.png"))
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


@dg.asset(group_name=GROUP, kinds={"polars", "matplotlib"})
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
    fig = per_class_difference_figure(differences, rho, storage.report_path("fig_per_class_differences.png"))
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
