"""PNG figures a person can open (matplotlib, Agg backend). Writes are atomic."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import polars as pl

from laionet_assets.core.io.atomic import write_atomic
from laionet_assets.core.io.storage import read_bytes


def _save(fig, path: Path) -> Path:
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png"))
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def thumbnail_png(path: Path, width: int) -> str:
    """The figure at ``path`` at most ``width`` pixels wide, as a base64 palette PNG."""
    from PIL import Image

    with Image.open(io.BytesIO(read_bytes(path))) as image:
        small = image.convert("RGB")
    small.thumbnail((width, width * 4), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.quantize(128).save(buffer, "PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def coverage_figure(
    similarities: np.ndarray, curve: pl.DataFrame, threshold: float, encoder: str, path: Path
) -> Path:
    """Paper Fig. 3: (a) similarity density, (b) classes covered and (c) rows kept vs threshold."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    if len(similarities):
        # counted by numpy block by block, drawn from the counts: no float64 copy of every
        # candidate's similarity (LAION-2B-en has ~125M)
        counts, edges = np.histogram(similarities, bins=50)
        axes[0].hist(edges[:-1], edges, weights=counts, density=True, color="tab:blue", alpha=0.8)
    else:
        axes[0].text(0.5, 0.5, "no single-label candidates", ha="center", transform=axes[0].transAxes)
    axes[0].set(xlabel="caption ↔ synset text similarity", ylabel="density", title="(a) similarities")
    axes[1].plot(curve["threshold"], curve["classes_covered"], color="tab:green")
    axes[1].set(xlabel="threshold", ylabel="ImageNet classes covered", title="(b) class coverage")
    axes[2].plot(curve["threshold"], curve["rows_kept"], color="tab:orange")
    axes[2].set(xlabel="threshold", ylabel="rows kept", yscale="symlog", title="(c) dataset size")
    for ax in axes:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
    fig.suptitle(f"LAIONet selection by text similarity ({encoder}); dashed: threshold {threshold}")
    return _save(fig, path)


def class_frequency_figure(frequencies: pl.DataFrame, path: Path) -> Path:
    """Paper Fig. 4: relative class frequencies of LAIONet, classes sorted by frequency."""
    plt = _pyplot()
    present = frequencies.filter(pl.col("count") > 0)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.bar(np.arange(present.height), present["relative_frequency"].to_numpy(), width=1.0, color="tab:blue")
    ax.set(
        yscale="log",
        xlabel=f"class rank ({present.height} classes present)",
        ylabel="relative frequency",
        title="LAIONet class frequencies",
    )
    top = "\n".join(f"{name}: {count}" for name, count in present.select("name", "count").head(5).iter_rows())
    if top:
        ax.text(
            0.98,
            0.95,
            "most frequent\n" + top,
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.9},
        )
    return _save(fig, path)


def _diagonal(ax, values, bounds: tuple[float, float] | None = None):
    """The y = x line over the values (padded), and both axes to match; with ``bounds`` (an
    accuracy's [0, 1]) the axes never pass them."""
    values = [v for v in values if np.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = max(0.02, (high - low) * 0.1)
    low, high = low - pad, high + pad
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)


# Where successive point labels go (points of offset), so labels of nearby points do not overprint.
LABEL_OFFSETS = ((4, 4), (4, -11), (-4, 10), (-4, -13))


def _label_points(ax, names, xs, ys) -> None:
    order = np.lexsort((np.asarray(ys), np.asarray(xs)))
    for rank, i in enumerate(order):
        dx, dy = LABEL_OFFSETS[rank % len(LABEL_OFFSETS)]
        ax.annotate(
            names[i],
            (xs[i], ys[i]),
            fontsize=7,
            xytext=(dx, dy),
            textcoords="offset points",
            ha="left" if dx > 0 else "right",
        )


