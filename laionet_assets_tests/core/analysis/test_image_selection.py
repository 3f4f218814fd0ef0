"""Selection by image against selection by caption, on crafted vectors whose answer is known."""

import itertools

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laionet_assets.core.analysis import image_selection as rules
from laionet_assets.core.analysis import stats


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_split_halves_gives_each_class_half_its_images_whatever_the_row_order():
    ids = [f"img{i:03d}" for i in range(41)]
    labels = ["a"] * 20 + ["b"] * 15 + ["c"] * 5 + ["d"]
    half = rules.split_halves(ids, labels, seed=3)
    frame = pl.DataFrame({"id": ids, "wnid": labels, "half": half})
    counts = dict(frame.group_by("wnid").agg(pl.col("half").sum()).iter_rows())
    assert counts == {"a": 10, "b": 7, "c": 2, "d": 0}
    order = np.random.default_rng(0).permutation(len(ids))
    shuffled = rules.split_halves([ids[i] for i in order], [labels[i] for i in order], seed=3)
    assert dict(zip([ids[i] for i in order], shuffled)) == dict(zip(ids, half))
    assert not np.array_equal(rules.split_halves(ids, labels, seed=4), half)


def test_prototypes_and_own_class_similarity_equal_a_loop():
    rng = np.random.default_rng(1)
    x = unit(rng.normal(size=(30, 8))).astype(np.float32)
    labels = rng.choice(["a", "b", "c"], size=30)
    matrix, wnids = rules.class_prototypes(x, labels)
    for w, row in zip(wnids, matrix):
        mean = x[labels == w].astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(row, mean / np.linalg.norm(mean), atol=1e-6)
    query = np.concatenate([labels[:10], ["z"]])
    y = np.concatenate([x[:10], x[:1]])
    got = rules.own_class_similarity(y, query, matrix, wnids)
    for i, w in enumerate(query):
        expected = float(y[i] @ matrix[wnids.index(w)]) if w in wnids else np.nan
        np.testing.assert_allclose(got[i], expected, atol=1e-6, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1, 1, allow_nan=False, width=32), min_size=0, max_size=40, unique=True),
    st.integers(0, 45),
)
def test_count_threshold_keeps_the_count_asked_for(values, count):
    scores = np.array(values + [np.nan], dtype=np.float64)
    t = rules.count_threshold(scores, count)
    assert int((scores > t).sum()) == min(count, len(values))


def candidates_frame(rng, n=60):
    return pl.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "wnid": rng.choice(["a", "b", "c"], size=n).tolist(),
            "text_similarity": rng.random(n).astype(np.float32),
            "release_part": rng.choice(["p0", "p1"], size=n).tolist(),
            "part_row": np.arange(n, dtype=np.int64),
            "in_laionet": (rng.random(n) < 0.4).tolist(),
            "vector_key": [f"k{i}" for i in range(n)],
            "class_similarity": rng.random(n).astype(np.float32),
            "prototype_similarity": rng.random(n).astype(np.float32),
        },
        schema=rules.CANDIDATE_SCHEMA,
    )


def test_each_set_keeps_exactly_the_rows_a_loop_keeps():
    rng = np.random.default_rng(2)
    frame = candidates_frame(rng)
    thresholds = rules.thresholds_for(frame, {"class_similarity": 0.5, "prototype_similarity": None})
    selected = rules.select_sets(frame, thresholds)
    laionet = int(frame["in_laionet"].sum())
    assert (frame["prototype_similarity"] > thresholds["prototype_similarity"]).sum() == laionet
    for name in rules.SETS:
        expected = set()
        for row in frame.iter_rows(named=True):
            keep = {
                "caption": row["in_laionet"],
                "image_to_class": row["class_similarity"] > 0.5,
                "image_to_prototype": row["prototype_similarity"] > thresholds["prototype_similarity"],
                "caption_then_image": row["in_laionet"] and row["class_similarity"] > 0.5,
            }[name]
            if keep:
                expected.add(row["sample_id"])
        assert set(selected.filter(pl.col("set") == name)["sample_id"]) == expected, name


def test_matched_samples_take_the_smallest_sets_size_and_report_short_classes():
    rng = np.random.default_rng(5)
    frame = candidates_frame(rng, 300)
    selected = rules.select_sets(frame, {"class_similarity": 0.4, "prototype_similarity": 0.7})
    sizes = rules.matched_sizes(selected, min_images=20, max_images=25)
    for row in sizes.iter_rows(named=True):
        counts = {
            s: selected.filter((pl.col("set") == s) & (pl.col("wnid") == row["wnid"])).height
            for s in rules.SETS
        }
        assert {s: row[f"n_{s}"] for s in rules.SETS} == counts
        assert row["matched_n"] == min(min(counts.values()), 25)
        short = [s for s in rules.SETS if counts[s] < 20]
        assert row["status"] == ("compared" if not short else "too few in " + ", ".join(short))
    matched = rules.matched_sample(selected, sizes, seed=1)
    got = matched.filter("matched").group_by("set", "wnid").len()
    compared = sizes.filter(pl.col("status") == "compared")
    assert got.height == compared.height * len(rules.SETS)
    for s, w, n in got.iter_rows():
        assert n == compared.filter(pl.col("wnid") == w)["matched_n"][0]
    shuffled = rules.matched_sample(selected.sample(fraction=1.0, shuffle=True, seed=9), sizes, seed=1)
    key = ["set", "sample_id"]
    assert set(shuffled.filter("matched").select(key).iter_rows()) == set(
        matched.filter("matched").select(key).iter_rows()
    )


