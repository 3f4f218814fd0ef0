"""The asset graph as the CLI and tests see it, derived from the ``Definitions`` (never listed
by hand): every asset in topological order, which are partitioned by LAION part, which
unpartitioned ones those depend on, and which are computed together (one multi-asset)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import dagster as dg


@dataclass(frozen=True, eq=False)
class AssetPlan:
    order: tuple[str, ...]  # every asset, topologically sorted
    partitioned: tuple[str, ...]  # one run per LAION part
    upstream: tuple[str, ...]  # unpartitioned assets the partitioned ones read
    downstream: tuple[str, ...]  # the rest: read every materialised part
    together: tuple[tuple[str, ...], ...]  # outputs of one multi-asset: selecting one selects all
    ops: dict[str, str]  # asset → the op that computes it (where its asset config goes)

    def select(self, names: list[str]) -> list[str]:
        """``names`` plus their multi-asset siblings, in graph order; unknown names are an error."""
        unknown = [n for n in names if n not in self.order]
        if unknown:
            raise ValueError(f"unknown asset(s) {unknown}; choose from {', '.join(self.order)}")
        chosen = set(names)
        for group in self.together:
            if chosen & set(group):
                chosen |= set(group)
        return [a for a in self.order if a in chosen]


def plan_of(defs: dg.Definitions) -> AssetPlan:
    graph = defs.resolve_asset_graph()
    keys = list(graph.toposorted_asset_keys)
    name = {k: k.to_user_string() for k in keys}
    partitioned = [k for k in keys if graph.get(k).partitions_def is not None]
    ancestors, frontier = set(), set(partitioned)
    while frontier:  # every ancestor of a partitioned asset
        parents = set().union(*(graph.get(k).parent_keys for k in frontier)) - ancestors
        ancestors |= parents
        frontier = parents
    upstream = [k for k in keys if k in ancestors and k not in partitioned]
    groups = {tuple(sorted(name[x] for x in graph.get(k).execution_set_asset_keys)) for k in keys}
    return AssetPlan(
        order=tuple(name[k] for k in keys),
        partitioned=tuple(name[k] for k in partitioned),
        upstream=tuple(name[k] for k in upstream),
        downstream=tuple(name[k] for k in keys if k not in partitioned and k not in upstream),
        together=tuple(sorted(g for g in groups if len(g) > 1)),
        ops={name[k]: graph.get(k).assets_def.op.name for k in keys},
    )


@cache
def asset_plan() -> AssetPlan:
    """The code location's plan (``laionet_assets.definitions.defs``)."""
    from laionet_assets.definitions import defs

    return plan_of(defs)