def accuracy_figure(table: pl.DataFrame, path: Path) -> Path:
    """Paper Fig. 1: equally weighted accuracy on ImageNet val (x) vs LAIONet (y), one point per model."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    wide = table.filter(pl.col("dataset") == "laionet").join(
        table.filter(pl.col("dataset") == "imagenet_val"), on="model", suffix="_val"
    )
    for ax, k in zip(axes, ("1", "5")):
        col = f"top{k}_equal"
        if wide.height:
            x, y = wide[f"{col}_val"].to_numpy(), wide[col].to_numpy()
            ax.errorbar(
                x,
                y,
                xerr=[x - wide[f"{col}_low_val"].to_numpy(), wide[f"{col}_high_val"].to_numpy() - x],
                yerr=[y - wide[f"{col}_low"].to_numpy(), wide[f"{col}_high"].to_numpy() - y],
                fmt="o",
                capsize=3,
            )
            _label_points(ax, wide["model"].to_list(), x, y)
            _diagonal(ax, list(x) + list(y), bounds=(0.0, 1.0))
        else:
            ax.text(0.5, 0.5, "no model evaluated on both datasets", ha="center", transform=ax.transAxes)
        ax.set(xlabel=f"ImageNet val top-{k} accuracy", ylabel=f"LAIONet top-{k} accuracy", title=f"top {k}")
    fig.suptitle(
        "Accuracy of ImageNet models: ImageNet vs LAIONet (mean per-class recall over LAIONet's classes)"
    )
    return _save(fig, path)


def weighted_accuracy_figure(table: pl.DataFrame, path: Path, dataset: str = "laionet") -> Path:
    """Paper Fig. 5: LAION-weighted vs equally weighted accuracy on one dataset."""
    plt = _pyplot()
    rows = table.filter(pl.col("dataset") == dataset)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, k in zip(axes, ("1", "5")):
        x, y = rows[f"top{k}_equal"].to_numpy(), rows[f"top{k}_laion"].to_numpy()
        ax.scatter(x, y)
        _label_points(ax, rows["model"].to_list(), x, y)
        _diagonal(ax, list(x) + list(y), bounds=(0.0, 1.0))
        ax.set(
            xlabel=f"equally weighted top-{k}",
            ylabel=f"LAION-weighted top-{k}",
            title=f"top {k} on {dataset}",
        )
    return _save(fig, path)


def intra_class_figure(
    pooled_a: np.ndarray,
    pooled_b: np.ndarray,
    comparison: pl.DataFrame,
    names: tuple[str, str],
    path: Path,
    quantity: str = "intra-class similarity",
    unit: str = "pairs",
    title: str = "",
) -> Path:
    """Paper Figs. 6, 10 and 17: (a) the pooled values of two datasets, (b) per-class difference of
    class means a − b with 95% bounds, sorted."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    _pooled_histograms(axes[0], (pooled_a, pooled_b), names, quantity, unit)
    axes[0].set_title("(a) pooled over classes")
    c = comparison.sort("difference")
    x = np.arange(c.height)
    # each class's interval whole (a class without one draws none, never a broken line)
    axes[1].vlines(
        x, c["ci_low"].to_numpy(), c["ci_high"].to_numpy(), color="tab:blue", alpha=0.45, label="95% interval"
    )
    axes[1].plot(x, c["difference"].to_numpy(), ".", color="black", label=f"{names[0]} − {names[1]}")
    axes[1].axhline(0, color="grey", linestyle="--", linewidth=1)
    lower = int((c["verdict"] == "significantly lower").sum()) if c.height else 0
    axes[1].set(
        xlabel=f"class (sorted; {lower}/{c.height} significantly lower)",
        ylabel="difference of class means",
        title="(b) per class",
    )
    axes[1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _pooled_histograms(
    ax,
    pooled: tuple[np.ndarray, np.ndarray],
    names: tuple[str, str],
    quantity: str = "intra-class similarity",
    unit: str = "pairs",
) -> None:
    both = np.concatenate(pooled)
    bins = np.linspace(both.min(), both.max() + 1e-9, 61) if both.size else np.linspace(-1, 1, 61)
    for values, name in zip(pooled, names):
        if values.size:
            ax.hist(values, bins=bins, density=True, alpha=0.55, label=f"{name} ({values.size:,} {unit})")
    ax.set(xlabel=quantity, ylabel="density")
    if both.size:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, f"no common classes with {unit}", ha="center", transform=ax.transAxes)


