"""``laionet demo``: the bundled sample release, its web (served on 127.0.0.1) and its labelled image
folders; ``--release-layouts``: the text side on the sample of every release layout."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from laionet_assets import settings

if TYPE_CHECKING:
    pass

from laionet_assets.cli.home import REPO_ROOT
from laionet_assets.cli.run import run_release
from laionet_assets.testing.web import LOOPBACK, ImageServer

SAMPLE = REPO_ROOT / "data" / "sample"


SAMPLE_RELEASE = SAMPLE / "laion_sample"


SAMPLE_WEB_PREFIX = "https://images.example.org/"


# The demo's labelled data: defaults the environment and flags still override.
SAMPLE_SETTINGS = {
    "imagenet_val": "imagenet_val",
    "imagenetv2_a": "imagenetv2_a",
    "imagenetv2_b": "imagenetv2_b",
    "imagenetv2_c": "imagenetv2_c",
    "imagenet_captions": "imagenet_captions.json",
}


# The demo's second vocabulary (does caption-only selection make other curated datasets more
# diverse too?): CIFAR-100 on its own small release, web and class-name image folder
# (scripts/make_sample_cifar100.py), in <home>/vocabularies/cifar100/.
SECOND_VOCABULARY = "cifar100"


SECOND_SAMPLE = SAMPLE / SECOND_VOCABULARY


SECOND_SETTINGS = {"vocabulary": SECOND_VOCABULARY, "imagenet_val": str(SECOND_SAMPLE / "test")}


@contextmanager
def sample_web():
    """The demo's stand-in for the web: data/sample/web served on 127.0.0.1; yields the URL rewrite
    that sends the sample release's host there (on loopback: runs allow it, ``LOOPBACK``)."""
    with ImageServer(folder=SAMPLE / "web") as server:
        yield {SAMPLE_WEB_PREFIX: server.url("")}


SECOND_RELEASE = "sample_5b"  # the demo's second release: some of the sample's rows, and new ones


# what the second release leaves out: the threshold sweep and the experiments (their downloads,
# embeddings and OCR would double the demo's time; the first release shows them)
SECOND_SKIPS = (
    "laionet_sweep_images",
    "laionet_threshold_sweep",
    "laionet_image_selected",
    "selection_comparison",
    "rating_study_results",
)


def second_selection() -> str:
    """What the demo builds of its second release: everything but ``SECOND_SKIPS`` and the caption
    search over the whole home (built with the first release)."""
    from laionet_assets.graph import asset_plan

    plan = asset_plan()
    home_wide = [a for a in plan.order if a not in plan.per_release and a not in plan.partitioned]
    skipped = {*plan.select([*SECOND_SKIPS]), *home_wide}
    return ",".join(a for a in plan.everything if a not in skipped or a == "release_comparison")


def write_second_release(folder: Path) -> Path:
    """The demo's second release, written as Re-LAION-5B ships its parts: the sample's rows of even
    sample id (the images and captions it shares with the first release) and the CIFAR-100
    sample's captions (its own)."""
    import polars as pl

    from laionet_assets.core.releases.read import read_part
    from laionet_assets.core.releases.samples import canonical_rows, write_release
    from laionet_assets.core.releases.scan import scan_release

    def rows(location: Path) -> pl.DataFrame:
        return pl.concat([read_part(p.to_json())[0] for p in scan_release(str(location)).parts])

    shared = rows(SAMPLE_RELEASE).filter(pl.col("sample_id").cast(pl.Int64) % 2 == 0)
    new = rows(SECOND_SAMPLE / "laion_sample")
    if not folder.exists():
        write_release("relaion5b", folder, canonical_rows(pl.concat([shared, new])), parts=1)
    return folder


def write_simulated_answers(root: Path, profile: str) -> Path:
    """The demo's answers to its rating study: ``rating_study_pairs.csv`` answered by three
    simulated raters (``core.analysis.ratings.simulated_answers``: each agrees with CLIP's
    answer to a trial with probability 0.8), written beside it as
    ``rating_answers_SIMULATED.csv``.  Simulated, never people: every output built from it says so."""
    from laionet_assets.core.analysis.ratings import simulated_answers
    from laionet_assets.core.io.exports import read_csv_export, write_csv_export
    from laionet_assets.defs.report.gallery import RATING_CSV
    from laionet_assets.profiles import resources_for

    storage = resources_for(profile, str(root))["storage"]
    trials = read_csv_export(storage.report_path(RATING_CSV, "sample"))
    target = storage.report_path(SIMULATED_ANSWERS, "sample")
    write_csv_export(simulated_answers(trials), target)
    return target


SIMULATED_ANSWERS = "rating_answers_SIMULATED.csv"
# the experiments on the sample: it ships no image vectors (its candidates' images are downloaded
# from the local web), and holds a handful of images per class (3 in every set are compared)
DEMO_EXPERIMENTS = {"image_selected_downloads": True, "matched_min_images": 3}


