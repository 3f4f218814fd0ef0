"""``laionet export`` of the demo's LAIONet in the three formats, each loaded with its own library:
labels and pixels equal the tables', a model sees through each loader what model_predictions
holds, the card says how it was made, and the folder is refused, replaced and rebuilt as asked."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from PIL import Image

from laionet_assets.cli.parser import main
from laionet_assets.core.export.records import escaped
from laionet_assets.core.images.pixels import load_rgb, to_rgb
from laionet_assets.resources import LaionetStorage


@pytest.fixture(scope="module")
def exported(demo_home, tmp_path_factory):
    """The demo's LAIONet of release ``sample`` exported in each format, and its laionet_final rows."""
    home, _ = demo_home
    root = tmp_path_factory.mktemp("exports")
    with pytest.MonkeyPatch.context() as env:
        for name in ("DAGSTER_HOME", "LAIONET_HOME", "LAIONET_PROFILE"):
            env.setenv(name, "")  # the command sets them for its own run: put back after
        for fmt in ("imagefolder", "webdataset", "hf"):
            argv = [
                "export",
                "--home",
                str(home),
                "--profile",
                "tiny",
                "--set",
                "laionet",
                "--release",
                "sample",
            ]
            assert main([*argv, "--format", fmt, "--out", str(root / fmt), "--export-shard-size", "64"]) == 0
    storage = LaionetStorage(home=str(home))
    final = storage.read_asset("laionet_final", partitions=storage.registry.releases()["sample"])
    final = final.with_columns(path=pl.lit(str(storage.images) + "/") + pl.col("image_path"))
    return home, root, final


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(to_rgb(image))


def stored(final: pl.DataFrame) -> dict[str, tuple[str, np.ndarray]]:
    """Per sample id: its class and the stored image's pixels."""
    return {
        s: (w, np.asarray(load_rgb(p))) for s, w, p in final.select("sample_id", "wnid", "path").iter_rows()
    }


def vocabulary(home: Path) -> list[str]:
    return pl.read_parquet(home / "assets" / "imagenet_synsets.parquet")["wnid"].to_list()


def clip_top1(home: Path, images: list[Image.Image]) -> list[str]:
    """The demo's zero-shot CLIP classifier (tiny profile, seeded) on PIL images, as the pil
    decoder feeds it: RGB, then the model's own transform."""
    import torch

    from laionet_assets.profiles import resources_for

    synsets = pl.read_parquet(home / "assets" / "imagenet_synsets.parquet")
    models = resources_for("tiny", str(home))["image_models"]
    spec = next(s for s in models.specs() if s.source == "clip")
    model = models.load(spec, synsets["wnid"].to_list(), synsets["synset_text"].to_list())
    batch = torch.stack([model.transform(to_rgb(i)) for i in images]).to(model.device)
    with torch.no_grad():
        logits = model.forward(batch).float().cpu().numpy()
    return [model.class_wnids[i] for i in logits.argmax(axis=1)], spec.name


def predicted(home: Path, model: str) -> dict[str, str]:
    table = pl.read_parquet(home / "assets" / "model_predictions" / "*.parquet")
    table = table.filter((pl.col("model") == model) & (pl.col("dataset") == "laionet"))
    return dict(zip(table["image_id"], table["top5"].list.first()))


def test_image_folder_loads_with_torchvision(exported):
    from torchvision.datasets import ImageFolder

    home, root, final = exported
    truth = stored(final)
    dataset = ImageFolder(str(root / "imagefolder"))
    assert len(dataset) == final.height
    assert all(escaped(sid) == sid for sid in truth)  # the demo's ids are their file names
    by_class = {c: i for c, i in dataset.class_to_idx.items()}
    classes = [
        line.split("\t")[0] for line in (root / "imagefolder" / "classes.txt").read_text().splitlines()
    ]
    assert classes == vocabulary(home)  # line i is the vocabulary's class i
    images, names = [], []
    for (path, index), (image, _) in zip(dataset.samples, dataset):
        sid = Path(path).stem
        wnid, expected = truth[sid]
        assert by_class[wnid] == index and Path(path).parent.name == wnid
        assert np.array_equal(pixels(image), expected)
        images.append(image)
        names.append(sid)
    top1, model = clip_top1(home, images)
    assert dict(zip(names, top1)) == {n: predicted(home, model)[n] for n in names}


