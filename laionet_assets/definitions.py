"""The Dagster code location: every stage's assets, checks, jobs, sensors and schedules (the
modules under ``laionet_assets/defs/``), the resources of ``LAIONET_PROFILE`` and the executor of
``LAIONET_EXECUTOR``.

Adding an asset, a check, a job or a sensor is writing it in its stage's folder under ``defs/``;
nothing lists it again: the CLI's lists, the jobs' selections and the tests derive from this
graph (``laionet_assets.graph``).  The modules are found by importing the package, so the code
location loads the same from a source checkout and from an installed wheel."""

import importlib
import pkgutil

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from laionet_assets import defs as stages
from laionet_assets.executors import executor_from_env
from laionet_assets.profiles import resources_for

STAGE_MODULES = tuple(
    importlib.import_module(info.name)
    for info in pkgutil.walk_packages(stages.__path__, prefix=f"{stages.__name__}.")
)


def _objects(kind) -> list:
    """Every module-level object of ``kind`` in the stage modules, once each, in module order."""
    found: dict[int, object] = {}
    for module in STAGE_MODULES:
        for value in vars(module).values():
            if isinstance(value, kind):
                found.setdefault(id(value), value)
    return list(found.values())


all_assets = dg.load_assets_from_modules(STAGE_MODULES)
all_checks = dg.load_asset_checks_from_modules(STAGE_MODULES)

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    jobs=_objects(UnresolvedAssetJobDefinition),
    sensors=_objects(dg.SensorDefinition),
    schedules=_objects(dg.ScheduleDefinition),
    resources=resources_for(),
    executor=executor_from_env(),
)