def crafted_release(seed=0, d=32, per_class=60):
    """Classes of two kinds.  'mixed': half the candidates' images sit tight around the synset
    text, half point anywhere, and the caption is blind to which (LAIONet takes a random half):
    selecting by image keeps the tight ones.  'tight': every image sits tight around it, so no
    selection can make the class more alike.  ImageNet's images of every class are tight too."""
    rng = np.random.default_rng(seed)
    kinds = {"n01": "mixed", "n02": "mixed", "n03": "tight", "n04": "tight"}
    texts = unit(rng.normal(size=(len(kinds), d)))
    rows, vectors, imagenet, imagenet_labels = [], [], [], []
    for c, (wnid, kind) in enumerate(kinds.items()):
        for i in range(per_class):
            on_topic = kind == "tight" or i % 2 == 0
            v = unit(texts[c] + 0.15 * rng.normal(size=d)) if on_topic else unit(rng.normal(size=d))
            vectors.append(v)
            rows.append((f"{wnid}-{i}", wnid, bool(rng.random() < 0.5)))
        for _ in range(20):
            imagenet.append(unit(texts[c] + 0.15 * rng.normal(size=d)))
            imagenet_labels.append(wnid)
    x = np.array(vectors, dtype=np.float32)
    frame = pl.DataFrame(
        rows, schema={"sample_id": pl.String, "wnid": pl.String, "in_laionet": pl.Boolean}, orient="row"
    )
    frame = frame.with_columns(
        text_similarity=pl.lit(0.9, pl.Float32),
        release_part=pl.lit("p0"),
        part_row=pl.int_range(pl.len(), dtype=pl.Int64),
        vector_key=pl.col("sample_id"),
    )
    imagenet = np.array(imagenet, dtype=np.float32)
    labels = np.array(imagenet_labels)
    half = rules.split_halves([f"v{i}" for i in range(len(labels))], labels, seed)
    prototypes = rules.class_prototypes(imagenet[half], labels[half])
    frame = (
        frame.with_columns(
            class_similarity=pl.Series(
                rules.own_class_similarity(x, frame["wnid"], texts.astype(np.float32), list(kinds))
            ),
            prototype_similarity=pl.Series(rules.own_class_similarity(x, frame["wnid"], *prototypes)),
        )
        .select(list(rules.CANDIDATE_SCHEMA))
        .cast(rules.CANDIDATE_SCHEMA)
    )
    return kinds, frame, x, (imagenet[~half], labels[~half])


def test_selection_by_image_is_more_alike_exactly_where_it_was_built_to_be():
    kinds, frame, x, (imagenet, imagenet_labels) = crafted_release()
    thresholds = {"class_similarity": 0.6, "prototype_similarity": 0.6}
    selected = rules.select_sets(frame, thresholds)
    sizes = rules.matched_sizes(selected, 5, 100)
    assert sizes["status"].to_list() == ["compared"] * 4
    matched = rules.matched_sample(selected, sizes, seed=0).filter("matched")
    index = {k: i for i, k in enumerate(frame["vector_key"])}
    per_set = {}
    for name in rules.SETS:
        rows = matched.filter(pl.col("set") == name)
        v = x[[index[k] for k in rows["vector_key"]]]
        per_set[name] = stats.per_class_intra_similarity(v, rows["wnid"].to_numpy(), None)
        for wnid in kinds:  # the class means are the pair loops' means
            members = unit(v[rows["wnid"].to_numpy() == wnid].astype(np.float64))
            pairs = [a @ b for a, b in itertools.combinations(members, 2)]
            got = per_set[name].filter(pl.col("wnid") == wnid)["mean"][0]
            assert got == pytest.approx(np.mean(pairs), abs=1e-9)
    per_set["imagenet_val_half"] = stats.per_class_intra_similarity(imagenet, imagenet_labels, None)
    comparison = rules.compare_sets(per_set)
    for rule in ("image_to_class", "image_to_prototype"):
        verdicts = dict(
            comparison.filter((pl.col("set") == rule) & (pl.col("wnid") != "all"))
            .select("wnid", "verdict")
            .iter_rows()
        )
        assert verdicts == {
            w: "significantly higher" if k == "mixed" else "neither" for w, k in kinds.items()
        }
    table = rules.summary(comparison, "imagenet_val_half")
    row = table.filter(pl.col("set") == "image_to_class").row(0, named=True)
    assert row["share_more_alike"] == 0.5 and row["verdict"] == "significantly higher"
    assert 0 < row["gap_closed"] <= 1.2
    assert "By image: image-to-class moves LAIONet toward ImageNet" in rules.answer(
        table, "imagenet_val_half"
    )


def test_pooled_mean_takes_the_classes_standard_errors():
    table = pl.DataFrame({"mean": [0.2, 0.4, 0.9], "se": [0.03, 0.04, 0.12], "n": [10, 12, 5]})
    got = rules.pooled_mean(table)
    se = np.sqrt(0.03**2 + 0.04**2 + 0.12**2) / 3
    assert got["mean"] == pytest.approx(0.5) and got["se"] == pytest.approx(se)
    assert got["ci_low"] == pytest.approx(0.5 - stats.Z95 * se) and got["n"] == 27
    two = table.with_columns(se=pl.Series([0.03, float("nan"), 0.12]))  # a class of two images
    assert np.isnan(rules.pooled_mean(two)["se"])
