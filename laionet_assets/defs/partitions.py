"""How the graph is partitioned: by release part, and by release.

``laion_parts``: one dynamic partition per LAION release part, key ``<release>-<part>`` in
``[a-z0-9_-]``.  A per-part asset declares its side with ``TEXT_PART`` or ``IMAGE_PART`` (its
partitions, backfill policy and a tag); the jobs select by that tag, so a new per-part asset joins
its job by its declaration alone.

``laion_releases``: one dynamic partition per release (``laion400m``, ``relaion5b``, a union such
as ``laion5b``): every asset computed from one LAIONet declares ``RELEASE_LEVEL``.  Dagster maps
no partition of one dynamic definition to another, so the map lives in the registry
(``core.releases.registry``): an input declared ``of_release_parts()`` receives exactly the parts
of the step's release, one declared ``of_part_release()`` the release of the step's part (the IO
manager applies both).  In the UI's lineage these inputs show as depending on every partition.
"""

import dagster as dg

laion_parts = dg.DynamicPartitionsDefinition(name="laion_parts")
laion_releases = dg.DynamicPartitionsDefinition(name="laion_releases")

PART_SIDE_TAG = "laionet/part_side"
# A backfill runs up to this many parts per run of the image side: OCR and models load once for all.
IMAGE_PARTS_PER_RUN = 4

# The text side of a part (matching, scoring, the caption index): runs as soon as the part lands.
TEXT_PART = {"partitions_def": laion_parts, "tags": {PART_SIDE_TAG: "text"}}
# The image side of a part (downloads, OCR filter, embeddings, predictions): runs once LAIONet is built.
IMAGE_PART = {
    "partitions_def": laion_parts,
    "backfill_policy": dg.BackfillPolicy.multi_run(max_partitions_per_run=IMAGE_PARTS_PER_RUN),
    "tags": {PART_SIDE_TAG: "image"},
}
# Computed from one release's LAIONet: one partition per release.
RELEASE_LEVEL = {"partitions_def": laion_releases}
TEXT_SIDE = dg.AssetSelection.tag(PART_SIDE_TAG, "text")
IMAGE_SIDE = dg.AssetSelection.tag(PART_SIDE_TAG, "image")

# How an input crosses between the two definitions (read by the IO manager)
CROSSING = "laionet/crossing"
RELEASE_PARTS, PART_RELEASE = "release_parts", "part_release"


def of_release_parts(**kwargs) -> dg.AssetIn:
    """A release-level step's input from a per-part asset: the parts of the step's release."""
    return dg.AssetIn(
        partition_mapping=dg.AllPartitionMapping(), metadata={CROSSING: RELEASE_PARTS}, **kwargs
    )


def of_part_release(**kwargs) -> dg.AssetIn:
    """A per-part step's input from a release-level asset: the release of the step's part."""
    return dg.AssetIn(partition_mapping=dg.AllPartitionMapping(), metadata={CROSSING: PART_RELEASE}, **kwargs)


def crossing_dep(asset: str) -> dg.AssetDep:
    """A dependency read by the step itself (not loaded) across the two definitions."""
    return dg.AssetDep(asset, partition_mapping=dg.AllPartitionMapping())