def recall_vs_disparity_figure(points: pl.DataFrame, path: Path) -> Path:
    """Paper Fig. 7: per-class LAIONet recall vs intra-class similarity disparity, one panel per model."""
    plt = _pyplot()
    models = points["model"].unique(maintain_order=True).to_list()[:4] if points.height else []
    fig, axes = plt.subplots(1, max(1, len(models)), figsize=(4.2 * max(1, len(models)), 3.8), squeeze=False)
    for ax, model in zip(axes[0], models):
        p = points.filter(pl.col("model") == model)
        ax.scatter(p["difference"].to_numpy(), p["recall1"].to_numpy(), s=10, alpha=0.7)
        ax.set(xlabel="intra-class similarity: LAIONet − ImageNet", ylabel="LAIONet recall@1", title=model)
    if not models:
        axes[0][0].text(
            0.5,
            0.5,
            "no classes with both recall and similarity",
            ha="center",
            transform=axes[0][0].transAxes,
        )
    return _save(fig, path)


def selection_frequency_figure(
    table: pl.DataFrame, path: Path, pooled_b_c: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
) -> Path:
    """Paper Fig. 8: (a) pooled pair similarities of ImageNetV2 b and c (b's resampled to c's number
    per class); (b, c) share of classes significantly lower vs MTurk selection frequency."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    _pooled_histograms(axes[0], pooled_b_c, ("ImageNetV2 b (0.73)", "ImageNetV2 c (0.93)"))
    axes[0].set_title("(a) pooled over classes")
    for ax, other, colour in ((axes[1], "laionet", "tab:blue"), (axes[2], "imagenet_val", "tab:red")):
        rows = table.filter(pl.col("other") == other).sort("selection_frequency")
        x = rows["selection_frequency"].to_numpy()
        ax.plot(x, rows["other_lower"].to_numpy(), "o-", color=colour, label=f"{other} lower")
        ax.plot(x, rows["v2_lower"].to_numpy(), "o-", color="tab:green", label="ImageNetV2 lower")
        for version, xi in zip(rows["version"], x):
            ax.annotate(version, (xi, 0), fontsize=8, xytext=(0, 3), textcoords="offset points")
        ax.set(
            xlabel="average MTurk selection frequency",
            ylabel="share of classes significantly lower",
            title=f"{other} vs ImageNetV2",
            ylim=(0, 1),
        )
        ax.legend(fontsize=8)
    return _save(fig, path)


def text_synset_figure(intended_similarity: np.ndarray, bins: pl.DataFrame, encoder: str, path: Path) -> Path:
    """Paper Fig. 9: (a) text-to-synset similarity; (b) per bin, mean share of unintended synsets
    more similar than the intended one, with its 95% interval."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    if intended_similarity.size:
        axes[0].hist(intended_similarity, bins=40, color="tab:blue", alpha=0.8)
    axes[0].set(
        xlabel="similarity of text and its synset text", ylabel="texts", title="(a) text-to-synset similarity"
    )
    filled = bins.filter(pl.col("n") > 0)
    centres = ((filled["low_edge"] + filled["high_edge"]) / 2).to_numpy()
    axes[1].plot(centres, filled["mean"].to_numpy(), "o-", color="black", label="mean")
    axes[1].fill_between(
        centres,
        filled["ci_low"].fill_null(filled["mean"]).to_numpy(),
        filled["ci_high"].fill_null(filled["mean"]).to_numpy(),
        color="grey",
        alpha=0.3,
        label="95% interval",
    )
    axes[1].set(
        xlabel="similarity of text and its synset text",
        ylabel="share of other synsets more similar",
        title="(b) unintended synsets more similar",
    )
    axes[1].legend(fontsize=8)
    fig.suptitle(f"ImageNet-Captions texts vs the 1000 synset texts ({encoder})")
    return _save(fig, path)


