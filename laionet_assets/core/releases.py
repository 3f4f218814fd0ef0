"""Which file backs each LAION part partition: ``<home>/releases.json``, written atomically.

A partition key is ``<release>-<part>`` in ``[a-z0-9_-]``; the registry maps it to the part's
path with the size and modification time seen when it was registered.
"""

from __future__ import annotations

import json
from pathlib import Path

from laionet_assets.core.atomic import write_text_atomic
from laionet_assets.core.laion import list_parts, local_path, partition_key, slug


class ReleaseRegistry:
    def __init__(self, home: Path):
        self.path = Path(home) / "releases.json"

    def load(self) -> dict[str, dict]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text())

    def register(self, release: str, name: str | None = None) -> list[str]:
        """Register every part of a release folder (or one file); returns their partition keys."""
        root = local_path(release)
        parts = list_parts(root)
        name = slug(name or (root.stem if root.is_file() else root.name))
        entries = self.load()
        keys = []
        for part in parts:
            relative = part.relative_to(root).with_suffix("") if root.is_dir() else Path(part.stem)
            key = partition_key(name, "_".join(relative.parts))
            stat = part.stat()
            entries[key] = {
                "path": str(part.resolve()),
                "release": name,
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
            }
            keys.append(key)
        write_text_atomic(self.path, json.dumps(entries, indent=1, sort_keys=True))
        return keys

    def add(self, parts: dict[str, dict]) -> None:
        """Record ``{key: {"path", "release", "size", "mtime_ns"}}`` entries (the release sensor's)."""
        entries = self.load()
        entries.update(parts)
        write_text_atomic(self.path, json.dumps(entries, indent=1, sort_keys=True))

    def part_path(self, key: str) -> str:
        """The part's local path or fsspec URL."""
        entries = self.load()
        if key not in entries:
            raise KeyError(
                f"partition {key!r} is not registered in {self.path}; "
                "register its release with `laionet run --release`"
            )
        return entries[key]["path"]
