"""Write a small release in every published layout under data/sample/releases/<layout>/.

The captions, URLs, ids, NSFW tags and sizes are the bundled sample release's
(data/sample/laion_sample, LAION-400M layout), so lemma matching finds the same captions in
every layout; unsafe scores follow the tags and languages are mostly ``en`` (seeded); shipped
embeddings are seeded random unit vectors.  Deterministic: re-running writes identical files.

    python scripts/make_release_samples.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from laionet_assets.core.releases.layouts import RELEASE_LAYOUTS
from laionet_assets.core.releases.read import read_part
from laionet_assets.core.releases.samples import canonical_rows, write_release
from laionet_assets.core.releases.scan import scan_release

ROOT = Path(__file__).resolve().parents[1] / "data" / "sample"


def sample_rows() -> pl.DataFrame:
    parts = scan_release(str(ROOT / "laion_sample")).parts
    return canonical_rows(pl.concat([read_part(p.to_json())[0] for p in parts]))


def main() -> None:
    rows = sample_rows()
    out = ROOT / "releases"
    shutil.rmtree(out, ignore_errors=True)
    for layout in RELEASE_LAYOUTS:
        files = write_release(layout, out / layout, rows)
        print(f"{layout}: {rows.height} rows in {len(files)} part(s) under {out / layout}")


if __name__ == "__main__":
    main()
