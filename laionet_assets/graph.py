"""The asset graph as the CLI and tests see it, derived from the ``Definitions`` (never listed
by hand): every asset in topological order, which are partitioned by LAION part and which by
release, the stages a run goes through (unpartitioned, per part and per release in turn), which
unpartitioned assets the first per-part stage reads, and which are computed together (one
multi-asset)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache

import dagster as dg

from laionet_assets.defs.lib import HEADLINE, LANCEDB, ON_DEMAND, PAGE, ROWS_REQUIRED
from laionet_assets.defs.partitions import laion_parts, laion_releases


@dataclass(frozen=True, eq=False)
class AssetPlan:
    order: tuple[str, ...]  # every asset, topologically sorted
    partitioned: tuple[str, ...]  # one run per LAION part
    per_release: tuple[str, ...]  # one run per release (its LAIONet and what is computed from it)
    upstream: tuple[str, ...]  # unpartitioned assets the first per-part stage reads
    # run order: (per part?, assets); a stage reads only earlier stages; per-part stages run once
    # per part, per-release ones once for the release (its parts), the others once
    stages: tuple[tuple[bool, tuple[str, ...]], ...]
    together: tuple[tuple[str, ...], ...]  # outputs of one multi-asset: selecting one selects all
    ops: dict[str, str]  # asset → the op that computes it (where its asset config goes)
    headlines: dict[str, str]  # asset → the headline a run that built it prints (defs.lib.headline)
    pages: dict[str, str]  # asset → the page it writes under reports/ (defs.lib.page)
    lancedb: dict[str, str]  # asset → the prefix of the LanceDB tables it writes (defs.lib.lancedb_tables)
    resources: dict[str, frozenset[str]]  # asset → the resource keys its step uses
    rows_required: tuple[str, ...]  # assets a run must not build empty (defs.lib.headline)
    on_demand: dict[str, str]  # asset → why only a run that names it builds it (defs.lib.on_demand)

    @property
    def everything(self) -> list[str]:
        """What a run without a selection builds: every asset but the on-demand ones."""
        return [a for a in self.order if a not in self.on_demand]

    def select(self, names: list[str]) -> list[str]:
        """``names`` plus their multi-asset siblings, in graph order; unknown names are an error."""
        unknown = [n for n in names if n not in self.order]
        if unknown:
            close = difflib.get_close_matches(unknown[0], self.order, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(f"unknown asset {unknown[0]!r}; {hint}(laionet assets lists them)")
        chosen = set(names)
        for group in self.together:
            if chosen & set(group):
                chosen |= set(group)
        return [a for a in self.order if a in chosen]

    def stage_job(self, names: list[str]) -> str:
        """The job ``laionet run`` runs ``names`` (one stage's chosen assets) as, named after the
        stage's place and first asset, ``_by_part`` where it runs once per part, ``_by_release``
        once per release: ``laionet_run_2_lemma_matches_by_part``."""
        for number, (per_part, stage) in enumerate(self.stages, 1):
            if set(names) <= set(stage):
                by = "_by_part" if per_part else "_by_release" if stage[0] in self.per_release else ""
                return f"laionet_run_{number}_{stage[0]}{by}"
        raise ValueError(f"{names} are not one stage's assets")

    def runs(
        self, selection: list[str], parts: list[str], release: str | None = None
    ) -> list[tuple[list[str], str | None]]:
        """The runs that materialise ``selection`` for ``release`` (made of ``parts``), in
        order: each stage's selected assets once, once per part, or once for the release."""
        out = []
        for per_part, stage in self.stages:
            chosen = [a for a in stage if a in selection]
            if not chosen:
                continue
            if per_part:
                out += [(chosen, key) for key in parts]
            elif stage[0] in self.per_release:
                if release is None:
                    raise ValueError(f"{', '.join(chosen)} are computed per release: name the release")
                out.append((chosen, release))
            else:
                out.append((chosen, None))
        return out


def plan_of(defs: dg.Definitions) -> AssetPlan:
    graph = defs.resolve_asset_graph()
    keys = list(graph.toposorted_asset_keys)
    name = {k: k.to_user_string() for k in keys}
    level = {k: getattr(graph.get(k).partitions_def, "name", "") for k in keys}
    partitioned = [k for k in keys if level[k] == laion_parts.name]
    per_release = [k for k in keys if level[k] == laion_releases.name]
    ancestors, frontier = set(), set(partitioned)
    while frontier:  # every ancestor of a partitioned asset
        parents = set().union(*(graph.get(k).parent_keys for k in frontier)) - ancestors
        ancestors |= parents
        frontier = parents
    stage = _stages(graph, keys, level)
    first = min((stage[k] for k in partitioned), default=0)
    upstream = [k for k in keys if k in ancestors and k not in partitioned and stage[k] < first]
    groups = {tuple(sorted(name[x] for x in graph.get(k).execution_set_asset_keys)) for k in keys}
    runs = sorted({(stage[k], level[k]) for k in keys})
    meta = {k: graph.get(k).metadata for k in keys}
    return AssetPlan(
        order=tuple(name[k] for k in keys),
        partitioned=tuple(name[k] for k in partitioned),
        per_release=tuple(name[k] for k in per_release),
        upstream=tuple(name[k] for k in upstream),
        stages=tuple(
            (of == laion_parts.name, tuple(name[k] for k in keys if (stage[k], level[k]) == (s, of)))
            for s, of in runs
        ),
        together=tuple(sorted(g for g in groups if len(g) > 1)),
        ops={name[k]: graph.get(k).assets_def.op.name for k in keys},
        headlines={name[k]: meta[k][HEADLINE] for k in keys if HEADLINE in meta[k]},
        pages={name[k]: meta[k][PAGE] for k in keys if PAGE in meta[k]},
        lancedb={name[k]: meta[k][LANCEDB] for k in keys if LANCEDB in meta[k]},
        resources={name[k]: frozenset(graph.get(k).assets_def.required_resource_keys) for k in keys},
        rows_required=tuple(name[k] for k in keys if meta[k].get(ROWS_REQUIRED)),
        on_demand={name[k]: meta[k][ON_DEMAND] for k in keys if ON_DEMAND in meta[k]},
    )


def _stages(graph, keys: list, level: dict) -> dict:
    """Stage number per asset: a parent's stage, one more where the two differ in level (per
    part, per release, once); a multi-asset's outputs share the latest of their stages (they run
    as one step)."""
    stage: dict = {}
    changed = True
    while changed:  # a multi-asset raised to its latest output can raise its children: repeat
        changed = False
        for k in keys:
            node = graph.get(k)
            own = max(
                (stage.get(p, 0) + (level[p] != level[k]) for p in node.parent_keys),
                default=0,
            )
            own = max([own, *(stage.get(x, 0) for x in node.execution_set_asset_keys)])
            if stage.get(k) != own:
                stage[k], changed = own, True
    return stage


@cache
def asset_plan() -> AssetPlan:
    """The code location's plan (``laionet_assets.definitions.defs``)."""
    from laionet_assets.definitions import defs

    return plan_of(defs)