def test_webdataset_shards_load_with_webdataset(exported):
    import webdataset as wds

    home, root, final = exported
    truth = stored(final)
    shards = sorted(str(p) for p in (root / "webdataset").glob("*.tar"))
    assert len(shards) == -(-final.height // 64)
    wnids = vocabulary(home)
    seen, images = [], []
    for sample in wds.WebDataset(shards, shardshuffle=False).decode("pil"):
        meta = sample["json"]
        meta = json.loads(meta) if isinstance(meta, (bytes, str)) else meta
        wnid, expected = truth[meta["sample_id"]]
        label = int(sample["cls"])
        assert wnids[label] == wnid == meta["wnid"] and meta["url"] and meta["release_part"]
        assert np.array_equal(pixels(sample["jpg"]), expected)
        seen.append(meta["sample_id"])
        images.append(sample["jpg"])
    assert sorted(seen) == sorted(final["sample_id"])
    top1, model = clip_top1(home, images)
    assert dict(zip(seen, top1)) == {n: predicted(home, model)[n] for n in seen}


def test_the_datasets_folder_loads_with_its_features(exported):
    import datasets

    home, root, final = exported
    truth = stored(final)
    loaded = datasets.load_dataset(str(root / "hf"), split="train")
    assert isinstance(loaded.features["label"], datasets.ClassLabel)
    assert loaded.features["label"].names == vocabulary(home)
    assert isinstance(loaded.features["image"], datasets.Image) and loaded.num_rows == final.height
    images, seen = [], []
    for row in loaded:
        wnid, expected = truth[row["sample_id"]]
        assert loaded.features["label"].int2str(row["label"]) == wnid == row["wnid"]
        assert np.array_equal(pixels(row["image"]), expected)
        images.append(row["image"])
        seen.append(row["sample_id"])
    top1, model = clip_top1(home, images)
    assert dict(zip(seen, top1)) == {n: predicted(home, model)[n] for n in seen}


def test_the_card_says_how_the_export_was_made(exported):
    home, root, final = exported
    text = (root / "hf" / "README.md").read_text()
    _, header, body = text.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert meta["task_categories"] == ["image-classification"] and meta["license"] == "other"
    assert meta["configs"][0]["data_files"][0]["path"] == "data/*.parquet"
    assert f"{final.height} images over {final['wnid'].n_unique()} classes" in body
    assert "| safety policy | auto (max unsafe score 0.5) |" in body
    assert f"| LAIONet with images (laionet_final) | {final.height} |" in body
    assert (
        "belong to the owners of the URLs" in body and "laionet export --set laionet --release sample" in body
    )
    assert "Fetched 20" in body and "class_to_idx" in (root / "imagefolder" / "README.md").read_text()


def test_a_second_export_is_refused_then_replaces_the_first_with_the_same_bytes(exported, capsys):
    home, root, _ = exported
    out = root / "webdataset"
    before = {p.name: p.read_bytes() for p in out.glob("*.tar")}
    argv = ["export", "--home", str(home), "--profile", "tiny", "--set", "laionet", "--release", "sample"]
    argv += ["--format", "webdataset", "--out", str(out), "--export-shard-size", "64"]
    with pytest.MonkeyPatch.context() as env:
        for name in ("DAGSTER_HOME", "LAIONET_HOME", "LAIONET_PROFILE"):
            env.setenv(name, "")
        assert main(argv) == 1
        assert "is not empty: export into an empty folder, or pass --overwrite" in capsys.readouterr().err
        assert main([*argv, "--overwrite"]) == 0
        assert main(["export", "--home", str(home), "--set", "laionet", "--format", "hf"]) == 2
        assert "name one with --release" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.glob("*.tar")} == before


def test_the_release_may_be_left_out_only_where_the_home_holds_one():
    from laionet_assets.cli.export import pick_release

    assert pick_release({"laion400m": ["p0"]}, None) == ("laion400m", None)
    assert pick_release({"a": [], "b": []}, None) == (
        None,
        "the home holds releases a, b: name one with --release",
    )
    assert pick_release({}, None)[1].startswith("the home holds no release yet")
    assert pick_release({"a": []}, "c") == (None, "no release 'c' in the home (it holds a)")