def threshold_sweep_figure(summary: pl.DataFrame, threshold: float, reference: str, path: Path) -> Path:
    """Paper Fig. 18: (a) classes covered by the text-matched dataset vs the similarity threshold;
    (b) share of compared classes with significantly lower intra-class similarity in the
    text-matched dataset (blue) and in the reference (red)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    x = summary["threshold"].to_numpy()
    axes[0].plot(x, summary["classes_covered"].to_numpy(), "o-", color="black")
    axes[0].set(xlabel="text similarity threshold", ylabel="classes covered", title="(a) class coverage")
    compared = summary.filter(pl.col("classes_compared") > 0)
    axes[1].plot(
        compared["threshold"].to_numpy(),
        compared["text_matched_lower"].to_numpy(),
        "o-",
        color="tab:blue",
        label="text-matched LAION lower",
    )
    axes[1].plot(
        compared["threshold"].to_numpy(),
        compared["reference_lower"].to_numpy(),
        "o-",
        color="tab:red",
        label=f"{reference} lower",
    )
    axes[1].set(
        xlabel="text similarity threshold",
        ylabel="share of classes significantly lower",
        ylim=(0, 1),
        title="(b) intra-class similarity",
    )
    for ax in axes:
        ax.axvline(threshold, color="grey", linestyle="--", linewidth=1)
    axes[1].legend(fontsize=8)
    return _save(fig, path)


def per_class_difference_figure(
    differences: pl.DataFrame, correlations: pl.DataFrame, path: Path, top: int = 12
) -> Path:
    """Per model (up to four, one row each): the classes that lose most and least recall@1 on
    LAIONet with their 95% intervals, and recall difference vs intra-class similarity difference
    with Spearman's ρ."""
    plt = _pyplot()
    models = differences["model"].unique(maintain_order=True).to_list()[:4] if differences.height else []
    fig, axes = plt.subplots(max(1, len(models)), 2, figsize=(13, 4.6 * max(1, len(models))), squeeze=False)
    rho = {r["model"]: r for r in correlations.iter_rows(named=True)}
    for (bars, scatter), model in zip(axes, models):
        rows = differences.filter(pl.col("model") == model).sort("rank")
        shown = pl.concat([rows.head(top), rows.tail(top)]).unique("wnid", maintain_order=True)
        y = np.arange(shown.height)
        d = shown["difference"].to_numpy()
        err = np.vstack([d - shown["ci_low"].to_numpy(), shown["ci_high"].to_numpy() - d])
        bars.barh(y, d, xerr=err, color=np.where(d < 0, "tab:red", "tab:blue"), alpha=0.8)
        bars.set_yticks(y, shown["wnid"].to_list(), fontsize=7)
        bars.invert_yaxis()
        bars.axvline(0, color="black", lw=0.8)
        bars.set(xlabel="recall@1: LAIONet − ImageNet", title=f"{model}: most and least loss")
        both = rows.drop_nulls("intra_class_difference")
        scatter.scatter(both["intra_class_difference"].to_numpy(), both["difference"].to_numpy(), s=10)
        r = rho.get(model, {})
        scatter.set(
            xlabel="intra-class similarity: LAIONet − ImageNet",
            ylabel="recall@1: LAIONet − ImageNet",
            title=f"Spearman ρ = {r.get('rho', float('nan')):.2f} "
            f"[{r.get('low', float('nan')):.2f}, {r.get('high', float('nan')):.2f}], n = {r.get('n', 0)}",
        )
    if not models:
        axes[0][0].text(
            0.5, 0.5, "no class evaluated on both datasets", ha="center", transform=axes[0][0].transAxes
        )
    return _save(fig, path)


