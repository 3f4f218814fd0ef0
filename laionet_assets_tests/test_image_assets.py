"""The image side end to end with materialize(): a local web of real and broken images, the real
quantized MobileNetV2, ImageNet-val and ImageNetV2-style folders built from the shared images."""

import shutil

import dagster as dg
import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont
from polars.testing import assert_frame_equal

from laionet_assets.core.io.atomic import write_parquet_atomic
from laionet_assets.core.models.image_embeddings import load_vectors
from laionet_assets.definitions import all_assets, defs
from laionet_assets.defs.partitions import IMAGE_SIDE as IMAGE_SIDE_TAGGED
from laionet_assets.defs.partitions import laion_parts, laion_releases
from laionet_assets.graph import asset_plan
from laionet_assets.profiles import resources_for, with_defaults
from laionet_assets.resources import ImageDownloader, ImageFolders, ImageModels, LaionetStorage
from laionet_assets.testing.fixtures import register_parts, select, shared_path
from laionet_assets.testing.web import LOOPBACK, ImageServer, crafted_images, encode

IMAGE_SIDE = [
    "laionet_images",
    "laionet_final",
    "imagenet_val",
    "imagenetv2_a",
    "imagenetv2_b",
    "imagenetv2_c",
    "model_predictions",
    "imagenet_val_predictions",
    "accuracy",
    "per_class_differences",
    "image_embeddings",
    "reference_image_embeddings",
    "intra_class_stats",
    "v2_comparison",
    "report",
    "imagenet_captions",
    "caption_synset_similarity",
    "image_synset_similarity",
    "text_matched_images",
    "text_matched_intra_class",
]
# the text-matched rows of each of the first 8 classes: LAIONet's three variants (already fetched by
# laionet_images) and the original photo (new); one more below download_above, one without a URL, one 404
TEXT_MATCH_SIMILARITY = {0: 0.86, 1: 0.75, 2: 0.72, "orig": 0.65}

IMAGE_PART_ASSETS = tuple(k.to_user_string() for k in IMAGE_SIDE_TAGGED.resolve(defs.resolve_asset_graph()))


def crafted_text_matches(sample, base: str) -> pl.DataFrame:
    rows = []
    for p in sample[:8]:
        wnid = p.name.split("_")[0]
        for k, sim in TEXT_MATCH_SIMILARITY.items():
            rows.append(
                (f"{wnid}-{k}", wnid, sim, f"{base}/img/{p.name if k == 'orig' else f'{k}_{p.name}'}")
            )
    wnid = sample[0].name.split("_")[0]
    rows += [
        ("far", wnid, 0.4, f"{base}/img/{sample[1].name}"),
        ("no-url", wnid, 0.9, None),
        ("gone-text", wnid, 0.8, f"{base}/status/404"),
    ]
    return pl.DataFrame(
        rows,
        schema={"sample_id": pl.String, "wnid": pl.String, "similarity": pl.Float32, "url": pl.String},
        orient="row",
    ).with_columns(
        imagenet_filename=pl.col("sample_id") + ".JPEG",
        selected=pl.col("similarity") > 0.7,
        text=pl.lit("caption"),
        threshold=pl.lit(0.7),
    )


