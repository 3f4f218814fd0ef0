"""The Dagster layer, one folder per stage of the paper (its assets, checks, jobs and sensors side by
side); ``laionet_assets.definitions`` loads every module below this package."""

import warnings

# Per-part backfill policies are a Dagster beta the project relies on on purpose, and a part's job
# mixes the text side's one-part and batched policies (Dagster then takes the smaller): said once
# here, not at every start of the UI, a run or a worker.
warnings.filterwarnings(
    "ignore", message="Parameter `backfill_policy` of function `asset` is currently in beta"
)
warnings.filterwarnings(
    "ignore", message="Asset job laion_part_job materializes assets with varying BackfillPolicies"
)
