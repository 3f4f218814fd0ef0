"""The image side end to end with materialize(): a local web of real and broken images, the real
quantized MobileNetV2, ImageNet-val and ImageNetV2-style folders built from the shared images."""

import shutil

import dagster as dg
import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from laionet_assets.core.stats import pair_mean
from laionet_assets.definitions import all_assets
from laionet_assets.profiles import resources_for, with_defaults
from laionet_assets.resources import ImageDownloader, ImageFolders, ImageModels, write_parquet_atomic
from laionet_assets_tests.conftest import shared_path
from laionet_assets_tests.core.test_images import crafted_images, encode
from laionet_assets_tests.image_server import ImageServer

IMAGE_SIDE = ["laionet_images", "laionet_final", "imagenet_val", "imagenetv2_a", "imagenetv2_b", "imagenetv2_c",
              "model_predictions", "accuracy", "image_embeddings", "intra_class_stats", "v2_comparison", "report",
              "imagenet_captions", "caption_synset_similarity"]


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
        for k, variant in enumerate((lambda im: im, lambda im: im.transpose(Image.FLIP_LEFT_RIGHT),
                                     lambda im: im.crop((0, 0, im.width * 3 // 4, im.height * 3 // 4)))):
            name = f"{k}_{p.name}"
            files[name] = encode(variant(Image.open(p).convert("RGB")), "JPEG")
            rows.append((f"{wnid}-{k}", f"/img/{name}", wnid))
    text_image = Image.new("RGB", (480, 120), "white")
    name = synsets.filter(pl.col("wnid") == rows[0][2])["name"].item()
    ImageDraw.Draw(text_image).text((20, 30), name.upper(), fill="black", font=ImageFont.load_default(size=40))
    files["text.png"] = encode(text_image, "PNG")
    files.update(crafted_images())
    rows += [("ocr-flagged", "/img/text.png", rows[0][2]), ("html", "/img/page.html", rows[0][2]),
             ("tiny", "/img/one_by_one.png", rows[3][2]), ("gone", "/status/404", rows[3][2]),
             ("cmyk", "/img/cmyk.jpg", rows[3][2])]
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
            shutil.copy(sample[(sample.index(p) + "abc".index(version) + 1) % len(sample)], target.with_name("1.jpeg"))
    (tmp / "val" / "not_a_class").mkdir()
    shutil.copy(sample[0], tmp / "val" / "not_a_class" / "x.JPEG")
    ten_way = torch.jit.script(torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 10)))
    ten_way.save(str(tmp / "ten_way.pt"))
    with ImageServer(files, {"page.html": "text/html"}) as server:
        home = tmp / "home"
        clean = pl.DataFrame(rows, schema=["sample_id", "url", "wnid"], orient="row").with_columns(
            url=pl.lit(server.base) + pl.col("url"), text=pl.lit("caption"), text_similarity=pl.lit(0.9, pl.Float32),
            nsfw=pl.lit("UNLIKELY"), release_part=pl.lit("test-00000"))
        write_parquet_atomic(synsets, home / "assets" / "imagenet_synsets.parquet")
        write_parquet_atomic(clean, home / "assets" / "laionet_clean.parquet")
        mobilenet = f"torchscript:{shared_path('models', 'mobilenet_v2_quantized.pt')}:{shared_path('models', 'mobilenet_v2_words.txt')}"
        resources = resources_for("tiny", str(home))
        resources["downloader"] = with_defaults(ImageDownloader, concurrency=4, timeout_s=2.0, retries=1, backoff_s=0.01)
        resources["image_models"] = with_defaults(ImageModels, models=[mobilenet, "clip:tiny", f"torchscript:{tmp / 'ten_way.pt'}"],
                                                  decode_workers=0, device="cpu")
        resources["image_folders"] = with_defaults(ImageFolders, imagenet_val=str(tmp / "val"), imagenetv2_a=str(tmp / "v2a"),
                                                   imagenetv2_b=str(tmp / "v2b"), imagenetv2_c=str(tmp / "v2c"))
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize(all_assets, selection=IMAGE_SIDE, resources=resources, instance=instance)
        again = dg.materialize(all_assets, selection=["laionet_images"], resources=resources, instance=instance)
        yield {"result": result, "again": again, "home": home, "clean": clean, "sample": sample, "hits": dict(server.hits)}


def meta(result, asset):
    return result.asset_materializations_for_node(asset if asset not in ("imagenet_val",) else "image_folders")[0].metadata


def output(world, asset):
    return pl.read_parquet(world["home"] / "assets" / f"{asset}.parquet")


def test_statuses_and_ocr_filter(world):
    assert world["result"].success
    images = output(world, "laionet_images")
    status = dict(zip(images["sample_id"], images["status"]))
    assert (status["html"], status["tiny"], status["gone"], status["cmyk"], status["ocr-flagged"]) == (
        "not_image", "too_small", "http_error", "ok", "ok")
    flagged = images.filter(pl.col("synset_name_in_image_text"))["sample_id"].to_list()
    # the rendered synset name, and the real grouse photo captioned "Black Grouse" (its mirrored copy is not read)
    assert sorted(flagged) == ["n01795545-0", "ocr-flagged"]
    final = output(world, "laionet_final")
    assert "ocr-flagged" not in final["sample_id"].to_list() and final.height == 36 + 1 - 1  # variants + cmyk − grouse
    m = meta(world["result"], "laionet_final")
    assert (m["dropped_without_image"].value, m["dropped_synset_name_in_image_text"].value) == (3, 2)


def test_rerun_fetches_nothing_new(world):
    assert world["again"].success
    m = world["again"].asset_materializations_for_node("laionet_images")[0].metadata
    # every sample settled: ok with its file, or a final failure (404, HTML, 1×1)
    assert m["fetched"].value == 0 and m["reused_from_previous_run"].value == 41 and m["ocr_images_read"].value == 0


def test_predictions_and_accuracy(world, synsets):
    preds = output(world, "model_predictions")
    m = meta(world["result"], "model_predictions")
    assert set(preds["model"].unique()) == {"torchscript:mobilenet_v2_quantized", "clip:tiny"}
    assert "ten_way" in str(m["models_skipped"].value) and "10 outputs" in str(m["models_skipped"].value)
    folders = world["result"].asset_materializations_for_node("image_folders")
    val_meta = [e.metadata for e in folders if e.asset_key.path == ["imagenet_val"]][0]
    assert val_meta["unknown_class_files"].value == 1
    acc = output(world, "accuracy")
    row = acc.filter((pl.col("model") == "torchscript:mobilenet_v2_quantized") & (pl.col("dataset") == "imagenet_val")).row(0, named=True)
    mb = preds.filter((pl.col("model") == "torchscript:mobilenet_v2_quantized") & (pl.col("dataset") == "imagenet_val"))
    per_class = mb.group_by("wnid").agg((pl.col("top5").list.first() == pl.col("wnid")).mean().alias("r"))
    assert row["top1_equal"] == pytest.approx(per_class["r"].mean())
    assert row["classes"] == 12 and row["top1_equal_low"] <= row["top1_equal"] <= row["top1_equal_high"]
    for fig in ("fig1_accuracy_imagenet_vs_laionet.png", "fig5_weighted_vs_equal.png"):
        assert (world["home"] / "reports" / fig).read_bytes()[:4] == b"\x89PNG"


def test_intra_class_means_are_the_pair_means(world):
    from laionet_assets.assets.similarity import load_vectors
    from laionet_assets.resources import LaionetStorage

    embedded = output(world, "image_embeddings")
    stats = output(world, "intra_class_stats")
    x, labels = load_vectors(LaionetStorage(home=str(world["home"])), embedded, "laionet")
    for wnid in np.unique(labels)[:4]:
        rows = x[labels == wnid]
        expected = np.mean([rows[i] @ rows[j] / np.linalg.norm(rows[i]) / np.linalg.norm(rows[j])
                            for i in range(len(rows)) for j in range(i + 1, len(rows))])
        got = stats.filter((pl.col("dataset") == "laionet") & (pl.col("wnid") == wnid) & (pl.col("interval") == "jackknife"))
        assert got["mean"].item() == pytest.approx(expected, abs=1e-6)
    assert set(stats["dataset"]) == {"laionet", "imagenet_val", "imagenetv2_a", "imagenetv2_b", "imagenetv2_c"}
    v2 = output(world, "v2_comparison")
    assert v2.sort("selection_frequency")["version"].unique(maintain_order=True).to_list() == ["b", "a", "c"]


def test_report_has_every_figure(world):
    html = (world["home"] / "reports" / "report.html").read_text()
    for fig in ("fig1_", "fig5_", "fig6_", "fig7_", "fig8_"):
        assert fig in html
    assert "mobilenet_v2_quantized.pt@" in html  # which model produced the numbers
    m = meta(world["result"], "report")
    assert str(m["report"].value).endswith("report.html")