@pytest.fixture(scope="module")
def web(tmp_path_factory, synsets):
    """The shared images as a little web of LAION samples, and labelled folders of them."""
    tmp = tmp_path_factory.mktemp("image_side")
    sample = sorted(shared_path("data", "imagenet_sample").glob("*.JPEG"))[:12]
    wnids = synsets["wnid"].to_list()
    files = {p.name: p.read_bytes() for p in sample}
    # LAIONet: each shared image as 3 "LAION" samples of its class (flipped / cropped variants)
    rows = []
    for p in sample:
        wnid = p.name.split("_")[0]
        for k, variant in enumerate(
            (
                lambda im: im,
                lambda im: im.transpose(Image.FLIP_LEFT_RIGHT),
                lambda im: im.crop((0, 0, im.width * 3 // 4, im.height * 3 // 4)),
            )
        ):
            name = f"{k}_{p.name}"
            files[name] = encode(variant(Image.open(p).convert("RGB")), "JPEG")
            rows.append((f"{wnid}-{k}", f"/img/{name}", wnid))
    text_image = Image.new("RGB", (480, 120), "white")
    name = synsets.filter(pl.col("wnid") == rows[0][2])["name"].item()
    ImageDraw.Draw(text_image).text(
        (20, 30), name.upper(), fill="black", font=ImageFont.load_default(size=40)
    )
    files["text.png"] = encode(text_image, "PNG")
    files.update(crafted_images())
    rows += [
        ("ocr-flagged", "/img/text.png", rows[0][2]),
        ("html", "/img/page.html", rows[0][2]),
        ("tiny", "/img/one_by_one.png", rows[3][2]),
        ("gone", "/status/404", rows[3][2]),
        ("cmyk", "/img/cmyk.jpg", rows[3][2]),
    ]
    # ImageNet val as <wnid>/<file>; ImageNetV2 as <index>/<file>, plus a folder with an unknown class
    for p in sample:
        wnid = p.name.split("_")[0]
        for k in range(2):
            target = tmp / "val" / wnid / f"{k}.JPEG"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, target)
        for version in "abc":
            target = tmp / f"v2{version}" / str(wnids.index(wnid)) / "0.jpeg"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, target)
            shutil.copy(
                sample[(sample.index(p) + "abc".index(version) + 1) % len(sample)], target.with_name("1.jpeg")
            )
    (tmp / "val" / "not_a_class").mkdir()
    shutil.copy(sample[0], tmp / "val" / "not_a_class" / "x.JPEG")
    ten_way = torch.jit.script(
        torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 10))
    )
    ten_way.save(str(tmp / "ten_way.pt"))
    with ImageServer(files, {"page.html": "text/html"}) as server:
        yield {"tmp": tmp, "sample": sample, "server": server, "rows": rows, "synsets": synsets}


def build(web, name: str, parts: int) -> dict:
    """Materialise the image side the way the CLI does, stage by stage, with LAIONet's rows spread
    round-robin over ``parts`` LAION parts; then re-run the per-part image side of every part."""
    tmp, server = web["tmp"], web["server"]
    home = tmp / name
    keys = [f"test-{k:05d}" for k in range(parts)]
    clean = (
        pl.DataFrame(web["rows"], schema=["sample_id", "url", "wnid"], orient="row")
        .with_row_index("_i")
        .with_columns(
            url=pl.lit(server.base) + pl.col("url"),
            text=pl.lit("caption"),
            text_similarity=pl.lit(0.9, pl.Float32),
            nsfw_tag=pl.lit("UNLIKELY"),
            release_part=pl.format("test-{}", (pl.col("_i") % parts).cast(pl.String).str.zfill(5)),
        )
        .drop("_i")
    )
    write_parquet_atomic(web["synsets"], home / "assets" / "imagenet_synsets.parquet")
    write_parquet_atomic(clean, home / "assets" / "laionet_clean" / "test.parquet")
    register_parts(home, "test", keys)
    write_parquet_atomic(
        crafted_text_matches(web["sample"], server.base),
        home / "assets" / "captions_nearest_laion.parquet",
    )
    model = shared_path("models", "mobilenet_v2_quantized.pt")
    words = shared_path("models", "mobilenet_v2_words.txt")
    mobilenet = f"torchscript:{model}:{words}"
    resources = resources_for("tiny", str(home))
    resources["downloader"] = with_defaults(
        ImageDownloader, allow=LOOPBACK, concurrency=4, timeout_s=2.0, retries=1, backoff_s=0.01
    )
    resources["image_models"] = with_defaults(
        ImageModels,
        models=[mobilenet, "clip:tiny", f"torchscript:{tmp / 'ten_way.pt'}"],
        decode_workers=0,
        device="cpu",
    )
    resources["image_folders"] = with_defaults(
        ImageFolders,
        imagenet_val=str(tmp / "val"),
        imagenetv2_a=str(tmp / "v2a"),
        imagenetv2_b=str(tmp / "v2b"),
        imagenetv2_c=str(tmp / "v2c"),
    )
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(laion_parts.name, keys)
    instance.add_dynamic_partitions(laion_releases.name, ["test"])

    def run(names, key):
        return dg.materialize(
            all_assets, selection=names, partition_key=key, resources=resources, instance=instance
        )

    results = [run(names, key) for names, key in asset_plan().runs(select(*IMAGE_SIDE), keys, "test")]
    storage = LaionetStorage(home=str(home))
    before = {a: storage.read_asset(a) for a in IMAGE_PART_ASSETS}
    again = [run(list(IMAGE_PART_ASSETS), key) for key in keys]
    return {
        "results": results,
        "again": again,
        "before_again": before,
        "home": home,
        "clean": clean,
        "sample": web["sample"],
        "hits": dict(server.hits),  # so far: the web is shared
    }


@pytest.fixture(scope="module")
def world(web):
    return build(web, "two_parts", 2)


