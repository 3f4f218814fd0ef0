"""What each column of the project's tables means, declared once.

A column name means the same thing in every table that has it (``sample_id`` in LAIONet, in the
download statuses, in the caption index), so one glossary describes them all: the IO manager puts
each description into the table's ``dagster/column_schema`` (the UI's Columns tab), and the docs'
column reference is written from the same entries.  Columns named after a model or a bound
(``top1_equal_<model>``, ``…_low``/``…_high``) are described by ``PATTERNS``.
"""

from __future__ import annotations

import re

COLUMNS: dict[str, str] = {
    # a LAION sample and its caption (paper §2)
    "sample_id": "the sample's id in its release (where it has none: the partition key, a colon, the row)",
    "url": "the image's URL as the release gives it",
    "text": "the caption (alt text) the sample was found by",
    "release_part": "the partition key of the release part the row comes from",
    "part_row": "the row in the part's file (and in its shipped embeddings)",
    "nsfw_tag": "the release's NSFW tag (UNLIKELY, UNSURE, NSFW), where it has one",
    "unsafe_score": "the release's unsafe score in [0, 1] (punsafe, or the larger of COYO's two)",
    "nsfw_missing": "the row has no safety signal (kept only under the allow_missing policy)",
    "language": "the release's language tag of the caption",
    "width": "the image's width in pixels, as the release (or the server) gives it",
    "height": "the image's height in pixels, as the release (or the server) gives it",
    # the classes and their texts
    "wnid": "the ImageNet class (WordNet id)",
    "wnids": "every class whose lemma the caption contains (LAIONet keeps single-label rows)",
    "lemmas": "the class lemmas found in the caption (lemma_matches) or the class's lemmas",
    "name": "the class's name (its first lemma)",
    "class_name": "the class's name",
    "class_index": "the class's index in the ImageNet-1k label space (0–999)",
    "definition": "the class's WordNet definition (gloss)",
    "synset_text": "the synset text the caption is compared with: 'name: definition' (paper §2)",
    # text similarity and selection
    "text_similarity": "cosine similarity of the caption and its class's synset text",
    "encoder": "the model that made the vectors (its id and weights)",
    "source": "where the vectors came from: encoded here, or shipped with the release",
    "threshold": "the similarity threshold the row belongs to",
    "selected": "the row passes the threshold chosen for the run",
    "count": "LAIONet rows of the class",
    "relative_frequency": "the class's share of LAIONet's rows",
    "classes_covered": "classes with at least one row at this threshold",
    "rows_kept": "rows at or above this threshold",
    # downloads and the OCR filter
    "status": "the download's outcome: ok, http_error, timeout, blocked_address, opted_out, …",
    "http_status": "the HTTP status of the last response",
    "image_sha256": "the sha256 of the stored image bytes (the store's file name)",
    "image_path": "the stored image, relative to <home>/images",
    "mode": "the image's PIL mode as served (RGB, L, P, CMYK, RGBA, …)",
    "bytes": "the body's size in bytes",
    "attempts": "requests made for the sample (retries included)",
    "error": "why the row failed (cut to 300 characters)",
    "fetched_at": "when the sample was fetched (UTC)",
    "image_text": "the text RapidOCR read in the image",
    "synset_name_in_image_text": "the class's name appears in the image's text (dropped from laionet_final)",
    "kept": "the row would be in LAIONet's final set (downloaded, not dropped by OCR)",
    "downloaded_above": "threshold at or above which the row was downloaded",
    # image folders, predictions and accuracy (paper §3)
    "dataset": "the dataset: laionet, imagenet_val, imagenetv2_a/b/c, text_matched",
    "image_id": "the image's id within its dataset folder",
    "path": "the image file's path",
    "model": "the classifier (kind:name)",
    "model_version": "the classifier's weights and library versions",
    "top5": "the model's five most likely classes, best first",
    "top1_equal": "top-1 accuracy with every class weighted equally (the paper's headline)",
    "top5_equal": "top-5 accuracy with every class weighted equally",
    "top1_laion": "top-1 accuracy weighted by LAIONet's class frequencies",
    "top5_laion": "top-5 accuracy weighted by LAIONet's class frequencies",
    "classes": "classes the number is over",
    "images": "images the number is over",
    "hits1": "images of the class whose top-1 prediction is right",
    "hits5": "images of the class whose top-5 predictions hold the right class",
    "recall1": "the class's top-1 recall",
    "recall5": "the class's top-5 recall",
    "n": "images (or pairs) the row is over",
    # intra-class similarity (paper §3, Figs. 6–8)
    "interval": "how the confidence interval was made",
    "mean": "mean pairwise cosine similarity of the class's images",
    "sd": "standard deviation",
    "se": "standard error of the difference",
    "pairs": "image pairs the mean is over",
    "ci_low": "the 95% confidence interval's lower bound",
    "ci_high": "the 95% confidence interval's upper bound",
    "difference": "LAIONet's value minus the reference's",
    "verdict": "significantly lower, significantly higher or not significant (95%)",
    "laionet_mean": "LAIONet's mean similarity for the class",
    "imagenet_mean": "ImageNet's mean similarity for the class",
    "laionet_n": "LAIONet images of the class",
    "imagenet_n": "ImageNet images of the class",
    "reference_mean": "the reference dataset's mean similarity for the class",
    "reference_n": "the reference dataset's images of the class",
    "version": "the ImageNetV2 version (a, b, c)",
    "selection_frequency": "the version's MTurk selection frequency (paper Fig. 8)",
    "other": "the dataset compared with",
    "other_lower": "classes whose similarity is significantly lower in the other dataset",
    "v2_lower": "classes whose similarity is significantly lower in the ImageNetV2 version",
    # per-class differences (Fig. 7)
    "rank": "the class's rank by the difference",
    "laionet_recall1": "the class's top-1 recall on LAIONet",
    "imagenet_recall1": "the class's top-1 recall on ImageNet val",
    "intra_class_difference": "LAIONet's intra-class similarity minus ImageNet's for the class",
    # captions (§4: ImageNet-Captions, Fig. 9)
    "filename": "the ImageNet image the caption belongs to",
    "imagenet_filename": "the ImageNet image whose caption found the LAION row",
    "intended_similarity": "similarity of the caption and its own class's synset text",
    "proportion_more_similar": "share of other classes whose synset text is more similar to the caption",
    "unintended_more_similar": "other classes whose synset text is more similar to the caption",
    "low_edge": "the bin's lower edge",
    "high_edge": "the bin's upper edge",
    "captions": "captions indexed",
    "similarity": "cosine similarity of the pair",
    "embedding": "the vector",
    "vector_key": "the key of the row's vector in its LanceDB table",
    # the threshold sweep (Fig. 18, §4.3)
    "quantile": "the similarity quantile the threshold sits at",
    "chosen_as": "why the threshold is in the sweep",
    "rows": "rows at the threshold",
    "classes_compared": "classes with enough images on both sides",
    "classes_with_pairs": "classes with at least one image pair",
    "intra_class_mean": "mean intra-class similarity at the threshold",
    "intra_class_pooled": "pooled intra-class similarity at the threshold",
    "reference_intra_class_mean": "the reference's mean intra-class similarity",
    "share_lower_than_reference": "share of classes significantly less similar than the reference",
    "reference_lower": "classes whose similarity is significantly lower in the reference",
    "text_matched_lower": "classes whose similarity is significantly lower in the text-matched set",
    # the gallery and the rating study
    "position": "the image's place in the class's strip",
    "row": "the strip's row",
    "thumbnail": "the thumbnail's file, relative to reports/",
    "trial": "the trial's number (shuffled, seeded)",
    "laionet_side": "the side LAIONet's pair is shown on",
    # the report's headline table
    "measure": "what is measured",
    "value": "its value",
    "produced by": "the asset or model the number comes from",
}

PAIR_COLUMN = r"(?P<side>left|right)_(?P<of>dataset|similarity|image_a|image_b|thumbnail_a|thumbnail_b)"
PATTERNS: list[tuple[str, str]] = [
    (r"top1_equal_(?P<of>.+)", "top-1 accuracy, classes weighted equally, of {of}"),
    (PAIR_COLUMN, "the {side} pair's {of}"),
]


def describe(column: str) -> str | None:
    """The column's description, or ``None`` for a column the glossary does not know.  A bound
    (``…_low``, ``…_high``) is described through the column it bounds."""
    if column in COLUMNS:
        return COLUMNS[column]
    bound = re.fullmatch(r"(?P<of>.+)_(?P<end>low|high)", column)
    if bound and describe(bound["of"]):
        end = "lower" if bound["end"] == "low" else "upper"
        return f"the 95% interval's {end} bound of {describe(bound['of'])}"
    for pattern, template in PATTERNS:
        match = re.fullmatch(pattern, column)
        if match:
            return template.format(**{k: v.replace("_", " ") for k, v in match.groupdict().items()})
    return None
