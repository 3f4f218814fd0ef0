"""A release is a dimension: each release in a home gets the LAIONet a home of its own would give
it, never mixed with another's; adding a release re-runs no part's work; a union release (several
folders under one name) keeps each URL once and counts the rest."""

import shutil

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from laionet_assets.core.io.atomic import write_parquet_atomic
from laionet_assets.core.releases.registry import ReleaseRegistry
from laionet_assets.defs.partitions import laion_parts, laion_releases
from laionet_assets.graph import asset_plan
from laionet_assets.profiles import resources_for
from laionet_assets.testing.fixtures import DEFS, SAMPLE_RELEASE, select

LAIONET = select("laionet_clean")
TEXT_SIDE = ["lemma_matches", "text_sims"]


class Home:
    """A home whose releases are registered and built the way ``laionet run`` does it."""

    def __init__(self, root, synsets):
        self.root = root
        self.instance = dg.DagsterInstance.ephemeral()
        self.resources = resources_for("tiny", str(root), {})
        self.registry = ReleaseRegistry(root)
        write_parquet_atomic(synsets, root / "assets" / "imagenet_synsets.parquet")

    def add(self, name: str, *folders) -> list[str]:
        """Register ``folders`` as the release ``name`` (a union when several) and build its text
        side and LAIONet; its part keys."""
        keys = []
        for folder in folders:
            prefix = folder.name if len(folders) > 1 else None
            keys += [p.key for p in self.registry.register(str(folder), name, part_prefix=prefix).parts]
        self.instance.add_dynamic_partitions(laion_parts.name, keys)
        self.instance.add_dynamic_partitions(laion_releases.name, [name])
        for names, key in asset_plan().runs([*TEXT_SIDE, *LAIONET], keys, name):
            result = self.materialize(names, key)
            assert result.success, (names, key)
        return keys

    def materialize(self, names, key):
        return dg.materialize(
            DEFS, selection=names, partition_key=key, instance=self.instance, resources=self.resources
        )

    def table(self, asset: str, partition: str) -> pl.DataFrame:
        return pl.read_parquet(self.root / "assets" / asset / f"{partition}.parquet")

    def materializations(self, asset: str, partition: str) -> int:
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=100
        ).records
        return len(records)

    def metadata(self, asset: str, partition: str) -> dict:
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
        ).records
        return {k: getattr(v, "value", v) for k, v in records[0].asset_materialization.metadata.items()}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The bundled sample's two parts as two releases of one part each."""
    root = tmp_path_factory.mktemp("releases")
    for i, name in enumerate(("first", "second")):
        (root / name).mkdir()
        shutil.copy(SAMPLE_RELEASE / f"part-0000{i}.parquet", root / name / "part-00000.parquet")
    return root


def test_two_releases_in_one_home_each_get_the_laionet_of_a_home_of_their_own(folders, synsets, tmp_path):
    shared = Home(tmp_path / "shared", synsets)
    first_keys = shared.add("first", folders / "first")
    before = {(a, k): shared.table(a, k) for a in TEXT_SIDE for k in first_keys}
    first = shared.table("laionet_clean", "first")
    second_keys = shared.add("second", folders / "second")
    # adding a release runs its own parts only: the first's were materialised once, and are unchanged
    for asset in TEXT_SIDE:
        for key in first_keys:
            assert shared.materializations(asset, key) == 1, (asset, key)
            assert_frame_equal(shared.table(asset, key), before[(asset, key)])
    assert_frame_equal(shared.table("laionet_clean", "first"), first)
    assert shared.materializations("laionet_clean", "first") == 1
    for name, keys in (("first", first_keys), ("second", second_keys)):
        alone = Home(tmp_path / name, synsets)
        alone.add(name, folders / name)
        for asset in LAIONET:
            assert_frame_equal(shared.table(asset, name), alone.table(asset, name), check_row_order=True)
        clean = shared.table("laionet_clean", name)
        assert clean.height and set(clean["release_part"]) == set(keys)  # never the other's rows
        assert shared.metadata("laionet_clean", name)["release_parts"] == keys
    assert shared.registry.releases() == {"first": first_keys, "second": second_keys}


def test_a_union_release_keeps_each_url_once_and_counts_the_repeats(folders, synsets, tmp_path):
    """Two folders under one name whose parts overlap: the same images (URL and caption) in both,
    and rows of their own."""
    union = tmp_path / "union"
    for name in ("2b-en", "2b-multi"):
        (union / name).mkdir(parents=True)
    base = pl.read_parquet(folders / "first" / "part-00000.parquet")
    base.write_parquet(union / "2b-en" / "part-00000.parquet")
    overlap = base.head(60).with_columns(pl.col("SAMPLE_ID") + 100_000)  # same URLs, new ids
    own = pl.read_parquet(folders / "second" / "part-00000.parquet")
    pl.concat([overlap, own]).write_parquet(union / "2b-multi" / "part-00000.parquet")
    home = Home(tmp_path / "home", synsets)
    keys = home.add("laion5b", union / "2b-en", union / "2b-multi")
    assert keys == ["laion5b-2b-en-part-00000", "laion5b-2b-multi-part-00000"]  # two part-00000, two parts
    clean = home.table("laionet_clean", "laion5b")
    assert clean["url"].drop_nulls().is_unique().all()
    # the slow way: every selected row of both folders, the repeated URLs counted
    every = pl.concat(
        [_selected_alone(folder, synsets, tmp_path) for folder in (union / "2b-en", union / "2b-multi")]
    )
    repeated = every.height - every["url"].n_unique()
    assert repeated > 0
    meta = home.metadata("laionet_clean", "laion5b")
    assert meta["dropped_duplicate_url"] == repeated and clean.height == every.height - repeated
    assert meta["release_folders"] == [str(union / "2b-en"), str(union / "2b-multi")]
    assert set(clean["url"]) == set(every["url"])


def _selected_alone(folder, synsets, tmp_path) -> pl.DataFrame:
    """LAIONet of one folder in a home of its own."""
    alone = Home(tmp_path / f"alone-{folder.name}", synsets)
    alone.add(folder.name, folder)
    return alone.table("laionet_clean", folder.name)


def test_folders_of_two_layouts_form_one_release_with_the_mix_in_its_metadata(synsets, tmp_path):
    """LAION-400M's tagged parts and Re-LAION-5B's scored ones under one name: one LAIONet, each
    row filtered by the signal its part carries, the layouts counted, the shared URLs once."""
    samples = SAMPLE_RELEASE.parent / "releases"
    home = Home(tmp_path / "home", synsets)
    keys = home.add("mixed", samples / "laion400m", samples / "relaion5b")
    meta = home.metadata("laionet_clean", "mixed")
    assert meta["release_layouts"] == {"laion400m": 2, "relaion5b": 2} and len(keys) == 4
    assert meta["dropped_duplicate_url"] > 0  # the two samples hold the same images
    clean = home.table("laionet_clean", "mixed")
    assert clean["url"].drop_nulls().is_unique().all() and set(clean["release_part"]) <= set(keys)