def metas(results, asset) -> list[dict]:
    """The metadata of every materialisation of ``asset`` in ``results`` (one per part of a
    per-part asset)."""
    return [
        e.metadata
        for r in results
        for e in r.get_asset_materialization_events()
        if e.asset_key.to_user_string() == asset
        for e in [e.event_specific_data.materialization]
    ]


def meta(world, asset):
    (only,) = metas(world["results"], asset)
    return only


def total(results, asset, key) -> int:
    """A count summed over the parts."""
    return sum(m[key].value for m in metas(results, asset))


def output(world, asset):
    return LaionetStorage(home=str(world["home"])).read_asset(asset)


def embedded(world):
    """LAIONet's embedded images (every part) and the reference datasets', as the analyses read them."""
    return pl.concat([output(world, "image_embeddings"), output(world, "reference_image_embeddings")])


def image_cache(world):
    return LaionetStorage(home=str(world["home"])).embedding_cache("image")


def test_statuses_and_ocr_filter(world):
    assert all(r.success for r in world["results"])
    images = output(world, "laionet_images")
    status = dict(zip(images["sample_id"], images["status"]))
    assert (status["html"], status["tiny"], status["gone"], status["cmyk"], status["ocr-flagged"]) == (
        "not_image",
        "too_small",
        "http_error",
        "ok",
        "ok",
    )
    flagged = images.filter(pl.col("synset_name_in_image_text"))["sample_id"].to_list()
    # the rendered synset name, and the real grouse photo captioned "Black Grouse" (its mirrored copy
    # is not read)
    assert sorted(flagged) == ["n01795545-0", "ocr-flagged"]
    final = output(world, "laionet_final")
    assert (
        "ocr-flagged" not in final["sample_id"].to_list() and final.height == 36 + 1 - 1
    )  # variants + cmyk − grouse
    dropped = [
        total(world["results"], "laionet_final", k)
        for k in ("dropped_without_image", "dropped_synset_name_in_image_text")
    ]
    assert dropped == [3, 2] and len(metas(world["results"], "laionet_final")) == 2  # one per part


def test_a_part_rerun_fetches_embeds_and_predicts_nothing_new(world):
    again = world["again"]
    assert all(r.success for r in again)
    # every sample settled: ok with its file, or a final failure (404, HTML, 1×1)
    assert [
        total(again, "laionet_images", k) for k in ("fetched", "reused_from_previous_run", "ocr_images_read")
    ] == [0, 41, 0]
    assert total(again, "model_predictions", "predicted") == 0
    assert total(again, "model_predictions", "reused_from_previous_run") == 2 * 36  # two models, every image
    per_set = [c for m in metas(again, "image_embeddings") for c in m["per_set"].value.values()]
    assert sum(c["embedded"] for c in per_set) == 0 and sum(c["cache_hits"] for c in per_set) == 36
    for asset in IMAGE_PART_ASSETS:  # and the same tables
        assert_same_rows(world["before_again"][asset], output(world, asset))


def assert_same_rows(a: pl.DataFrame, b: pl.DataFrame, tolerance: float = 0.0) -> None:
    """Equal tables up to row order (floats within ``tolerance``)."""
    assert a.height and a.columns == b.columns
    key = [c for c, t in a.schema.items() if not t.is_float() and not isinstance(t, (pl.List, pl.Array))]
    assert_frame_equal(a.sort(key), b.sort(key), check_exact=not tolerance, atol=tolerance)


@pytest.fixture(scope="module")
def one_part(web):
    return build(web, "one_part", 1)


@pytest.mark.parametrize(
    "asset",
    [
        *IMAGE_PART_ASSETS,
        "imagenet_val_predictions",
        "reference_image_embeddings",
        "accuracy",
        "per_class_recall",
        "intra_class_stats",
        "intra_class_laionet_vs_imagenet",
        "image_synset_similarity",
        "v2_comparison",
        "per_class_differences",
    ],
)
def test_parts_give_the_tables_of_one_run_over_everything(world, one_part, asset):
    """LAIONet spread over two parts, run part by part, gives the tables of one part holding every
    row (the unpartitioned run): floats equal up to the order of float32 sums; only when each
    image was fetched differs."""
    two, one = output(world, asset), output(one_part, asset)
    for column in ("release_part", "fetched_at"):
        if column in two.columns:
            two, one = two.drop(column), one.drop(column)
    assert_same_rows(one, two, tolerance=1e-6)


