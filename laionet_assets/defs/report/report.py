"""report: one HTML page with every figure and headline number, under ``<home>/reports/``."""

import time

import dagster as dg
import polars as pl

from laionet_assets.core.analysis.per_class import correlations, ranked
from laionet_assets.core.io.atomic import write_text_atomic
from laionet_assets.core.report.catalogue import FIGURES, GALLERY_PAGE, REPORT_PAGE
from laionet_assets.core.report.figures import recall_vs_disparity_figure
from laionet_assets.core.report.page import Figure, Section, report_page
from laionet_assets.defs.evaluation.assets import all_predictions
from laionet_assets.defs.images.assets import LAIONET_IMAGES_SCHEMA
from laionet_assets.defs.lib import all_parts, figure, input_caveats, latest_metadata, page, previous_output
from laionet_assets.defs.partitions import RELEASE_LEVEL, of_release_parts
from laionet_assets.defs.report.gallery import RATING_CSV
from laionet_assets.defs.similarity.embeddings import embedded_images
from laionet_assets.resources import LaionetStorage

GROUP = "laionet_report"


# The appendix-level analyses are in the report when they have been materialised; the report
# does not wait for them (a deployment without ImageNet-Captions still gets its report).
OPTIONAL = (
    "image_synset_similarity",
    "captions_nearest_laion",
    "text_matched_intra_class",
    "per_class_differences",
    "laionet_threshold_sweep",
    "release_comparison",
    "selection_comparison",
    "rating_study_results",
)


def _release_or_home(storage: LaionetStorage, asset: str, release: str):
    """An asset's table for a release: its release partition, or the one table of an asset
    computed for the whole home."""
    own = storage.asset_path(asset, release)
    return own if own.exists() else storage.asset_path(asset)


def safety_policy_text(value: dict) -> str:
    """The policy laionet_clean was built with (its latest materialisation's metadata); ``none``
    is spelled out with the parts it let through unfiltered."""
    policy = value.get("nsfw_policy", "unknown")
    text = f"{policy} (max unsafe score {value.get('max_unsafe_score', '?')})"
    bare = value.get("parts_without_safety_signal") or []
    if policy == "none":
        text = "none: rows kept without any safety filter" + (
            f" ({len(bare)} part(s) carry no signal)" if bare else ""
        )
    return text


# Files of other assets beside the report, linked from it when they exist.
LINKS = (
    (
        "laionet_gallery",
        GALLERY_PAGE,
        "The gallery: per class, thumbnails of LAIONet and ImageNet val with their intra-class similarities",
    ),
    (
        "rating_study_pairs",
        RATING_CSV,
        "The rating study's trials (CSV): which pair of images of a class looks more varied, LAIONet's or "
        "ImageNet's, with CLIP's similarity of each pair",
    ),
)