def run_demo(profile: str, select: str | None, home: str | None, chosen: dict) -> int:
    """The bundled sample: its release, its web (served locally) and its image folders, with the
    experiments (selection by image, with the candidates' images downloaded; the rating study
    answered by simulated raters); then, unless a selection or a vocabulary is given, a second
    release that shares some of its images (``SECOND_RELEASE``; ``release_comparison`` compares
    the two) and the whole graph again for CIFAR-100 on its own sample (``SECOND_VOCABULARY``)."""
    environment = settings.env_names()
    sample = {k: str(SAMPLE / v) for k, v in SAMPLE_SETTINGS.items() if k not in environment}
    for name, value in DEMO_EXPERIMENTS.items():
        if name not in environment:
            sample[name] = value
    flags = {**sample, "url_rewrites": None, "download_allow": LOOPBACK, **chosen}
    with sample_web() as rewrites:
        flags["url_rewrites"] = rewrites
        code = run_release(str(SAMPLE_RELEASE), "sample", profile, select, home, flags)
        if select or "vocabulary" in chosen or "vocabulary" in environment:
            return code
        root = Path(home or settings.process_setting("home")).resolve()
        second = write_second_release(root / "demo-releases" / SECOND_RELEASE)
        print(f"\n== a second release, {SECOND_RELEASE}: some of the sample's images and new ones ({second})")
        code = max(code, run_release(str(second), SECOND_RELEASE, profile, second_selection(), home, flags))
        # the rating study answered (by simulated raters), and the first release's report again, now
        # that there is a release to compare it with
        answers = write_simulated_answers(root, profile)
        print(f"\n== the rating study answered by three SIMULATED raters (not people): {answers}")
        again = {**flags, "rating_answers": str(answers)}
        code = max(
            code,
            run_release(
                str(SAMPLE_RELEASE), "sample", profile, "rating_study_results,report", home, again, quiet=True
            ),
        )
        print(f"\n== a second vocabulary: {SECOND_VOCABULARY} on its own sample ({SECOND_SAMPLE})")
        second = run_release(
            str(SECOND_SAMPLE / "laion_sample"),
            f"{SECOND_VOCABULARY}-sample",
            profile,
            None,
            home,
            {"url_rewrites": rewrites, "download_allow": LOOPBACK, **chosen, **SECOND_SETTINGS},
        )
        return max(code, second)


RELEASE_LAYOUTS_SELECTION = "lemma_matches,text_sims,laionet_clean"


def run_release_layouts(profile: str, home: str | None, chosen: dict) -> int:
    """``laionet demo --release-layouts``: lemma_matches through laionet_clean on the sample of
    every release layout (data/sample/releases/<layout>), each in its own home under
    ``<home>/release-layouts/``, then one table comparing them."""
    import polars as pl

    from laionet_assets.core.io.atomic import write_parquet_atomic
    from laionet_assets.core.releases.layouts import RELEASE_LAYOUTS

    base = Path(home or settings.process_setting("home")).resolve() / "release-layouts"
    results, synsets, status = [], None, 0
    for layout, spec in RELEASE_LAYOUTS.items():
        layout_home = base / layout
        values = dict(chosen)
        if spec.safety == "none":  # an explicit choice, recorded in metadata: never a silent pass
            values.setdefault("nsfw_policy", "none")
            values.setdefault("nsfw_policy_required", "none")
        if synsets is not None and not (layout_home / "assets" / "imagenet_synsets.parquet").exists():
            write_parquet_atomic(synsets, layout_home / "assets" / "imagenet_synsets.parquet")  # WordNet once
        print(f"\n== {layout}: {spec.release}")
        code = run_release(
            str(SAMPLE / "releases" / layout),
            layout,
            profile,
            RELEASE_LAYOUTS_SELECTION,
            str(layout_home),
            values,
        )
        status = max(status, code)
        assets = layout_home / "assets"
        if synsets is None and (assets / "imagenet_synsets.parquet").exists():
            synsets = pl.read_parquet(assets / "imagenet_synsets.parquet")
        matched = pl.read_parquet(assets / "lemma_matches" / "*.parquet") if code == 0 else None
        clean = pl.read_parquet(assets / "laionet_clean" / f"{layout}.parquet") if code == 0 else None
        results.append(
            {
                "layout": layout,
                "safety": spec.safety,
                "policy": values.get("nsfw_policy", "auto"),
                "matched_captions": None if matched is None else matched.height,
                "laionet_rows": None if clean is None else clean.height,
                "laionet_classes": None if clean is None else clean["wnid"].n_unique(),
            }
        )
    print()
    with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        print(pl.DataFrame(results))
    return status
