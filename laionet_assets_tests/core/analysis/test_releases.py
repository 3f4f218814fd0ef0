"""Two releases' LAIONets compared: overlaps against sets, the frequency correlation against
scipy's Spearman and its interval by hand, the accuracy difference against its formula."""

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from laionet_assets.core.analysis.releases import (
    accuracy_difference,
    frequency_correlation,
    overlap,
    overlap_by_class,
    sizes,
)

ROWS = st.lists(
    st.tuples(st.sampled_from(["n1", "n2", "n3"]), st.one_of(st.none(), st.sampled_from(list("uvwxyz")))),
    max_size=15,
)


def laionet(rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"wnid": pl.String, "url": pl.String}, orient="row")


@settings(max_examples=100, deadline=None)
@given(ROWS, ROWS)
def test_overlaps_equal_set_arithmetic(a_rows, b_rows):
    a, b = laionet(a_rows), laionet(b_rows)
    left = {u for _, u in a_rows if u is not None}
    right = {u for _, u in b_rows if u is not None}
    got = overlap(a, b, "url")
    assert (got["a"], got["b"], got["shared"]) == (len(left), len(right), len(left & right))
    if left:
        assert got["share_of_a"] == len(left & right) / len(left)
    else:
        assert math.isnan(got["share_of_a"])
    by_class = {r["wnid"]: r for r in overlap_by_class(a, b, "url").iter_rows(named=True)}
    for wnid in {w for w, _ in a_rows + b_rows}:
        mine = {u for w, u in a_rows if w == wnid and u is not None}
        theirs = {u for w, u in b_rows if w == wnid and u is not None}
        expected = (len(mine), len(theirs), len(mine & theirs))
        row = by_class.get(wnid, {"a": 0, "b": 0, "shared": 0})
        assert (row["a"], row["b"], row["shared"]) == expected, wnid
    assert sizes(a) == {"rows": len(a_rows), "classes": len({w for w, _ in a_rows})}


def test_the_frequency_correlation_is_spearmans_over_the_vocabulary():
    wnids = [f"n{i}" for i in range(8)]
    a = laionet([(w, None) for w, k in zip(wnids, [5, 4, 4, 3, 0, 2, 1, 7]) for _ in range(k)])
    b = laionet([(w, None) for w, k in zip(wnids, [6, 3, 5, 3, 1, 0, 1, 9]) for _ in range(k)])
    got = frequency_correlation(a, b, wnids)
    counts_a, counts_b = [5, 4, 4, 3, 0, 2, 1, 7], [6, 3, 5, 3, 1, 0, 1, 9]
    assert got["rho"] == pytest.approx(spearmanr(counts_a, counts_b).statistic)
    half = 1.959963984540054 * 1.03 / math.sqrt(len(wnids) - 3)
    assert got["low"] == pytest.approx(math.tanh(math.atanh(got["rho"]) - half))
    assert got["high"] == pytest.approx(math.tanh(math.atanh(got["rho"]) + half))
    assert got["n"] == 8


def test_the_accuracy_difference_and_its_interval():
    def table(rows):
        return pl.DataFrame(
            rows, schema=["model", "top1_equal", "top1_equal_low", "top1_equal_high"], orient="row"
        )

    a = table([("m", 0.60, 0.56, 0.64), ("only_a", 0.5, 0.4, 0.6)])
    b = table([("m", 0.70, 0.68, 0.72)])
    imagenet = table([("m", 0.80, 0.79, 0.81)])
    (row,) = accuracy_difference(a, b, imagenet).iter_rows(named=True)
    z = 1.959963984540054
    se = math.hypot(0.04 / z, 0.02 / z)
    assert row["model"] == "m" and row["drop_a"] == pytest.approx(0.2) and row["drop_b"] == pytest.approx(0.1)
    assert row["difference"] == pytest.approx(-0.1) and row["se"] == pytest.approx(se)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-0.1 - z * se, -0.1 + z * se))
    assert row["verdict"] == "significantly lower"
    assert np.isfinite(row["se"])


def side(urls, **kw):
    from laionet_assets.core.analysis.releases import ReleaseSide

    frame = pl.DataFrame(
        {"wnid": [w for w, _ in urls], "url": [u for _, u in urls], "text": [f"a {u}" for _, u in urls]}
    )
    return ReleaseSide(laionet=frame, **kw)


