"""Which file backs each release-part partition: ``<home>/releases.json``, written atomically.

A partition key is ``<release>-<part label>`` in ``[a-z0-9_-]`` (``laion400m-part-00000``,
``laion400m-emb-0409``); the registry maps it to the part as ``scan_release`` found it: its path
and full file name, layout, column mapping, safety signal, shipped embeddings, size and time.
"""

from __future__ import annotations

import json
from pathlib import Path

from laionet_assets.core.io.atomic import write_text_atomic
from laionet_assets.core.io.storage import home_path
from laionet_assets.core.releases.scan import Part, Scan, scan_release


class ReleaseRegistry:
    def __init__(self, home: str | Path):
        self.path = home_path(home) / "releases.json"

    def load(self) -> dict[str, dict]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text())

    def register(
        self,
        release: str,
        name: str | None = None,
        layout: str | None = "auto",
        columns: str | None = None,
        embeddings_model: str | None = None,
        strict: bool = False,
    ) -> Scan:
        """Register every complete part of a release folder, file or fsspec URL (``scan_release``)."""
        scan = scan_release(release, name, layout, columns, embeddings_model, strict)
        self.add(scan.parts)
        return scan

    def add(self, parts: list[Part]) -> None:
        entries = self.load()
        entries.update({p.key: p.to_json() for p in parts})
        write_text_atomic(self.path, json.dumps(entries, indent=1, sort_keys=True))

    def part(self, key: str) -> dict:
        """The registry entry of a partition (``Part.to_json()``)."""
        entries = self.load()
        if key not in entries:
            raise KeyError(
                f"partition {key!r} is not registered in {self.path}; "
                "register its release with `laionet run --release`"
            )
        return entries[key]

    def part_path(self, key: str) -> str:
        """The part's local path or fsspec URL."""
        return self.part(key)["path"]
