"""The laionet CLI on a temp home: runs land in a persistent Dagster instance the UI can read."""

import json
import os
from unittest import mock

import dagster as dg
import polars as pl
import pytest

from laionet_assets.cli import main
from laionet_assets.cli.demo import sample_web
from laionet_assets.core.analysis.sweep import SWEEP_QUANTILES
from laionet_assets.core.io.exports import read_csv_export
from laionet_assets.resources import LaionetStorage
from laionet_assets.testing.fixtures import SAMPLE_RELEASE, dead_run_holding_the_gpu_slot, write_part
from laionet_assets.testing.web import LOOPBACK


@pytest.fixture(scope="module")
def web_flags():
    """The sample release's web, served on 127.0.0.1, as the flag that points the downloader at it."""
    with sample_web() as rewrites:
        yield ["--url-rewrites", json.dumps(rewrites), "--download-allow", ",".join(LOOPBACK)]


@pytest.fixture
def home(tmp_path, monkeypatch):
    from laionet_assets.settings import SETTINGS

    for var in ("DAGSTER_HOME", *(s.env for s in SETTINGS if s.env)):
        monkeypatch.setenv(var, "")  # recorded, so whatever the CLI sets is undone after the test
        monkeypatch.delenv(var)
    return tmp_path / "home"


