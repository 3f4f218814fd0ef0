"""The evaluation of a release over its parts' image side: accuracy, intra-class similarity, the
report (one run per release)."""

import dagster as dg

from laionet_assets.defs.lib import ON_DEMAND_ASSETS
from laionet_assets.defs.partitions import IMAGE_SIDE

evaluation_job = dg.define_asset_job(
    "laionet_evaluation_job",
    selection=(IMAGE_SIDE.downstream(include_self=False) - ON_DEMAND_ASSETS).required_multi_asset_neighbors(),
    description="Accuracy, intra-class similarity and the report of one release over its parts' image side",
)
