"""``laionet where ASSET``: where each materialised output of an asset is, one per line: its Parquet
files (one per part of a per-part asset, one per release of a release-level one), the LanceDB
tables it writes, its figures and its page, on a local or an object-store home; ``--release``
narrows them to one release's.  Nothing, and exit 1, when it has none."""

from __future__ import annotations

import difflib
import sys

from laionet_assets import settings


def outputs(asset: str, storage, partition: str | None = None, release: str | None = None) -> list[str]:
    """Every materialised output of ``asset`` under ``storage`` (a ``LaionetStorage``): of one
    partition, of one release (its own partition, or its parts), or of all."""
    from laionet_assets.core.report.catalogue import FIGURES
    from laionet_assets.graph import asset_plan

    plan = asset_plan()
    found = []
    folder = storage.asset_path(asset).with_suffix("")
    if partition is not None:
        keys = [partition]
    elif asset in plan.per_release:
        keys = [release] if release else sorted(p.stem for p in folder.glob("*.parquet")) * folder.exists()
    elif asset in plan.partitioned and release:
        keys = storage.registry.releases().get(release, [])
    elif asset in plan.partitioned:
        keys = sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []
    else:
        keys = [None]
    tables = [storage.asset_path(asset, k) for k in keys]
    found += [str(path) for path in tables if path.exists()]
    if asset in plan.lancedb:
        lancedb = storage.shared / "lancedb"
        prefix = f"{plan.lancedb[asset]}__"
        found += sorted(str(p) for p in lancedb.glob(f"{prefix}*.lance")) if lancedb.exists() else []
    if partition is None:
        files = [f.file for f in FIGURES.values() if f.asset == asset]
        files += [plan.pages[asset]] if asset in plan.pages else []
        for key in keys if asset in plan.per_release else [None]:
            found += [str(storage.report_path(f, key)) for f in files if storage.report_path(f, key).exists()]
    return found


def where(
    asset: str, partition: str | None, home: str | None, vocabulary: str | None, release: str | None = None
) -> int:
    from laionet_assets.graph import asset_plan
    from laionet_assets.resources import LaionetStorage

    plan = asset_plan()
    if asset not in plan.order:
        close = difflib.get_close_matches(asset, plan.order, n=1)
        hint = f"; did you mean {close[0]}?" if close else "; see laionet assets"
        print(f"laionet: unknown asset {asset!r}{hint}", file=sys.stderr)
        return 2
    vocabulary = vocabulary or settings.setting("vocabulary").from_env()
    storage = LaionetStorage(
        home=home or settings.process_setting("home"), **({"vocabulary": vocabulary} if vocabulary else {})
    )
    found = outputs(asset, storage, partition, release)
    for line in found:
        print(line)
    return 0 if found else 1