@dg.asset(
    group_name=GROUP,
    **RELEASE_LEVEL,
    ins={
        "image_embeddings": of_release_parts(),
        "model_predictions": of_release_parts(),
        "laionet_images": of_release_parts(),
        "laionet_final": of_release_parts(),
    },
    kinds={"html"},
    deps=[*OPTIONAL, *(asset for asset, _, _ in LINKS)],
    metadata=page(REPORT_PAGE),
)
def report(
    context: dg.AssetExecutionContext,
    storage: LaionetStorage,
    laionet_final: dict,
    laionet_images: dict,
    model_predictions: dict,
    imagenet_val_predictions: pl.DataFrame,
    accuracy: pl.DataFrame,
    per_class_recall: pl.DataFrame,
    image_embeddings: dict,
    reference_image_embeddings: pl.DataFrame,
    intra_class_laionet_vs_imagenet: pl.DataFrame,
    v2_comparison: pl.DataFrame,
    caption_synset_similarity: pl.DataFrame,
) -> pl.DataFrame:
    """Every figure and headline number of one release's LAIONet on one page (the paper's Figs.
    1, 3–10, 17, 18), ``<home>/reports/<release>/report.html``, with the
    models that produced each number.  Also draws paper Fig. 7 (it needs recalls and similarities)."""
    release = context.partition_key
    reports = storage.release_reports(release)
    laionet_final = all_parts(laionet_final, {"wnid": pl.String})
    laionet_images = all_parts(laionet_images, LAIONET_IMAGES_SCHEMA)
    model_predictions = all_predictions(model_predictions, imagenet_val_predictions)
    image_embeddings = embedded_images(image_embeddings, reference_image_embeddings)
    comparison = intra_class_laionet_vs_imagenet
    recalls = per_class_recall.filter(pl.col("dataset") == "laionet")
    points = recalls.join(comparison.select("wnid", "difference"), on="wnid", how="inner")
    fig7 = recall_vs_disparity_figure(
        points, storage.figure_path("recall_vs_disparity", context.partition_key)
    )
    lower = comparison.filter(pl.col("verdict") == "significantly lower").height
    drops = accuracy.filter(pl.col("dataset") == "laionet").join(
        accuracy.filter(pl.col("dataset") == "imagenet_val"), on="model", suffix="_val"
    )
    encoders = image_embeddings["encoder"].unique().to_list()
    clean = latest_metadata(context, "laionet_clean", release)
    image_sources = image_embeddings.group_by("dataset", maintain_order=True).agg(
        source=pl.col("source").first() if "source" in image_embeddings.columns else pl.lit("encode")
    )
    laionet_vectors = dict(image_sources.iter_rows()).get("laionet", "none")
    intra_class_by = (
        ", ".join(encoders or ["no image encoder"]) + f"; LAIONet's image vectors: {laionet_vectors}"
    )
    headline = [
        (
            "vocabulary (the classes searched for; ImageNet val means its image folder)",
            storage.vocabulary,
            "imagenet_synsets",
        ),
        ("safety policy (NSFW tags / unsafe scores)", safety_policy_text(clean), "laionet_clean"),
        (
            "caption vectors of the text similarity (rows by source)",
            ", ".join(f"{s}: {n}" for s, n in (clean.get("text_embedding_source") or {}).items())
            or "unknown",
            "text_sims",
        ),
        ("LAIONet image vectors of the intra-class similarity", laionet_vectors, "image_embeddings"),
        ("LAIONet rows with an image, after the OCR filter", str(laionet_final.height), "laionet_final"),
        ("LAIONet classes", str(laionet_final["wnid"].n_unique()), "laionet_final"),
        (
            "images downloaded ok / requested",
            f"{(laionet_images['status'] == 'ok').sum()} / {laionet_images.height}",
            "laionet_images",
        ),
        (
            "images refused: opted out (X-Robots-Tag) / blocked address (not global)",
            f"{(laionet_images['status'] == 'opted_out').sum()} / "
            f"{(laionet_images['status'] == 'blocked_address').sum()}",
            "laionet_images",
        ),
        (
            "dropped: synset name in image text",
            str(int(laionet_images["synset_name_in_image_text"].sum() or 0)),
            "RapidOCR",
        ),
        (
            "classes with significantly lower intra-class similarity, LAIONet vs ImageNet",
            f"{lower} / {comparison.height}"
            + (f" ({lower / comparison.height:.0%})" if comparison.height else ""),
            intra_class_by,
        ),
    ]
    for row in drops.iter_rows(named=True):
        headline.append(
            (
                f"top-1 accuracy drop ImageNet → LAIONet ({row['model']})",
                f"{row['top1_equal_val'] - row['top1_equal']:+.3f} "
                f"({row['top1_equal_val']:.3f} → {row['top1_equal']:.3f})",
                row["model"],
            )
        )
    if caption_synset_similarity.height:
        captions = caption_synset_similarity
        headline.append(
            (
                "ImageNet-Captions texts with ≥ 5% of other synsets more similar than their own",
                f"{(captions['proportion_more_similar'] >= 0.05).mean():.1%} of {captions.height}",
                captions["encoder"][0],
            )
        )
    (
        image_synset_similarity,
        captions_nearest_laion,
        text_matched_intra_class,
        differences,
        sweep,
        releases,
        by_image,
        rated,
    ) = (previous_output(_release_or_home(storage, a, release)) for a in OPTIONAL)
    if (
        captions_nearest_laion is not None
        and text_matched_intra_class is not None
        and captions_nearest_laion.height
    ):
        selection = captions_nearest_laion["threshold"][0]
        chosen = text_matched_intra_class.filter(pl.col("threshold") == selection)
        text_lower = int((chosen["verdict"] == "significantly lower").sum())
        headline.append(
            (
                "classes with significantly lower intra-class similarity, "
                f"LAION text-matched (> {selection}) vs ImageNet",
                f"{text_lower} / {chosen.height}"
                + (f" ({text_lower / chosen.height:.0%})" if chosen.height else ""),
                ", ".join(encoders) or "no image encoder",
            )
        )
    if image_synset_similarity is not None and image_synset_similarity.height:
        verdicts = image_synset_similarity["verdict"]
        headline.append(
            (
                "image-to-synset similarity, LAIONet vs ImageNet: classes significantly lower / higher",
                f"{(verdicts == 'significantly lower').sum()} / {(verdicts == 'significantly higher').sum()} "
                f"of {image_synset_similarity.height}",
                intra_class_by,
            )
        )
    headline_frame = pl.DataFrame(
        headline, schema={"measure": pl.String, "value": pl.String, "produced by": pl.String}, orient="row"
    )
    models = model_predictions.select("model", "model_version").unique().sort("model")
    caveats = input_caveats(context, storage, [*models["model"], *models["model_version"], *encoders])
    sections = [
        Section(
            "Headline numbers",
            "What the run found, each number with the asset or model that produced it.",
            headline_frame,
        ),
        Section(
            "Models that produced the numbers",
            "Every classifier and image encoder behind the numbers, with its weights and versions.",
            pl.concat(
                [
                    models,
                    pl.DataFrame(
                        {
                            "model": ["image encoder (intra-class similarity)"] * len(encoders),
                            "model_version": encoders,
                        }
                    ),
                ]
            ),
        ),
        Section(
            "Where each dataset's image vectors came from",
            "Encoded here from the images, or read from the vectors the release ships.",
            image_sources,
        ),
        Section(
            "Accuracy on ImageNet and on LAIONet",
            "Top-1 and top-5 accuracy with every class weighted equally (the paper's headline) and "
            "weighted by LAIONet's class frequencies, with 95% intervals: a model that loses accuracy "
            "on LAIONet finds its images harder than ImageNet's.",
            accuracy,
            "Fig. 1 and Fig. 5 (§3.1)",
        ),
        Section(
            "ImageNetV2 against LAIONet and ImageNet",
            "The share of classes whose intra-class similarity is significantly lower in each "
            "ImageNetV2 version: lower where MTurk's selection frequency is lower.",
            v2_comparison,
            "Fig. 8 (§4.2)",
        ),
    ]
    if differences is not None and differences.height:
        rho = correlations(differences)
        undefined = rho.filter(pl.col("rho").is_nan() | pl.col("rho").is_null())["model"].to_list()
        sections.append(
            Section(
                "Recall lost on LAIONet against the intra-class similarity difference",
                "Spearman's ρ, per model, of the recall@1 a class loses on LAIONet and how much less "
                "similar its LAIONet images are to each other than its ImageNet images.",
                rho,
                "Fig. 7 (§3.2)",
                note=(
                    f"ρ is undefined for {', '.join(undefined)}: one of the two columns is constant "
                    "over the classes (every class loses the same recall, or has the same difference)."
                    if undefined
                    else None
                ),
            )
        )
        worst = ranked(differences)
        tied = worst.group_by("model").agg(pl.col("difference").n_unique() == 1)["difference"].all()
        sections.append(
            Section(
                "The classes that lose most recall@1 on LAIONet",
                "Per model, the ten classes with the largest drop in recall@1 from ImageNet to LAIONet.",
                worst,
                "§3.2",
                note=(
                    "Every class listed is tied: the ten are not the ten that lose most, only ten of "
                    "those that lose the same."
                    if worst.height and tied
                    else None
                ),
            )
        )
    if sweep is not None and sweep.height:
        sections.append(
            Section(
                "LAIONet against its text-similarity threshold",
                "As the threshold rises, LAIONet keeps fewer images; its intra-class similarity and "
                "accuracy at each threshold show whether a stricter text filter makes it more like ImageNet.",
                sweep,
                "Fig. 18 (§4.3)",
            )
        )
    # the release's figures beside the page; those computed for the whole home one folder up
    if releases is not None:
        mine = releases.filter((pl.col("release") == release) | (pl.col("baseline") == release))
        missing = {
            pair: why
            for pair, why in (
                latest_metadata(context, "release_comparison").get("not_computed") or {}
            ).items()
            if release in pair.split(" vs ")
        }
        if mine.height:
            sections.append(
                Section(
                    "Against the other releases of the home",
                    "LAIONet built from this release beside LAIONet built from another: their sizes, the "
                    "URLs and captions they share, whether they favour the same classes (Spearman's ρ of "
                    "the class frequencies), and, where both were embedded and evaluated, whether their "
                    "classes are as alike inside and the models as accurate (release − baseline).",
                    mine,
                    "the paper's closing question (§6)",
                    note="; ".join(
                        f"{pair}: {part} not compared ({reason})"
                        for pair, parts in missing.items()
                        for part, reason in parts.items()
                    )
                    or None,
                )
            )
    sections += _experiment_sections(context, release, by_image, rated)
    figures = [
        Figure(file, f.caption)
        for f in FIGURES.values()
        for file in [f.file if (reports / f.file).exists() else f"../{f.file}"]
        if (reports / file).exists()
    ]
    path = storage.report_path(REPORT_PAGE, context.partition_key)
    links = [(name, text) for _, name, text in LINKS if (reports / name).exists()]
    write_text_atomic(
        path,
        report_page(
            f"LAIONet of {release}: what makes ImageNet look unlike LAION",
            f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} by laionet_assets from the release "
            f"{release} ({len(storage.registry.releases().get(release, []))} parts) of the home "
            f"{storage.root}, vocabulary {storage.vocabulary}.",
            caveats,
            sections,
            figures,
            links,
        ),
    )
    context.add_output_metadata(
        {
            "report": dg.MetadataValue.path(str(path)),
            "report_url": dg.MetadataValue.url(path.as_uri()),
            "inputs": dg.MetadataValue.md(
                "\n\n".join(f"**⚠ {c}**" for c in caveats) or "models with trained weights, real images"
            ),
            "figures": dg.MetadataValue.json([f.file for f in figures]),
            "headline": dg.MetadataValue.md(headline_frame.to_pandas().to_markdown(index=False)),
            "fig7_recall_vs_disparity": figure(fig7),
        }
    )
    return headline_frame


