"""Every figure the project draws, declared once: its file under ``<home>/reports/``, its caption,
the paper's figure it reproduces and the asset that draws it.  Assets write to
``LaionetStorage.figure_path(key)``; the report shows the figures in this order; the docs list them
from here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    key: str
    file: str
    title: str
    paper: str | None  # the paper's figure it reproduces, or None for a figure of the project's own
    asset: str  # the asset that draws it

    @property
    def caption(self) -> str:
        return f"{self.paper}: {self.title}" if self.paper else self.title


FIGURES: dict[str, Figure] = {
    f.key: f
    for f in (
        Figure(
            "coverage_vs_threshold",
            "fig3_coverage_vs_threshold.png",
            "class coverage and dataset size vs text-similarity threshold",
            "Fig. 3",
            "coverage_vs_threshold",
        ),
        Figure(
            "class_frequencies",
            "fig4_class_frequencies.png",
            "LAIONet class frequencies",
            "Fig. 4",
            "class_frequencies",
        ),
        Figure(
            "accuracy",
            "fig1_accuracy_imagenet_vs_laionet.png",
            "accuracy on ImageNet val vs LAIONet",
            "Fig. 1",
            "accuracy",
        ),
        Figure(
            "weighted_vs_equal",
            "fig5_weighted_vs_equal.png",
            "LAION-weighted vs equally weighted accuracy on LAIONet",
            "Fig. 5",
            "accuracy",
        ),
        Figure(
            "intra_class",
            "fig6_intra_class.png",
            "intra-class similarity, LAIONet vs ImageNet",
            "Fig. 6",
            "intra_class_stats",
        ),
        Figure(
            "recall_vs_disparity",
            "fig7_recall_vs_disparity.png",
            "LAIONet recall vs intra-class similarity disparity",
            "Fig. 7",
            "report",
        ),
        Figure(
            "per_class_differences",
            "fig_per_class_differences.png",
            "Per class: recall@1 lost on LAIONet (most and least) and its rank correlation with the "
            "intra-class similarity difference",
            None,
            "per_class_differences",
        ),
        Figure(
            "selection_frequency",
            "fig8_selection_frequency.png",
            "significantly lower intra-class similarity vs MTurk selection frequency",
            "Fig. 8",
            "v2_comparison",
        ),
        Figure(
            "text_vs_synsets",
            "fig9_text_vs_synsets.png",
            "ImageNet-Captions texts vs their synsets",
            "Fig. 9",
            "caption_synset_similarity",
        ),
        Figure(
            "text_matched_intra_class",
            "fig10_text_matched_intra_class.png",
            "intra-class similarity, LAION recreated by caption search alone (nearest to "
            "ImageNet-Captions) vs ImageNet",
            "Fig. 10",
            "text_matched_intra_class",
        ),
        Figure(
            "image_to_synset",
            "fig17_image_to_synset.png",
            "image-to-synset similarity, LAIONet vs ImageNet",
            "Fig. 17 (Appendix D)",
            "image_synset_similarity",
        ),
        Figure(
            "text_matched_sweep",
            "fig18_threshold_sweep.png",
            "the text-matched dataset vs its similarity threshold",
            "Fig. 18 (Appendix E)",
            "text_matched_intra_class",
        ),
        Figure(
            "laionet_threshold_sweep",
            "fig_laionet_threshold_sweep.png",
            "LAIONet vs its text-similarity threshold: coverage, size, intra-class similarity, accuracy",
            None,
            "laionet_threshold_sweep",
        ),
        Figure(
            "release_comparison",
            "fig_release_comparison.png",
            "LAIONet of one release against another: overlap, frequencies, intra-class similarity, accuracy",
            None,
            "release_comparison",
        ),
        Figure(
            "selection_comparison",
            "fig_selection_comparison.png",
            "selection by image vs by caption: intra-class similarity of LAIONet, each image-selected set "
            "and ImageNet at one size per class (in the style of Fig. 6)",
            None,
            "selection_comparison",
        ),
        Figure(
            "image_selection_sweep",
            "fig_image_selection_sweep.png",
            "selection by image vs its threshold: rows, classes and intra-class similarity kept",
            None,
            "image_selection_sweep",
        ),
        Figure(
            "rating_study_results",
            "fig_rating_study_results.png",
            "the rating study: how often people call LAIONet's pair more varied, per class, beside "
            "CLIP's verdict",
            None,
            "rating_study_results",
        ),
    )
}


# The pages under <home>/reports/ (the report links the gallery, the gallery links back).
REPORT_PAGE = "report.html"
GALLERY_PAGE = "gallery.html"