def test_run_registers_partitions_and_materialises(home, capsys, web_flags):
    # a run killed earlier still holds the gpu pool's only slot: laionet run frees it, never waits
    dead = dead_run_holding_the_gpu_slot(home / "dagster")
    assert (
        main(
            [
                "run",
                "--release",
                str(SAMPLE_RELEASE),
                "--name",
                "Sample Release",
                "--profile",
                "tiny",
                "--home",
                str(home),
                *web_flags,
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    out, err = captured.out, captured.err
    assert "sample_release-part-00000" in out and "laionet ui --home" in out
    assert f"freed the pool slots of 1 run(s) whose process is gone: {dead}" in out
    # each step's progress as it goes (a log line off a terminal), and no library noise
    assert "    text_sims: sample_release-part-00000 caption embeddings: " in out and " rows/s, ETA " in out
    assert "Warning" not in err and "INFO:" not in err and "WARNING clustering" not in err
    # every check's outcome, the downloads' per part with its status breakdown
    assert "checks:\n" in out and "  laionet_class_coverage [sample_release]: passed" in out
    assert (
        "  laionet_images_downloaded [sample_release-part-00000]: " in out and "status_breakdown: ok " in out
    )
    assert (home / "assets" / "lemma_matches" / "sample_release-part-00001.parquet").exists()
    clean = pl.read_parquet(home / "assets" / "laionet_clean" / "sample_release.parquet")
    assert set(clean["release_part"]) <= {"sample_release-part-00000", "sample_release-part-00001"}
    assert (home / "dagster" / "dagster.yaml").exists()
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        assert sorted(instance.get_dynamic_partitions("laion_parts")) == [
            "sample_release-part-00000",
            "sample_release-part-00001",
        ]
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        records = [r for r in instance.get_run_records() if r.dagster_run.run_id != dead]
        assert instance.get_dynamic_partitions("laion_releases") == ["sample_release"]
        assert all(r.dagster_run.is_success for r in records)
        # the graph's stages in order, each a named job, so the UI's runs say what each one did:
        # unpartitioned, each part's text side, the caption search over the home, LAIONet of the
        # release, each part's image side, the home's text-matched side, the release's evaluation,
        # the comparison of the home's releases, and the release's report
        jobs = [
            (r.dagster_run.job_name, r.dagster_run.tags.get("dagster/partition", ""))
            for r in sorted(records, key=lambda r: r.create_timestamp)
        ]
        assert jobs == [
            ("laionet_run_1_imagenet_synsets", ""),
            ("laionet_run_2_lemma_matches_by_part", "sample_release-part-00000"),
            ("laionet_run_2_lemma_matches_by_part", "sample_release-part-00001"),
            ("laionet_run_3_captions_nearest_laion", ""),
            ("laionet_run_4_class_frequencies_by_release", "sample_release"),
            ("laionet_run_5_laionet_images_by_part", "sample_release-part-00000"),
            ("laionet_run_5_laionet_images_by_part", "sample_release-part-00001"),
            ("laionet_run_6_text_matched_images", ""),
            ("laionet_run_7_laionet_sweep_images_by_release", "sample_release"),
            ("laionet_run_8_image_selection_sweep_by_release", "sample_release"),
            ("laionet_run_9_release_comparison", ""),
            ("laionet_run_10_report_by_release", "sample_release"),
        ]
    # where each output is: LAIONet's file, a per-part asset's files, the tables and figures it writes
    capsys.readouterr()
    assert main(["where", "laionet_clean", "--home", str(home)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        str(home / "assets" / "laionet_clean" / "sample_release.parquet")
    ]
    assert main(["where", "lemma_matches", "--home", str(home)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        str(home / "assets" / "lemma_matches" / f"sample_release-part-0000{i}.parquet") for i in (0, 1)
    ]
    assert (
        main(["where", "lemma_matches", "--partition", "sample_release-part-00001", "--home", str(home)]) == 0
    )
    assert capsys.readouterr().out.splitlines() == [
        str(home / "assets" / "lemma_matches" / "sample_release-part-00001.parquet")
    ]
    assert main(["where", "text_sims", "--home", str(home)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[2].startswith(str(home / "lancedb" / "caption_embeddings__"))
    assert main(["where", "coverage_vs_threshold", "--home", str(home)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        str(home / "assets" / "coverage_vs_threshold" / "sample_release.parquet"),
        str(home / "reports" / "sample_release" / "fig3_coverage_vs_threshold.png"),
    ]
    assert main(["where", "laionet_clean", "--home", str(home / "elsewhere")]) == 1
    assert capsys.readouterr().out == ""
    assert main(["where", "laionet_clen", "--home", str(home)]) == 2
    assert "did you mean laionet_clean?" in capsys.readouterr().err


def test_select_limits_the_run(home):
    assert (
        main(
            [
                "run",
                "--release",
                str(SAMPLE_RELEASE),
                "--profile",
                "tiny",
                "--home",
                str(home),
                "--select",
                "lemma_matches",
            ]
        )
        == 0
    )
    assert len(list((home / "assets" / "lemma_matches").glob("*.parquet"))) == 2
    assert not (home / "assets" / "text_sims").exists()


def test_selecting_laionet_clean_reruns_only_the_selection(home, capsys, web_flags):
    assert (
        main(["run", "--release", str(SAMPLE_RELEASE), "--profile", "tiny", "--home", str(home), *web_flags])
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "run",
                "--release",
                str(SAMPLE_RELEASE),
                "--profile",
                "tiny",
                "--home",
                str(home),
                "--select",
                "laionet_clean",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "laionet_clean,laionet_top50 [laion_sample]: ok" in out
    assert "lemma_matches" not in out.split("; home ")[1]
    assert "LAIONet:" in out


def test_unknown_asset_is_rejected(home, capsys):
    assert (
        main(["run", "--release", str(SAMPLE_RELEASE), "--home", str(home), "--select", "laionet_clen"]) == 2
    )
    assert capsys.readouterr().err == (
        "laionet: --select: unknown asset 'laionet_clen'; did you mean laionet_clean? (laionet assets lists "
        "them); see laionet run --help\n"
    )


def test_unreadable_release_location_is_a_clear_error(home, capsys):
    assert main(["run", "--release", "nosuch://bucket/laion400m/", "--home", str(home)]) == 2
    assert "nosuch://bucket/laion400m/: cannot be opened" in capsys.readouterr().err


def test_failed_part_is_reported_and_others_still_run(home, tmp_path, capsys):
    release = tmp_path / "rel"
    release.mkdir()
    write_part(release / "a.parquet", TEXT=["Male lion with a big mane roaring"])
    write_part(release / "b.parquet", TEXT=[1])
    assert main(["run", "--release", str(release), "--profile", "tiny", "--home", str(home)]) == 1
    captured = capsys.readouterr()
    assert "b.parquet: column 'TEXT' (the caption) has type Int64" in captured.out and "rel-b" in captured.err
    assert (home / "assets" / "lemma_matches" / "rel-a.parquet").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--threshold", "1.5"], "similarity threshold 1.5 is outside [-1, 1]"),
        (
            ["--text-encoder", "open_clip", "--text-model", "ViT-B/32"],
            "unknown open_clip model 'ViT-B/32'; did you mean 'ViT-B-32'?",
        ),
        (
            ["--text-encoder", "sentence_transformers", "--text-model", "/no/such/mpnet"],
            "sentence-transformers model folder '/no/such/mpnet' does not exist",
        ),
        (
            ["--pretrained", "/no/such/clip.pt", "--text-encoder", "open_clip", "--text-model", "ViT-B-32"],
            "CLIP checkpoint file '/no/such/clip.pt' does not exist",
        ),
        (["--min-classes", "2000"], "min_covered_classes 2000 is outside [0, 1000]"),
    ],
)
def test_bad_settings_are_clear_errors(home, capsys, args, message):
    assert (
        main(["run", "--release", str(SAMPLE_RELEASE), "--home", str(home), "--profile", "tiny", *args]) == 2
    )
    assert f"laionet: invalid configuration: {message}" in capsys.readouterr().err


def test_bad_environment_variable(home, capsys, monkeypatch):
    monkeypatch.setenv("LAIONET_BATCH_SIZE", "big")
    assert main(["run", "--release", str(SAMPLE_RELEASE), "--home", str(home)]) == 2
    assert "LAIONET_BATCH_SIZE='big' is not a valid int" in capsys.readouterr().err


def test_flags_reach_the_assets(home):
    assert (
        main(
            [
                "run",
                "--release",
                str(SAMPLE_RELEASE),
                "--home",
                str(home),
                "--profile",
                "tiny",
                "--mode",
                "longest",
                "--threshold",
                "-1",
                "--nsfw-policy",
                "allow_missing",
                "--top-k",
                "1",
                "--select",
                "lemma_matches,text_sims,laionet_clean",
            ]
        )
        == 0
    )
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        matches = instance.get_latest_materialization_event(
            dg.AssetKey("lemma_matches")
        ).asset_materialization.metadata
        clean = instance.get_latest_materialization_event(
            dg.AssetKey("laionet_clean")
        ).asset_materialization.metadata
    assert matches["mode"].value == "longest"
    assert clean["threshold"].value == -1.0 and clean["nsfw_policy"].value == "allow_missing"
    top = pl.read_parquet(home / "assets" / "laionet_top50" / "laion_sample.parquet")
    assert top.height > 1 and top.group_by("wnid").len()["len"].max() == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--models", "timm:resnet5O"], "timm has no architecture 'resnet5O'"),
        (["--models", "torchscript:/no/model.pt"], "TorchScript file '/no/model.pt' does not exist"),
        (["--image-encoder", "ViT-Q-99"], "open_clip has no architecture 'ViT-Q-99'"),
        (["--imagenet-val", "/no/val"], "imagenet_val folder '/no/val' does not exist"),
        (["--download-concurrency", "0"], "download concurrency must be positive, got 0"),
    ],
)
def test_bad_image_side_settings_are_clear_errors(home, capsys, args, message):
    assert (
        main(["run", "--release", str(SAMPLE_RELEASE), "--home", str(home), "--profile", "tiny", *args]) == 2
    )
    assert message in capsys.readouterr().err


def test_bad_boolean_environment_variable(home, capsys, monkeypatch):
    monkeypatch.setenv("LAIONET_OCR", "maybe")
    assert main(["run", "--release", str(SAMPLE_RELEASE), "--home", str(home)]) == 2
    assert "LAIONET_OCR='maybe' is not true or false" in capsys.readouterr().err


def test_image_side_flags_reach_the_resources(home, tmp_path, monkeypatch):
    import laionet_assets.profiles

    built = {}
    real = laionet_assets.profiles.resources_for

    def spy(profile, home, overrides):
        built.update(real(profile, home, overrides))
        return built

    monkeypatch.setattr(laionet_assets.profiles, "resources_for", spy)
    val = tmp_path / "val"
    val.mkdir()
    assert (
        main(
            [
                "run",
                "--release",
                str(SAMPLE_RELEASE),
                "--home",
                str(home),
                "--profile",
                "tiny",
                "--select",
                "imagenet_val",
                "--imagenet-val",
                str(val),
                "--models",
                "clip:tiny",
                "--ocr",
                "false",
            ]
        )
        == 0
    )
    assert built["image_models"].models == ["clip:tiny"] and built["ocr"].enabled is False
    assert built["image_folders"].imagenet_val == str(val)
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        folder = instance.get_latest_materialization_event(
            dg.AssetKey("imagenet_val")
        ).asset_materialization.metadata
    assert folder["folder"].value == str(val)  # the flag reached the asset, not only the resource
    assert "LAIONET_IMAGENET_VAL" not in os.environ  # flags are not smuggled through the environment


def test_demo_materialises_the_whole_graph_offline(demo_home, monkeypatch):
    from laionet_assets.cli.demo import SECOND_SKIPS
    from laionet_assets.graph import asset_plan

    home, out = demo_home
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))  # its dagster.yaml reads it
    assert "LAIONet with images, after the OCR filter:" in out and "report.html" in out
    nearest = pl.read_parquet(home / "assets" / "captions_nearest_laion.parquet").filter("selected")
    assert (
        f"LAION found by caption search alone (nearest to an ImageNet-Captions text, similarity > 0.7): "
        f"{nearest.height} rows over {nearest['wnid'].n_unique()} ImageNet classes"
    ) in out and nearest.height
    plan = asset_plan()
    first_only = set(plan.select(list(SECOND_SKIPS)))
    for asset in plan.everything:
        path = home / "assets" / asset
        if asset in plan.per_release:  # the demo's two releases; the second without the sweep
            releases = ["sample"] if asset in first_only else ["sample", "sample_5b"]
            assert sorted(p.stem for p in path.glob("*.parquet")) == releases, asset
        elif asset in plan.partitioned:  # the sample's two parts and the second release's one
            assert len(list(path.glob("*.parquet"))) == 3, asset
        else:
            assert path.with_suffix(".parquet").exists(), asset
    images = LaionetStorage(home=str(home)).read_asset("laionet_images")
    assert (images["status"] == "ok").sum() > 0 and set(images["status"]) <= {"ok", "http_error", "not_image"}
    reports = home / "reports" / "sample"
    html = (reports / "report.html").read_text()
    assert all(f"fig{n}_" in html for n in (1, 3, 4, 5, 6, 7, 8, 9, 10, 17, 18))
    assert "LAIONet of sample" in html and "src='../fig9_text_vs_synsets.png'" in html
    # the threshold sweep: a random-weight encoder sweeps quantiles; at LAIONet's own threshold its
    # images are laionet_final's
    chosen = pl.read_parquet(home / "assets" / "laionet_sweep_thresholds" / "sample.parquet")
    assert chosen["chosen_as"].to_list() == [
        "LAIONet's threshold",
        *(f"quantile {q:g}" for q in SWEEP_QUANTILES),
    ]
    sweep = pl.read_parquet(home / "assets" / "laionet_threshold_sweep" / "sample.parquet")
    at_laionet = sweep.filter(pl.col("threshold") == chosen["threshold"][0]).row(0, named=True)
    storage = LaionetStorage(home=str(home))
    final = storage.read_asset("laionet_final", partitions=storage.registry.releases()["sample"])
    assert at_laionet["images"] == final.height and at_laionet["classes_covered"] >= final["wnid"].n_unique()
    assert sweep["rows"].is_sorted(descending=True) and sweep["rows"][-1] < sweep["rows"][0]
    assert "fig_laionet_threshold_sweep.png" in html and any(
        c.startswith("top1_equal_") for c in sweep.columns
    )
    # the gallery shows classes both datasets have; the rating study's trials balance LAIONet's side
    # and name thumbnails that exist beside the report, which links both
    shown = pl.read_parquet(home / "assets" / "laionet_gallery" / "sample.parquet")
    assert shown.height and shown.group_by("wnid").agg(pl.col("dataset").n_unique())["dataset"].min() == 2
    trials = read_csv_export(reports / "rating_study_pairs.csv")
    assert trials.height and abs(2 * (trials["laionet_side"] == "left").sum() - trials.height) <= 1
    thumbnails = [c for c in trials.columns if "_thumbnail_" in c]
    assert len(thumbnails) == 4 and all((reports / f).is_file() for c in thumbnails for f in trials[c])
    assert "href='gallery.html'" in html and "href='rating_study_pairs.csv'" in html
    # random models and synthetic images: said first, in the report and the gallery, and in the UI
    banner = html.split("<div class='banner' role='alert'>", 1)[1].split("</div>", 1)[0]
    assert html.index(banner) < html.index("<nav>")
    assert "The models have random weights (" in banner and "timm:mobilenetv3_small_050:random" in banner
    assert "The images and captions are synthetic (" in banner and "data/sample" in banner
    gallery_page = (reports / "gallery.html").read_text()
    assert "The images and captions are synthetic" in gallery_page and "href='report.html'" in gallery_page
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("report"))
        assert "synthetic" in event.asset_materialization.metadata["inputs"].value
    # one release's outputs: its own partition of a release-level asset, its parts of a per-part one
    from laionet_assets.cli.where import outputs

    storage = LaionetStorage(home=str(home))
    assert outputs("laionet_clean", storage, release="sample") == [
        str(home / "assets" / "laionet_clean" / "sample.parquet")
    ]
    assert outputs("report", storage, release="sample")[-1] == str(reports / "report.html")
    assert len(outputs("lemma_matches", storage, release="sample")) == 2
    assert outputs("laionet_clean", storage, release="another") == []
    check_release_comparison(home, out, html)
    check_second_vocabulary(home, out)


def check_release_comparison(home, out: str, html: str) -> None:
    """The demo's second release shares some of the sample's images: the comparison's overlaps
    equal the sets', both releases' reports show it, and every part of it was computed."""
    assert "== a second release, sample_5b" in out
    a, b = (
        pl.read_parquet(home / "assets" / "laionet_clean" / f"{r}.parquet") for r in ("sample_5b", "sample")
    )
    summary = pl.read_parquet(home / "assets" / "release_comparison.parquet")
    assert set(summary.select("release", "baseline").unique().rows()) == {("sample_5b", "sample")}
    values = dict(summary.filter(pl.col("model").is_null()).select("measure", "value").iter_rows())
    shared = set(a["url"]) & set(b["url"])
    assert values["urls_shared"] == len(shared) > 0 and len(shared) < a.height  # some shared, some new
    assert values["rows"] == a.height and values["rows_baseline"] == b.height
    assert values["intra_class_classes_compared"] > 0 and values["images_shared"] > 0
    assert summary.filter(pl.col("measure") == "top1_equal_difference").height > 0
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        meta = instance.get_latest_materialization_event(
            dg.AssetKey("release_comparison")
        ).asset_materialization.metadata
    assert meta["not_computed"].value == {}
    assert "Against the other releases of the home" in html and "../fig_release_comparison.png" in html
    other = (home / "reports" / "sample_5b" / "report.html").read_text()
    assert "Against the other releases of the home" in other


def check_second_vocabulary(home, out: str) -> None:
    """The demo's CIFAR-100 run: the whole graph in its own home, on its own sample; LAIONet as the
    paper loop over CIFAR-100's lemmas selects it; the class-name folder is the comparison; the
    ImageNet classifier skipped with the reason; ImageNet's outputs untouched."""
    from laionet_assets.cli.demo import SECOND_SAMPLE
    from laionet_assets.core.text.vocabularies import load_vocabulary
    from laionet_assets.testing.reference import paper_reference

    cifar = home / "vocabularies" / "cifar100"
    assert f"== a second vocabulary: cifar100 on its own sample ({SECOND_SAMPLE})" in out
    assert f"LAIONET_VOCABULARY=cifar100 laionet ui --home {home}" in out
    classes = load_vocabulary("cifar100")
    part = pl.read_parquet(SECOND_SAMPLE / "laion_sample" / "part-00000.parquet")
    single = {
        str(part["SAMPLE_ID"][row]): wnids[0]
        for row, (_, wnids) in paper_reference(part["TEXT"].to_list(), classes).items()
        if len(wnids) == 1 and part["NSFW"][row] == "UNLIKELY"
    }
    clean = pl.read_parquet(cifar / "assets" / "laionet_clean" / "cifar100-sample.parquet")
    assert dict(clean.select("sample_id", "wnid").iter_rows()).items() <= single.items() and clean.height
    assert f"LAIONet: {clean.height} rows over {clean['wnid'].n_unique()} classes of cifar100" in out
    folder = pl.read_parquet(cifar / "assets" / "imagenet_val.parquet")  # read by class name
    names = dict(zip(classes["wnid"], classes["class_name"]))
    labelled = folder.select("image_id", "wnid").rows()
    assert folder.height and all(image.split("/")[0] == names[wnid] for image, wnid in labelled)
    compared = pl.read_parquet(
        cifar / "assets" / "intra_class_laionet_vs_imagenet" / "cifar100-sample.parquet"
    )
    assert compared.height >= 5 and set(compared["wnid"]) <= set(folder["wnid"]) & set(clean["wnid"])
    assert (compared["difference"] < 0).mean() > 0.5  # the sample's LAIONet images are the noisier
    with (
        mock.patch.dict(os.environ, {"DAGSTER_HOME": str(cifar / "dagster")}),  # its dagster.yaml reads it
        dg.DagsterInstance.from_config(str(cifar / "dagster")) as instance,
    ):
        meta = instance.get_latest_materialization_event(
            dg.AssetKey("imagenet_val_predictions")
        ).asset_materialization.metadata
    assert "another label space" in str(meta["models_skipped"].value)
    html = (cifar / "reports" / "cifar100-sample" / "report.html").read_text()
    assert "<td class=text>cifar100</td>" in html and "fig6_" in html
    assert pl.read_parquet(home / "assets" / "imagenet_synsets.parquet").height == 1000


def test_a_union_of_folders_needs_one_name(home, capsys):
    second = SAMPLE_RELEASE.parent / "releases" / "laion400m"
    args = ["run", "--release", str(SAMPLE_RELEASE), "--release", str(second), "--home", str(home)]
    assert main([*args, "--profile", "tiny"]) == 2
    assert "a union of several --release folders needs one --name" in capsys.readouterr().err
    assert main([*args[:3], "--name", "!!!", "--profile", "tiny", "--home", str(home)]) == 2
    assert "has no characters usable in a partition key" in capsys.readouterr().err


def test_run_shows_the_release_before_it_starts_and_refuses_an_unfiltered_one(home, capsys):
    datacomp = SAMPLE_RELEASE.parent / "releases" / "datacomp"
    assert main(["run", "--release", str(datacomp), "--profile", "tiny", "--home", str(home)]) == 2
    captured = capsys.readouterr()
    assert "layout datacomp (DataComp CommonPool); columns sample_id=uid, url=url, text=text" in captured.out
    assert "embeddings text ViT-B-32/openai 512-d; text ViT-L-14/openai 768-d" in captured.out
    assert (
        "datacomp-00000000000000000000000000000001 <- 00000000000000000000000000000001.parquet"
        in captured.out
    )
    assert "has no safety signal" in captured.err and "--nsfw-policy none" in captured.err
    assert not (home / "assets" / "lemma_matches").exists()  # nothing ran


def test_layout_and_columns_flags(home, tmp_path, capsys):
    relaion = SAMPLE_RELEASE.parent / "releases" / "relaion5b"
    args = ["run", "--release", str(relaion), "--home", str(home), "--select", "imagenet_synsets"]
    assert main([*args, "--layout", "laion400m"]) == 2
    assert "layout laion400m needs column(s) NSFW, SAMPLE_ID, TEXT, URL" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--layout", "laion6b"])
    assert "argument --layout: 'laion6b' is not one of auto, laion400m" in capsys.readouterr().err
    assert main([*args, "--columns", "txt=caption"]) == 2
    assert "--columns: unknown key 'txt'" in capsys.readouterr().err


def test_embeddings_model_names_what_a_release_ships(home, capsys, monkeypatch):
    emb = SAMPLE_RELEASE.parent / "releases" / "laion400m-emb"
    monkeypatch.setenv("LAIONET_EMBEDDINGS_MODEL", "ViT-L-14/openai")  # the variable, as the sensor reads it
    args = [
        "run",
        "--release",
        str(emb),
        "--home",
        str(home),
        "--profile",
        "tiny",
        "--select",
        "imagenet_synsets",
    ]
    assert main(args) == 0
    assert "embeddings text ViT-L-14/openai; image ViT-L-14/openai" in capsys.readouterr().out
    assert main([*args, "--embeddings-model", "tiny/random-seed0"]) == 0  # the flag wins
    assert "embeddings text tiny/random-seed0; image tiny/random-seed0" in capsys.readouterr().out


def test_a_second_vocabulary_runs_the_text_side_in_its_own_home(home, capsys):
    """``--vocabulary cifar100`` on the sample release: lemma_matches as the paper's loop over
    CIFAR-100's lemmas, every output under <home>/vocabularies/cifar100/, nothing of ImageNet's."""
    from laionet_assets.core.text.vocabularies import load_vocabulary
    from laionet_assets.testing.reference import paper_reference

    args = ["run", "--release", str(SAMPLE_RELEASE), "--profile", "tiny", "--home", str(home)]
    selection = "imagenet_synsets,lemma_matches,text_sims,laionet_clean"
    assert main([*args, "--vocabulary", "cifar100", "--select", selection]) == 0
    cifar = home / "vocabularies" / "cifar100"
    assert (cifar / "dagster").is_dir() and not (home / "assets").exists()  # ImageNet's home untouched
    classes = pl.read_parquet(cifar / "assets" / "imagenet_synsets.parquet")
    assert classes.drop("lemmas").equals(load_vocabulary("cifar100").drop("lemmas"))
    matched = pl.read_parquet(cifar / "assets" / "lemma_matches" / "*.parquet")
    parts = [pl.read_parquet(p) for p in sorted(SAMPLE_RELEASE.glob("*.parquet"))]
    expected = {}
    for part in parts:
        for row, (lemmas, wnids) in paper_reference(part["TEXT"].to_list(), classes).items():
            expected[part["SAMPLE_ID"][row]] = (lemmas, wnids)
    got = {s: (sorted(lem), w) for s, lem, w in matched.select("sample_id", "lemmas", "wnids").iter_rows()}
    assert got == {str(k): v for k, v in expected.items()} and got
    clean = pl.read_parquet(cifar / "assets" / "laionet_clean" / "laion_sample.parquet")
    assert clean.height and set(clean["wnid"]) <= set(classes["wnid"])
    # ImageNet's run later goes to <home> itself
    assert main([*args, "--select", "imagenet_synsets"]) == 0
    assert pl.read_parquet(home / "assets" / "imagenet_synsets.parquet").height == 1000
    assert pl.read_parquet(cifar / "assets" / "imagenet_synsets.parquet").height == 100


def test_a_run_whose_images_are_unreachable_exits_1_with_the_status_breakdown(home, capsys, network_attempts):
    """The tests reach 127.0.0.1 only: the suite's guard refuses the lookup of the sample
    release's image host, so every image is a connection_error, and nothing was sent."""
    args = ["--profile", "tiny", "--home", str(home), "--download-retries", "0"]
    assert main(["run", "--release", str(SAMPLE_RELEASE), *args]) == 1
    captured = capsys.readouterr()
    assert "  laionet_images_downloaded [laion_sample-part-00000]: FAILED (samples " in captured.out
    assert "ok_share 0.0" in captured.out and "status_breakdown: connection_error 83" in captured.out
    assert {a["target"] for a in network_attempts()} == {"images.example.org"}
    assert "  stopped before " in captured.out  # nothing downstream of the blocking check ran
    assert "laionet: check laionet_images_downloaded failed: " in captured.err
    assert not (home / "assets" / "accuracy").exists()


def test_run_defaults_to_the_paper_profile_and_says_which_weights_it_cannot_load(home, capsys):
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # the tests never reach a model hub
    assert main(["run", "--release", str(SAMPLE_RELEASE), "--home", str(home)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("laionet: the paper profile's weights cannot be loaded: ")
    assert "open_clip ViT-B-32 'openai'" in err and "run with --profile offline" in err
    # steps that load no model need no weights
    assert (
        main(["run", "--release", str(SAMPLE_RELEASE), "--home", str(home), "--select", "lemma_matches"]) == 0
    )


@pytest.mark.parametrize(
    "args, line",
    [
        (
            ["--nsfw-policy", "strict"],
            "laionet run: argument --nsfw-policy: 'strict' is not one of auto, require_unlikely, "
            "allow_missing, max_unsafe_score, none",
        ),
        (
            ["--nsfw-policy", "require_unlikly"],
            "laionet run: argument --nsfw-policy: 'require_unlikly' is not one of auto, require_unlikely, "
            "allow_missing, max_unsafe_score, none; did you mean 'require_unlikely'?",
        ),
        (
            ["--thresold", "0.6"],
            "laionet run: unrecognized arguments: --thresold 0.6; did you mean --threshold?",
        ),
        (["--threshold", "abc"], "laionet run: argument --threshold: 'abc' is not a valid float"),
    ],
)
def test_a_bad_flag_is_one_line_with_the_closest_choice(home, capsys, args, line):
    with pytest.raises(SystemExit) as exit:
        main(["run", "--release", str(SAMPLE_RELEASE), "--home", str(home), *args])
    assert exit.value.code == 2
    assert capsys.readouterr().err == f"{line}; see laionet run --help\n"


def test_a_misspelt_required_flag_is_named_not_reported_missing(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--relase", "x"])
    assert capsys.readouterr().err == (
        "laionet run: unrecognized arguments: --relase; did you mean --release?; see laionet run --help\n"
    )


@pytest.mark.parametrize(
    "variables, args, line",
    [
        (
            {"LAIONET_EXECUTOR": "dask"},
            [],
            "LAIONET_EXECUTOR='dask' is not one of multiprocess, in_process, k8s, celery",
        ),
        ({"LAIONET_PROFILE": "fast"}, [], "LAIONET_PROFILE='fast' is not one of paper, offline, tiny"),
        ({"LAIONET_THRESHOLD": "abc"}, ["--profile", "tiny"], "LAIONET_THRESHOLD='abc' is not a valid float"),
        ({}, ["--home", "/etc/hostname"], "LAIONET_HOME /etc/hostname: is a file, not a folder"),
    ],
)
def test_a_bad_variable_or_home_is_one_line_and_exit_2(tmp_path, variables, args, line):
    """As a user meets them: a fresh process, whose code location reads the variables too."""
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "LAIONET_HOME": str(tmp_path / "home"), **variables}
    laionet = str(Path(sys.executable).with_name("laionet"))
    done = subprocess.run(
        [laionet, "run", "--release", str(SAMPLE_RELEASE), *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [f"laionet: {line}; see laionet run --help"]


def test_quiet_prints_the_outcome_only(home, capsys):
    args = ["run", "--release", str(SAMPLE_RELEASE), "--profile", "tiny", "--home", str(home)]
    assert main([*args, "--select", "lemma_matches,text_sims", "-q"]) == 0
    out = capsys.readouterr().out
    assert " rows/s, ETA " not in out and ": ok in " not in out and "laionet ui --home" in out


def test_run_says_it_runs_in_this_process_when_the_executor_is_a_cluster(home, capsys, monkeypatch):
    monkeypatch.setenv("LAIONET_EXECUTOR", "celery")
    monkeypatch.setenv("LAIONET_CELERY_BROKER", "redis://:secret@127.0.0.1:9/0")  # nobody answers there
    code = main(
        ["run", "--release", str(home / "no-such-release"), "--home", str(home), "--profile", "offline"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "LAIONET_EXECUTOR=celery applies to runs launched from the UI" in err
    assert "laionet run runs its steps in this process" in err and "secret" not in err


def test_a_part_error_of_several_lines_is_shown_whole():
    from dagster._utils.error import SerializableErrorInfo

    from laionet_assets.cli.run import root_error_message

    own = SerializableErrorInfo(
        "BadPartError: p.tsv: 2 problems:\n  line 2: …\n  line 9: …\n", [], "BadPartError"
    )
    wrapped = SerializableErrorInfo(
        "Error occurred while executing step", [], "DagsterExecutionStepExecutionError", own
    )
    assert (
        root_error_message(wrapped)
        == "BadPartError: p.tsv: 2 problems:\n        line 2: …\n        line 9: …"
    )
