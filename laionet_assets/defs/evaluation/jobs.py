"""The evaluation over every part's image side: accuracy, intra-class similarity, the report."""

import dagster as dg

from laionet_assets.defs.partitions import IMAGE_SIDE

evaluation_job = dg.define_asset_job(
    "laionet_evaluation_job",
    selection=IMAGE_SIDE.downstream(include_self=False).required_multi_asset_neighbors(),
    description="Accuracy, intra-class similarity and the report over every part's image side",
)
