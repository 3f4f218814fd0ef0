"""The image side end to end with materialize(): a local web of real and broken images, the real
quantized MobileNetV2, ImageNet-val and ImageNetV2-style folders built from the shared images."""

import shutil

import dagster as dg
import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from laionet_assets.core.atomic import write_parquet_atomic
from laionet_assets.core.image_embeddings import load_vectors
from laionet_assets.definitions import all_assets
from laionet_assets.profiles import resources_for, with_defaults
from laionet_assets.resources import ImageDownloader, ImageFolders, ImageModels
from laionet_assets_tests.fixtures import ImageServer, crafted_images, encode, select, shared_path

IMAGE_SIDE = [
    "laionet_images",
    "laionet_final",
    "imagenet_val",
    "imagenetv2_a",
    "imagenetv2_b",
    "imagenetv2_c",
    "model_predictions",
    "accuracy",
    "per_class_differences",
    "image_embeddings",
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
def world(tmp_path_factory, synsets):
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
        home = tmp / "home"
        clean = pl.DataFrame(rows, schema=["sample_id", "url", "wnid"], orient="row").with_columns(
            url=pl.lit(server.base) + pl.col("url"),
            text=pl.lit("caption"),
            text_similarity=pl.lit(0.9, pl.Float32),
            nsfw_tag=pl.lit("UNLIKELY"),
            release_part=pl.lit("test-00000"),
        )
        write_parquet_atomic(synsets, home / "assets" / "imagenet_synsets.parquet")
        write_parquet_atomic(clean, home / "assets" / "laionet_clean.parquet")
        write_parquet_atomic(
            crafted_text_matches(sample, server.base), home / "assets" / "captions_nearest_laion.parquet"
        )
        model = shared_path("models", "mobilenet_v2_quantized.pt")
        words = shared_path("models", "mobilenet_v2_words.txt")
        mobilenet = f"torchscript:{model}:{words}"
        resources = resources_for("tiny", str(home))
        resources["downloader"] = with_defaults(
            ImageDownloader, concurrency=4, timeout_s=2.0, retries=1, backoff_s=0.01
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
        result = dg.materialize(
            all_assets, selection=select(*IMAGE_SIDE), resources=resources, instance=instance
        )
        again = dg.materialize(
            all_assets, selection=["laionet_images"], resources=resources, instance=instance
        )
        yield {
            "result": result,
            "again": again,
            "home": home,
            "clean": clean,
            "sample": sample,
            "hits": dict(server.hits),
        }


def meta(result, asset):
    return result.asset_materializations_for_node(
        asset if asset not in ("imagenet_val",) else "image_folders"
    )[0].metadata


def output(world, asset):
    return pl.read_parquet(world["home"] / "assets" / f"{asset}.parquet")


def image_cache(world):
    from laionet_assets.resources import LaionetStorage

    return LaionetStorage(home=str(world["home"])).embedding_cache("image")


def test_statuses_and_ocr_filter(world):
    assert world["result"].success
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
    m = meta(world["result"], "laionet_final")
    assert (m["dropped_without_image"].value, m["dropped_synset_name_in_image_text"].value) == (3, 2)


def test_rerun_fetches_nothing_new(world):
    assert world["again"].success
    m = world["again"].asset_materializations_for_node("laionet_images")[0].metadata
    # every sample settled: ok with its file, or a final failure (404, HTML, 1×1)
    assert (
        m["fetched"].value == 0
        and m["reused_from_previous_run"].value == 41
        and m["ocr_images_read"].value == 0
    )


def test_predictions_and_accuracy(world, synsets):
    preds = output(world, "model_predictions")
    m = meta(world["result"], "model_predictions")
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
    folders = world["result"].asset_materializations_for_node("image_folders")
    val_meta = [e.metadata for e in folders if e.asset_key.path == ["imagenet_val"]][0]
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
        assert (world["home"] / "reports" / fig).read_bytes()[:4] == b"\x89PNG"


def test_intra_class_means_are_the_pair_means(world):
    embedded = output(world, "image_embeddings")
    stats = output(world, "intra_class_stats")
    x, labels = load_vectors(image_cache(world), embedded, "laionet")
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
    html = (world["home"] / "reports" / "report.html").read_text()
    for fig in ("fig1_", "fig5_", "fig6_", "fig7_", "fig8_", "fig10_", "fig17_", "fig18_"):
        assert fig in html
    assert "mobilenet_v2_quantized.pt@" in html  # which model produced the numbers
    # and which source produced the vectors behind them
    assert (
        "LAIONet image vectors of the intra-class similarity</td><td>encode (encode: the part ships" in html
    )
    assert "caption vectors of the text similarity" in html
    m = meta(world["result"], "report")
    assert str(m["report"].value).endswith("report.html")


def test_text_matched_images_reuse_laionets_downloads(world):
    images = output(world, "text_matched_images")
    m = meta(world["result"], "text_matched_images")
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
    embedded = output(world, "image_embeddings")
    found = image_cache(world).lookup(embedded["encoder"][0], images["image_sha256"].to_list())
    val, val_labels = load_vectors(image_cache(world), embedded, "imagenet_val")
    m = meta(world["result"], "image_embeddings")
    assert (m["decoder"].value, m["precision"].value) == ("pil", "fp32")  # auto on CPU; the paper's
    # image_embeddings embedded the text-matched images too: one encoder for every comparison
    assert set(embedded.filter(pl.col("dataset") == "text_matched")["image_id"]) == set(images["sample_id"])
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
    m = meta(world["result"], "text_matched_intra_class")
    assert m["selection_threshold"].value == 0.7 and m["classes_compared"].value == 8
    for fig in ("fig10_text_matched_intra_class.png", "fig18_threshold_sweep.png"):
        assert (world["home"] / "reports" / fig).read_bytes()[:4] == b"\x89PNG"


def test_image_synset_similarity_against_a_loop(world, synsets):
    embedded = output(world, "image_embeddings")
    model = resources_for("tiny", str(world["home"]))["image_encoder"].load()
    # the synset texts were embedded by the image encoder's own text tower, in image_embeddings' run
    recorded = output(world, "image_encoder_synset_embeddings")
    assert set(recorded["encoder"]) == set(embedded["encoder"]) == {model.encoder_id}
    text = dict(zip(synsets["wnid"], synsets["synset_text"]))
    got = output(world, "image_synset_similarity")
    x, labels = load_vectors(image_cache(world), embedded, "laionet")
    v, v_labels = load_vectors(image_cache(world), embedded, "imagenet_val")
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
    assert (world["home"] / "reports" / "fig17_image_to_synset.png").read_bytes()[:4] == b"\x89PNG"


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
    m = meta(world["result"], "per_class_differences")
    assert "rho" in m["rank_correlation"].value
    assert (world["home"] / "reports" / "fig_per_class_differences.png").read_bytes()[:4] == b"\x89PNG"
    html = (world["home"] / "reports" / "report.html").read_text()
    assert "fig_per_class_differences.png" in html and "the 10 classes that lose most" in html