def laionet_sweep_figure(table: pl.DataFrame, threshold: float | None, path: Path) -> Path:
    """LAIONet's threshold trade-off: (a) classes covered and rows vs the text-similarity threshold
    (rows on a log axis), intra-class similarity (LAIONet's and ImageNet's over the same classes)
    on a second axis; (b) each model's equal-weight top-1 accuracy and the share of classes
    significantly less similar than ImageNet's."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    x = table["threshold"].to_numpy()
    ax = axes[0]
    ax.plot(x, table["classes_covered"].to_numpy(), "o-", color="black", label="classes covered")
    ax.set(
        xlabel="text similarity threshold", ylabel="classes covered", title="(a) coverage, size, similarity"
    )
    rows = ax.twinx()
    rows.plot(x, np.maximum(table["rows"].to_numpy(), 1), "s--", color="tab:grey", label="rows")
    rows.set_yscale("log")
    rows.set_ylabel("rows (log)")
    sim = ax.twinx()
    sim.spines["right"].set_position(("axes", 1.16))
    sim.plot(x, table["intra_class_mean"].to_numpy(), "o-", color="tab:blue", label="LAIONet intra-class")
    sim.plot(
        x, table["reference_intra_class_mean"].to_numpy(), "o:", color="tab:red", label="ImageNet intra-class"
    )
    sim.set_ylabel("mean intra-class similarity")
    handles = [h for a in (ax, rows, sim) for h in a.get_legend_handles_labels()[0]]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=7, loc="lower left")
    ax2 = axes[1]
    ax2.plot(
        x,
        table["share_lower_than_reference"].to_numpy(),
        "o-",
        color="tab:blue",
        label="classes lower than ImageNet",
    )
    for column in [c for c in table.columns if c.startswith("top1_equal_")]:
        ax2.plot(x, table[column].to_numpy(), "^-", label=f"top-1 {column.removeprefix('top1_equal_')}")
    ax2.set(
        xlabel="text similarity threshold", ylabel="share", ylim=(0, 1), title="(b) lower classes, accuracy"
    )
    ax2.legend(fontsize=7)
    if threshold is not None:
        for a in axes:
            a.axvline(threshold, color="grey", linestyle="--", linewidth=1)
    fig.tight_layout()
    return _save(fig, path)


def release_comparison_figure(summary: pl.DataFrame, by_class: pl.DataFrame, path: Path) -> Path:
    """Releases compared, one pair per row of bars: (a) the share of the release's URLs the
    baseline also holds and the class-frequency correlation with its interval; (b) per class the
    intra-class similarity difference, release − baseline; (c) each model's equal-weight top-1
    on both."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    pairs = summary.select("release", "baseline").unique(maintain_order=True).rows()
    labels = [f"{r}\nvs {b}" for r, b in pairs]

    def measure(name: str, column: str = "value") -> list[float]:
        values = []
        for release, baseline in pairs:
            hit = summary.filter(
                (pl.col("release") == release)
                & (pl.col("baseline") == baseline)
                & (pl.col("measure") == name)
            )
            values.append(hit[column][0] if hit.height and hit[column][0] is not None else np.nan)
        return values

    x = np.arange(len(pairs))
    ax = axes[0]
    ax.bar(x - 0.2, measure("urls_shared_share_of_release"), 0.4, color="tab:blue", label="URLs shared")
    rho, low, high = (
        np.array(measure("class_frequency_spearman", c), float) for c in ("value", "low", "high")
    )
    ax.errorbar(x + 0.2, rho, yerr=[rho - low, high - rho], fmt="o", color="black", label="frequency ρ (95%)")
    ax.set(xticks=x, xticklabels=labels, ylim=(-1.05, 1.05), title="(a) overlap and class frequencies")
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.legend(fontsize=7)
    ax = axes[1]
    differences = by_class["intra_class_difference"].drop_nulls().to_numpy()
    if differences.size:
        ax.hist(differences, bins=30, color="tab:green", alpha=0.8)
        ax.axvline(0, color="black", linestyle="--", linewidth=1)
    else:
        ax.text(0.5, 0.5, "not compared\n(see the asset's not_computed)", ha="center", transform=ax.transAxes)
    ax.set(xlabel="intra-class similarity, release − baseline", ylabel="classes", title="(b) per class")
    ax = axes[2]
    top = summary.filter(pl.col("measure").is_in(["top1_equal", "top1_equal_baseline"]))
    if top.height:
        names = sorted(set(top["model"].drop_nulls()))
        for i, (release, baseline) in enumerate(pairs):
            for j, (which, side) in enumerate((("top1_equal", release), ("top1_equal_baseline", baseline))):
                values = [
                    top.filter(
                        (pl.col("release") == release) & (pl.col("model") == m) & (pl.col("measure") == which)
                    )["value"].first()
                    for m in names
                ]
                offset = (2 * i + j) * 0.8 / (2 * len(pairs))
                ax.bar(np.arange(len(names)) + offset, values, 0.8 / (2 * len(pairs)), label=f"{side}")
        ax.set(
            xticks=np.arange(len(names)) + 0.4, xticklabels=names, ylabel="top-1 (equal weight)", ylim=(0, 1)
        )
        ax.tick_params(axis="x", labelrotation=20, labelsize=7)
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no accuracy on both releases", ha="center", transform=ax.transAxes)
    ax.set(title="(c) accuracy on each release's LAIONet")
    fig.suptitle("LAIONet of one release against another", y=1.04)
    fig.tight_layout()
    return _save(fig, path)


