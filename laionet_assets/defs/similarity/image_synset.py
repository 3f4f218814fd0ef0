"""Image-to-synset similarity: how hard the synset is to see in an image (paper Appendix D, Fig. 17)."""

import dagster as dg
import polars as pl
from pydantic import Field

from laionet_assets.core.analysis import image_synset, stats
from laionet_assets.core.analysis.image_synset import synset_matrix
from laionet_assets.core.models.image_embeddings import load_vectors
from laionet_assets.core.report.figures import intra_class_figure
from laionet_assets.defs.lib import figure, markdown_table
from laionet_assets.defs.partitions import RELEASE_LEVEL, of_release_parts
from laionet_assets.defs.similarity.embeddings import embedded_images
from laionet_assets.resources import LaionetStorage

GROUP = "laionet_similarity"


class ImageSynsetConfig(dg.Config):
    seed: int = Field(default=0, description="seed of the per-class resampling of LAIONet in Fig. 17(a)")


@dg.multi_asset(
    group_name=GROUP,
    **RELEASE_LEVEL,
    ins={"image_embeddings": of_release_parts()},
    outs={
        "image_synset_similarity": dg.AssetOut(
            kinds={"numpy", "matplotlib"},
            description=(
                "Per class, LAIONet's and ImageNet's mean image-to-synset "
                "similarity and their difference (Appendix D)"
            ),
        ),
        "image_synset_similarity_images": dg.AssetOut(
            kinds={"polars"},
            description=("Per image of LAIONet and ImageNet val: its similarity to its synset text"),
        ),
    },
)
def image_synset_similarity(
    context: dg.AssetExecutionContext,
    config: ImageSynsetConfig,
    storage: LaionetStorage,
    image_embeddings: dict,
    reference_image_embeddings: pl.DataFrame,
    image_encoder_synset_embeddings: pl.DataFrame,
):
    """Paper Appendix D: per class, the mean CLIP similarity of LAIONet's and ImageNet val's images
    to their synset text (the image encoder's own text tower, from ``reference_image_embeddings``), LAIONet
    minus ImageNet with its 95% interval and verdict, and Fig. 17; per-image values in
    ``image_synset_similarity_images``."""
    cache = storage.embedding_cache("image")
    embedded = embedded_images(image_embeddings, reference_image_embeddings)
    synsets, wnids = synset_matrix(image_encoder_synset_embeddings)
    encoder = (
        image_encoder_synset_embeddings["encoder"][0] if image_encoder_synset_embeddings.height else None
    )
    values, per_class, images = {}, {}, []
    for dataset in ("laionet", "imagenet_val"):
        x, labels = load_vectors(cache, embedded, dataset)
        values[dataset] = (image_synset.image_synset_similarity(x, labels, synsets, wnids), labels)
        per_class[dataset] = image_synset.per_class_means(*values[dataset])
        images.append(
            pl.DataFrame(
                {
                    "dataset": dataset,
                    "wnid": pl.Series(labels, dtype=pl.String),
                    "similarity": pl.Series(values[dataset][0], dtype=pl.Float64),
                }
            )
        )
    comparison = stats.compare_classes(per_class["laionet"], per_class["imagenet_val"])
    out = (
        comparison.join(per_class["laionet"].select("wnid", "n", "mean"), on="wnid")
        .join(per_class["imagenet_val"].select("wnid", imagenet_n="n", imagenet_mean="mean"), on="wnid")
        .select(
            "wnid",
            laionet_n="n",
            laionet_mean="mean",
            imagenet_n="imagenet_n",
            imagenet_mean="imagenet_mean",
            difference="difference",
            se="se",
            ci_low="ci_low",
            ci_high="ci_high",
            verdict="verdict",
        )
    )
    groups = {
        d: {w: v[i] for w, i in stats.capped_class_indices(lab, None).items()}
        for d, (v, lab) in values.items()
    }
    pooled = stats.matched_resample(groups["laionet"], groups["imagenet_val"], config.seed)
    fig = intra_class_figure(
        *pooled,
        out,
        ("LAIONet", "ImageNet"),
        storage.figure_path("image_to_synset", context.partition_key),
        quantity="image-to-synset similarity",
        unit="images",
        title=f"Image-to-synset similarity ({encoder})",
    )
    yield dg.Output(
        out,
        output_name="image_synset_similarity",
        metadata={
            "encoder": encoder,
            **stats.comparison_summary(out),
            "pooled_mean_laionet": float(pooled[0].mean()) if pooled[0].size else None,
            "pooled_mean_imagenet": float(pooled[1].mean()) if pooled[1].size else None,
            "fig17_image_to_synset": figure(fig),
            "comparison": markdown_table(out.sort("difference"), 20),
        },
    )
    yield dg.Output(
        pl.concat(images), output_name="image_synset_similarity_images", metadata={"encoder": encoder}
    )