def test_predictions_and_accuracy(world, synsets):
    preds = pl.concat([output(world, "model_predictions"), output(world, "imagenet_val_predictions")])
    m = meta(world, "imagenet_val_predictions")
    assert set(preds["model"].unique()) == {"torchscript:mobilenet_v2_quantized", "clip:tiny"}
    assert "ten_way" in str(m["models_skipped"].value) and "10 outputs" in str(m["models_skipped"].value)
    # the quantized model runs alone (CPU, batch 1); the others differ in preprocessing
    groups = m["decode_groups"].value
    assert sorted(g["models"] for g in groups) == [
        ["clip:tiny"],
        ["torchscript:mobilenet_v2_quantized"],
        ["torchscript:ten_way"],
    ]
    assert {g["decoder"] for g in groups} == {"pil"} and all(g["precision"] == ["fp32"] for g in groups)
    val_meta = meta(world, "imagenet_val")
    assert val_meta["unknown_class_files"].value == 1
    acc = output(world, "accuracy")
    row = acc.filter(
        (pl.col("model") == "torchscript:mobilenet_v2_quantized") & (pl.col("dataset") == "imagenet_val")
    ).row(0, named=True)
    mb = preds.filter(
        (pl.col("model") == "torchscript:mobilenet_v2_quantized") & (pl.col("dataset") == "imagenet_val")
    )
    per_class = mb.group_by("wnid").agg((pl.col("top5").list.first() == pl.col("wnid")).mean().alias("r"))
    assert row["top1_equal"] == pytest.approx(per_class["r"].mean())
    assert row["classes"] == 12 and row["top1_equal_low"] <= row["top1_equal"] <= row["top1_equal_high"]
    for fig in ("fig1_accuracy_imagenet_vs_laionet.png", "fig5_weighted_vs_equal.png"):
        assert (world["home"] / "reports" / "test" / fig).read_bytes()[:4] == b"\x89PNG"


def test_intra_class_means_are_the_pair_means(world):
    stats = output(world, "intra_class_stats")
    x, labels = load_vectors(image_cache(world), embedded(world), "laionet")
    for wnid in np.unique(labels)[:4]:
        rows = x[labels == wnid]
        expected = np.mean(
            [
                rows[i] @ rows[j] / np.linalg.norm(rows[i]) / np.linalg.norm(rows[j])
                for i in range(len(rows))
                for j in range(i + 1, len(rows))
            ]
        )
        got = stats.filter(
            (pl.col("dataset") == "laionet") & (pl.col("wnid") == wnid) & (pl.col("interval") == "jackknife")
        )
        assert got["mean"].item() == pytest.approx(expected, abs=1e-6)
    assert set(stats["dataset"]) == {
        "laionet",
        "imagenet_val",
        "imagenetv2_a",
        "imagenetv2_b",
        "imagenetv2_c",
    }
    v2 = output(world, "v2_comparison")
    assert v2.sort("selection_frequency")["version"].unique(maintain_order=True).to_list() == ["b", "a", "c"]


def test_report_has_every_figure(world):
    html = (world["home"] / "reports" / "test" / "report.html").read_text()
    for fig in ("fig1_", "fig5_", "fig6_", "fig7_", "fig8_", "fig10_", "fig17_", "fig18_"):
        assert fig in html
    assert "mobilenet_v2_quantized.pt@" in html  # which model produced the numbers
    # and which source produced the vectors behind them
    assert (
        "LAIONet image vectors of the intra-class similarity</td>"
        "<td class=text>encode (encode: the part ships no image vectors)" in html
    )
    assert "caption vectors of the text similarity" in html
    m = meta(world, "report")
    assert str(m["report"].value).endswith("report.html")


def test_text_matched_images_reuse_laionets_downloads(world):
    images = output(world, "text_matched_images")
    m = meta(world, "text_matched_images")
    # 8 originals and the 404 are fetched; LAIONet's 24 variants are reused; "far" is below 0.5
    assert (m["fetched"].value, m["reused_from_previous_run"].value, m["dropped_without_url"].value) == (
        9,
        24,
        1,
    )
    assert "far" not in images["sample_id"].to_list()
    assert dict(zip(images["sample_id"], images["status"]))["gone-text"] == "http_error"
    assert world["hits"].get(f"/img/0_{world['sample'][0].name}") == 1  # fetched once, by laionet_images