def _floats(series: pl.Series) -> np.ndarray:
    """A column as float64, nulls as NaN (matplotlib skips them)."""
    return series.cast(pl.Float64).fill_null(np.nan).to_numpy()


SET_COLOURS = {
    "caption": "tab:blue",
    "image_to_class": "tab:orange",
    "image_to_prototype": "tab:green",
    "caption_then_image": "tab:purple",
    "imagenet_val_half": "tab:red",
}


def selection_comparison_figure(comparison: pl.DataFrame, path: Path) -> Path:
    """Selection by image vs by caption, in the style of Fig. 6: (a) per set the distribution of
    the classes' intra-class similarity with the pooled mean and its interval; (b) per image rule
    and class, the difference from LAIONet with its 95% interval, classes sorted, coloured by
    verdict."""
    from laionet_assets.core.analysis.image_selection import POOLED, SET_LABELS

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    classes = comparison.filter(pl.col("wnid") != POOLED)
    pooled = comparison.filter(pl.col("wnid") == POOLED)
    names = [s for s in SET_COLOURS if s in set(comparison["set"])]
    labels = [SET_LABELS.get(s, "ImageNet val (comparison half)") for s in names]
    ax = axes[0]
    data = [classes.filter(pl.col("set") == s)["mean"].drop_nulls().to_numpy() for s in names]
    if any(d.size for d in data):
        parts = ax.violinplot(
            [d if d.size else np.array([np.nan]) for d in data], vert=False, showextrema=False
        )
        for body, s in zip(parts["bodies"], names, strict=True):
            body.set_facecolor(SET_COLOURS[s])
            body.set_alpha(0.35)
        for i, s in enumerate(names, start=1):
            row = pooled.filter(pl.col("set") == s)
            if row.height:
                m, lo, hi = row["mean"][0], row["ci_low"][0], row["ci_high"][0]
                ax.errorbar(m, i, xerr=[[m - lo], [hi - m]], fmt="o", color=SET_COLOURS[s], capsize=4)
    ax.set(yticks=range(1, len(names) + 1), yticklabels=labels, xlabel="intra-class similarity (class means)")
    ax.set_title("(a) per set: classes and pooled mean (95%)")
    ax = axes[1]
    verdict_colour = {"significantly higher": "tab:red", "significantly lower": "tab:blue", "neither": "grey"}
    offset = 0
    for s in [n for n in names if n not in ("caption", "imagenet_val_half")]:
        rows = classes.filter((pl.col("set") == s) & pl.col("difference").is_not_null()).sort("difference")
        x = np.arange(rows.height) + offset
        d, lo, hi = (rows[c].to_numpy() for c in ("difference", "difference_low", "difference_high"))
        colours = [verdict_colour.get(v, "grey") for v in rows["verdict"]]
        ax.vlines(x, lo, hi, colors=colours, linewidth=1, alpha=0.6)
        ax.scatter(x, d, c=colours, s=8)
        if rows.height:
            ax.text(
                offset + rows.height / 2,
                ax.get_ylim()[1],
                SET_LABELS[s],
                ha="center",
                va="bottom",
                fontsize=7,
            )
        offset += rows.height + 3
    ax.axhline(0, color="black", linewidth=0.8, linestyle="--")
    ax.set(xticks=[], xlabel="classes, sorted, per image rule", ylabel="set − LAIONet")
    ax.set_title("(b) per class: red = significantly more alike than LAIONet", fontsize=10, pad=16)
    fig.suptitle("Selecting LAION by image instead of by caption", y=1.02)
    fig.tight_layout()
    return _save(fig, path)