def stats_of(means):
    return pl.DataFrame(
        {
            "wnid": list(means),
            "mean": [m for m, _ in means.values()],
            "se": [s for _, s in means.values()],
        }
    )


def test_a_pair_without_images_gives_the_text_side_and_says_why_the_rest_is_missing():
    from laionet_assets.core.analysis.releases import compare

    a = side([("n1", "u1"), ("n1", "u2"), ("n2", "u3")])
    b = side([("n1", "u1"), ("n2", "u4")])
    summary, by_class, missing = compare(("new", "old"), a, b, ["n1", "n2", "n3"])
    values = dict(zip(summary["measure"], summary["value"]))
    assert values["rows"] == 3 and values["rows_baseline"] == 2 and values["urls_shared"] == 1
    assert values["urls_shared_share_of_release"] == pytest.approx(1 / 3)
    assert values["captions_shared"] == 1  # "a u1"
    assert "class_frequency_spearman" in values
    assert set(missing) == {"images", "intra_class", "accuracy"}
    assert missing["intra_class"] == "no intra_class_stats on new and old"
    assert by_class.filter(pl.col("wnid") == "n1").select("urls", "urls_baseline", "urls_shared").row(0) == (
        2,
        1,
        1,
    )
    n1 = by_class.filter(pl.col("wnid") == "n1")
    assert n1.select("captions", "captions_baseline", "captions_shared").row(0) == (2, 1, 1)
    assert by_class["verdict"].null_count() == by_class["images"].null_count() == by_class.height


def test_downloaded_images_are_compared_by_digest_overall_and_per_class():
    from laionet_assets.core.analysis.releases import compare

    images = lambda rows: pl.DataFrame(rows, schema=["wnid", "image_sha256"], orient="row")  # noqa: E731
    a = side([("n1", "u1"), ("n2", "u2")], images=images([("n1", "h1"), ("n2", "h2"), ("n2", "h3")]))
    b = side([("n1", "u9")], images=images([("n1", "h1"), ("n1", "h3")]))
    summary, by_class, missing = compare(("new", "old"), a, b, ["n1", "n2"])
    values = dict(zip(summary["measure"], summary["value"]))
    assert values["images_shared"] == 2 and values["images_shared_share_of_release"] == pytest.approx(2 / 3)
    rows = {
        r["wnid"]: (r["images"], r["images_baseline"], r["images_shared"])
        for r in by_class.iter_rows(named=True)
    }
    assert rows == {"n1": (1, 2, 1), "n2": (2, 0, 0)}  # h3 is n2's here and n1's there: not shared per class
    assert "images" not in missing


def test_two_encoders_are_never_compared_and_the_fix_is_named():
    from laionet_assets.core.analysis.releases import compare

    stats_a = stats_of({"n1": (0.5, 0.01), "n2": (0.4, 0.01)})
    stats_b = stats_of({"n1": (0.6, 0.01), "n2": (0.4, 0.02)})
    a = side([("n1", "u1")], intra_class=stats_a, encoder="ViT-B-32")
    b = side([("n1", "u1")], intra_class=stats_b, encoder="ViT-L-14")
    _, _, missing = compare(("laion5b", "laion400m"), a, b, ["n1", "n2"])
    assert "laion5b was embedded by ViT-B-32 and laion400m by ViT-L-14" in missing["intra_class"]
    assert "re-materialise image_embeddings and intra_class_stats of laion400m" in missing["intra_class"]
    same = side([("n1", "u1")], intra_class=stats_b, encoder="ViT-B-32")
    summary, by_class, missing = compare(("laion5b", "laion400m"), a, same, ["n1", "n2"])
    assert "intra_class" not in missing
    n1 = by_class.filter(pl.col("wnid") == "n1").row(0, named=True)
    assert n1["intra_class_difference"] == pytest.approx(-0.1) and n1["verdict"] == "significantly lower"
    values = dict(zip(summary["measure"], summary["value"]))
    assert values["intra_class_share_significantly_lower"] == 0.5


def test_pairs_against_a_baseline_or_every_pair():
    from laionet_assets.core.analysis.releases import pairs

    assert pairs(["c", "a", "b"], None) == [("b", "a"), ("c", "a"), ("c", "b")]
    assert pairs(["c", "a", "b"], "b") == [("a", "b"), ("c", "b")]
    with pytest.raises(ValueError, match="baseline release 'x' is not in the home"):
        pairs(["a"], "x")