def test_text_matched_intra_class_against_the_pair_loops(world):
    images = output(world, "text_matched_images").filter(pl.col("status") == "ok")
    vectors = embedded(world)
    found = image_cache(world).lookup(vectors["encoder"][0], images["image_sha256"].to_list())
    val, val_labels = load_vectors(image_cache(world), vectors, "imagenet_val")
    for m in (meta(world, "reference_image_embeddings"), *metas(world["results"], "image_embeddings")):
        assert (m["decoder"].value, m["precision"].value) == ("pil", "fp32")  # auto on CPU; the paper's
    # the text-matched images are embedded beside ImageNet's: one encoder for every comparison
    assert set(vectors.filter(pl.col("dataset") == "text_matched")["image_id"]) == set(images["sample_id"])
    got = output(world, "text_matched_intra_class")

    def pair_loop(rows):
        rows = [r / np.linalg.norm(r) for r in rows]
        return np.mean([rows[i] @ rows[j] for i in range(len(rows)) for j in range(i + 1, len(rows))])

    for threshold, n in ((0.7, 3), (0.6, 4)):
        at = got.filter(pl.col("threshold") == threshold)
        assert at.height == 8 and set(at["n"]) == {n}
        for row in at.iter_rows(named=True):
            rows = images.filter((pl.col("wnid") == row["wnid"]) & (pl.col("similarity") > threshold))
            mine = pair_loop([found[s] for s in rows["image_sha256"]])
            theirs = pair_loop(val[val_labels == row["wnid"]])
            assert row["difference"] == pytest.approx(mine - theirs, abs=1e-5)
    assert got.filter(pl.col("threshold") == 0.8).is_empty()  # one image per class above 0.8: no pairs
    sweep = output(world, "text_matched_sweep")
    assert sweep.filter(pl.col("threshold") == 0.7)["classes_covered"].item() == 8
    m = meta(world, "text_matched_intra_class")
    assert m["selection_threshold"].value == 0.7 and m["classes_compared"].value == 8
    for fig in ("fig10_text_matched_intra_class.png", "fig18_threshold_sweep.png"):
        assert (world["home"] / "reports" / fig).read_bytes()[:4] == b"\x89PNG"


def test_image_synset_similarity_against_a_loop(world, synsets):
    vectors = embedded(world)
    model = resources_for("tiny", str(world["home"]))["image_encoder"].load()
    # the synset texts were embedded by the image encoder's own text tower, in image_embeddings' run
    recorded = output(world, "image_encoder_synset_embeddings")
    assert set(recorded["encoder"]) == set(vectors["encoder"]) == {model.encoder_id}
    text = dict(zip(synsets["wnid"], synsets["synset_text"]))
    got = output(world, "image_synset_similarity")
    x, labels = load_vectors(image_cache(world), vectors, "laionet")
    v, v_labels = load_vectors(image_cache(world), vectors, "imagenet_val")
    assert got.height == 12
    per_image = output(world, "image_synset_similarity_images")
    assert per_image.height == len(labels) + len(v_labels)
    for row in got.head(4).iter_rows(named=True):
        t = model.encode_texts([text[row["wnid"]]])[0]
        mine = [float(e @ t) for e in x[labels == row["wnid"]]]
        theirs = [float(e @ t) for e in v[v_labels == row["wnid"]]]
        assert (row["laionet_n"], row["imagenet_n"]) == (len(mine), len(theirs))
        assert row["laionet_mean"] == pytest.approx(np.mean(mine), abs=1e-5)
        assert row["difference"] == pytest.approx(np.mean(mine) - np.mean(theirs), abs=1e-5)
    assert (world["home"] / "reports" / "test" / "fig17_image_to_synset.png").read_bytes()[:4] == b"\x89PNG"


def test_per_class_differences_against_the_recalls(world):
    got = output(world, "per_class_differences")
    recalls = output(world, "per_class_recall")
    intra = dict(
        zip(*output(world, "intra_class_laionet_vs_imagenet").select("wnid", "difference").get_columns())
    )
    assert got.height > 0 and set(got["model"]) == set(recalls["model"])
    for row in got.iter_rows(named=True):
        side = {
            d: recalls.filter(
                (pl.col("dataset") == d) & (pl.col("model") == row["model"]) & (pl.col("wnid") == row["wnid"])
            )["recall1"].item()
            for d in ("laionet", "imagenet_val")
        }
        assert row["difference"] == pytest.approx(side["laionet"] - side["imagenet_val"])
        assert row["intra_class_difference"] == pytest.approx(intra[row["wnid"]])
    m = meta(world, "per_class_differences")
    assert "rho" in m["rank_correlation"].value
    assert (world["home"] / "reports" / "test" / "fig_per_class_differences.png").read_bytes()[
        :4
    ] == b"\x89PNG"
    html = (world["home"] / "reports" / "test" / "report.html").read_text()
    assert (
        "fig_per_class_differences.png" in html and "The classes that lose most recall@1 on LAIONet" in html
    )