def _experiment_sections(context, release: str, by_image, rated) -> list[Section]:
    """The causal experiments' sections, where they ran: selection by image against selection by
    caption (with its answer in words), and the completed rating study."""
    sections = []
    if by_image is not None and by_image.height:
        meta = latest_metadata(context, "selection_comparison", release)
        pooled = by_image.filter(pl.col("wnid") == "all")
        sections.append(
            Section(
                "Selecting by image instead of by caption",
                "LAIONet's pool selected by the image (its CLIP similarity to the synset text, or to "
                "the class's ImageNet centroid, or LAIONet's rows then filtered by the image), each set "
                "compared with LAIONet at one size per class: if the paper's explanation holds, selecting "
                "by image makes classes more alike inside, closer to ImageNet (pooled over classes; "
                "difference = set − LAIONet).",
                pooled,
                "the paper's explanation (§4), tested directly",
                note=str(meta.get("answer") or "") or None,
            )
        )
    if rated is not None and rated.height:
        simulated = bool(rated["simulated"].any()) if "simulated" in rated.columns else False
        meta = latest_metadata(context, "rating_study_results", release)
        alpha = meta.get("krippendorff_alpha")
        sections.append(
            Section(
                ("SIMULATED raters, not people: " if simulated else "") + "Do people see what CLIP measures?",
                "The rating study's answers: how often the LAIONet pair was called more varied (Wilson "
                "95% interval), the verdict of the answers against CLIP's for the class, and the share "
                "of answers that agree with CLIP's answer to the trial.",
                rated.drop("simulated", strict=False).filter(pl.col("wnid") == "all"),
                "the paper's open question",
                note=(
                    "These answers come from a simulated rater (core/analysis/ratings.py), made to show the "
                    "analysis; they are no evidence about people. "
                    if simulated
                    else ""
                )
                + (
                    f"Krippendorff's alpha between raters: {alpha:.3f}."
                    if isinstance(alpha, float)
                    else f"Krippendorff's alpha: {meta.get('krippendorff_alpha_note', 'not computed')}."
                ),
            )
        )
    return sections
