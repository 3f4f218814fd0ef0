"""The image side of one LAION part as a job (backfilled over every part once LAIONet is built)."""

import dagster as dg

from laionet_assets.defs.partitions import IMAGE_SIDE

image_part_job = dg.define_asset_job(
    "laionet_image_part_job",
    selection=IMAGE_SIDE,
    description="The image side of one LAION part: downloads, OCR filter, image embeddings, predictions",
)
