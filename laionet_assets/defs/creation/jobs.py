"""The jobs of LAIONet's creation: the text side of one part, and the rebuild of one release's
LAIONet from its materialised parts."""

import dagster as dg

from laionet_assets.defs.partitions import IMAGE_SIDE, TEXT_SIDE

part_job = dg.define_asset_job(
    "laion_part_job",
    selection=TEXT_SIDE,
    description="The text side of one LAION part: lemma_matches, text_sims and the caption index",
)
refresh_job = dg.define_asset_job(
    "laionet_refresh_job",
    # everything downstream of the parts' union and the external inputs, multi-asset siblings
    # included, short of the per-part image side and what reads it
    selection=dg.AssetSelection.assets("laionet_clean", "imagenet_val", "imagenet_captions")
    .required_multi_asset_neighbors()
    .downstream()
    - IMAGE_SIDE.downstream(),
    description="Rebuild one release's LAIONet (and its checks) from its materialised parts",
)
