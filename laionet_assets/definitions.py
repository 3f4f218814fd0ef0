"""The Dagster code location: assets, checks, resources (per LAIONET_PROFILE), executor.

Every asset of a module under ``laionet_assets/assets/`` is in the graph: adding an asset is
writing it in its concern's module (``ASSET_MODULES``); the CLI's lists, the jobs' selections and
the tests derive from this graph (``laionet_assets.graph``).
"""

import dagster as dg

from laionet_assets.assets import (
    captions,
    creation,
    evaluation,
    gallery,
    images,
    report,
    similarity,
    sweep,
    text_matched,
)
from laionet_assets.checks import laionet_checks
from laionet_assets.executors import executor_from_env
from laionet_assets.profiles import resources_for
from laionet_assets.sensors import laionet_jobs, laionet_schedules, laionet_sensors

ASSET_MODULES = (creation, images, evaluation, similarity, sweep, gallery, captions, text_matched, report)
all_assets = dg.load_assets_from_modules(ASSET_MODULES)

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=laionet_checks,
    jobs=laionet_jobs,
    sensors=laionet_sensors,
    schedules=laionet_schedules,
    resources=resources_for(),
    executor=executor_from_env(),
)
