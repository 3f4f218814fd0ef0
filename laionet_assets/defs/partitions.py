"""How the graph is partitioned, and the two sides of a LAION part.

One dynamic partition per LAION release part, key ``<release>-<part>`` in ``[a-z0-9_-]``.  A
per-part asset declares its side with ``TEXT_PART`` or ``IMAGE_PART`` (its partitions, backfill
policy and a tag); the jobs select by that tag, so a new per-part asset joins its job by its
declaration alone."""

import dagster as dg

laion_parts = dg.DynamicPartitionsDefinition(name="laion_parts")

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
TEXT_SIDE = dg.AssetSelection.tag(PART_SIDE_TAG, "text")
IMAGE_SIDE = dg.AssetSelection.tag(PART_SIDE_TAG, "image")