def image_selection_sweep_figure(sweep: pl.DataFrame, path: Path) -> Path:
    """Each image rule over its thresholds: (a) rows kept; (b) the mean intra-class similarity
    with its interval, against LAIONet's (caption rule) as a line."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    caption = sweep.filter(pl.col("rule") == "caption")
    for rule in ("image_to_class", "image_to_prototype"):
        rows = sweep.filter(pl.col("rule") == rule).sort("threshold")
        if rows.is_empty():
            continue
        t = rows["threshold"].to_numpy()
        axes[0].plot(t, rows["rows"].to_numpy(), "o-", color=SET_COLOURS[rule], label=rule)
        m = _floats(rows["intra_class_mean"])
        lo, hi = _floats(rows["ci_low"]), _floats(rows["ci_high"])
        axes[1].plot(t, m, "o-", color=SET_COLOURS[rule], label=rule)
        axes[1].fill_between(t, lo, hi, color=SET_COLOURS[rule], alpha=0.2)
    if caption.height:
        axes[0].axhline(caption["rows"][0], color=SET_COLOURS["caption"], linestyle="--", label="LAIONet")
        if caption["intra_class_mean"][0] is not None:
            axes[1].axhline(
                caption["intra_class_mean"][0], color=SET_COLOURS["caption"], linestyle="--", label="LAIONet"
            )
    axes[0].set(xlabel="threshold (the rule's own score)", ylabel="rows kept", title="(a) size")
    axes[1].set(
        xlabel="threshold (the rule's own score)",
        ylabel="mean intra-class similarity",
        title="(b) alike inside",
    )
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def rating_results_figure(results: pl.DataFrame, path: Path, simulated: bool) -> Path:
    """Per class (and pooled, last), the share of answers that call LAIONet's pair more varied
    with its Wilson interval, coloured by CLIP's verdict for the class."""
    plt = _pyplot()
    rows = results.sort(pl.col("wnid") == "all", "share_laionet_more_varied")
    fig, ax = plt.subplots(figsize=(max(6, 0.25 * rows.height + 2), 4))
    colour = {"LAIONet more varied": "tab:green", "ImageNet more varied": "tab:red", "neither": "grey"}
    x = np.arange(rows.height)
    share = _floats(rows["share_laionet_more_varied"])
    lo, hi = _floats(rows["share_low"]), _floats(rows["share_high"])
    colours = [colour.get(v, "grey") for v in rows["clip_verdict"]]
    ax.vlines(x, lo, hi, colors=colours)
    ax.scatter(x, share, c=colours, s=14)
    ax.axhline(0.5, color="black", linestyle="--", linewidth=0.8)
    ax.set(xticks=x, ylim=(0, 1), ylabel="share calling LAIONet's pair more varied")
    ax.set_xticklabels(rows["wnid"].to_list(), rotation=90, fontsize=6)
    title = "People against CLIP: colour = CLIP's verdict (green: LAIONet more varied)"
    ax.set_title(("SIMULATED RATERS, not people. " if simulated else "") + title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)
