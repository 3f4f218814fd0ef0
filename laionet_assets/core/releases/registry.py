"""Which file backs each release-part partition: ``<home>/registry/<partition key>.json``.

A partition key is ``<release>-<part label>`` in ``[a-z0-9_-]`` (``laion400m-part-00000``,
``laion400m-emb-0409``); the registry maps it to the part as ``scan_release`` found it: its path
and full file name, layout, column mapping, safety signal, shipped embeddings, size and time.

One file per part, each written atomically (one PUT on an object store), so processes that
register parts at once never lose each other's entries, on a local disk or an object store alike.
A key that another release folder already holds is a ``KeyClash``: the part is not registered
and the clash is reported (give one of the releases another ``--name``).  A home written when
the registry was one ``releases.json`` is read as it is.
"""

from __future__ import annotations

import json

from laionet_assets.core.io.atomic import write_text_atomic
from laionet_assets.core.io.names import check_key
from laionet_assets.core.io.storage import home_path, is_remote
from laionet_assets.core.releases.scan import Part, Scan, scan_release


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0]


class KeyClash(ValueError):
    """Two release folders whose parts would share a partition key."""


class ReleaseRegistry:
    def __init__(self, home: str):
        self.folder = home_path(home) / "registry"
        self.legacy = home_path(home) / "releases.json"

    def _legacy_entries(self) -> dict[str, dict]:
        """The entries of a home written when the registry was one ``releases.json``."""
        return json.loads(self.legacy.read_text()) if self.legacy.exists() else {}

    def load(self) -> dict[str, dict]:
        """Every registered part's entry, by partition key."""
        entries = self._legacy_entries()
        if not self.folder.exists():
            return entries
        files = sorted(self.folder.glob("*.json"))
        if is_remote(self.folder):  # one batched request, not one round trip per part
            texts = self.folder.fs.cat([f.path for f in files])
            entries.update({f.stem: json.loads(texts[f.path]) for f in files})
        else:
            entries.update({f.stem: json.loads(f.read_text()) for f in files})
        return entries

    def register(
        self,
        release: str,
        name: str | None = None,
        layout: str | None = "auto",
        columns: str | None = None,
        embeddings_model: str | None = None,
        strict: bool = False,
        part_prefix: str | None = None,
    ) -> Scan:
        """Register every complete part of a release folder, file or fsspec URL (``scan_release``)."""
        scan = scan_release(release, name, layout, columns, embeddings_model, strict, part_prefix)
        clashes = self.add(scan.parts)
        if clashes:
            raise KeyClash("; ".join(clashes.values()))
        return scan

    def add(self, parts: list[Part]) -> dict[str, str]:
        """Register ``parts``; the clashes with parts of other release folders, by the clashing
        part's path, one line each (those parts are not registered)."""
        entries, clashes = self.load(), {}
        for part in parts:
            held = entries.get(check_key(part.key))
            if held is not None and _folder(held["path"]) != _folder(part.path):
                clashes[part.path] = (
                    f"partition {part.key}: {part.path} and {held['path']} (registered) would share "
                    "it; give one release another --name"
                )
                continue
            entries[part.key] = part.to_json()
            write_text_atomic(self.folder / f"{part.key}.json", json.dumps(entries[part.key], indent=1))
        return clashes

    def part(self, key: str) -> dict:
        """The registry entry of a partition (``Part.to_json()``)."""
        entry = self.folder / f"{check_key(key)}.json"
        if entry.exists():
            return json.loads(entry.read_text())
        entries = self._legacy_entries()
        if key not in entries:
            raise KeyError(
                f"partition {key!r} is not registered in {self.folder}; "
                "register its release with `laionet run --release`"
            )
        return entries[key]

    def folders(self, release: str, entries: dict[str, dict] | None = None) -> list[str]:
        """The folders a release's parts come from: more than one for a union release."""
        entries = self.load() if entries is None else entries
        return sorted({_folder(entries[k]["path"]) for k in self.releases(entries).get(release, [])})

    def releases(self, entries: dict[str, dict] | None = None) -> dict[str, list[str]]:
        """Every release's partition keys, sorted: a release is the name its parts were
        registered under (``--name``, or the folder's own), one folder or several (a union)."""
        out: dict[str, list[str]] = {}
        for key, entry in sorted((self.load() if entries is None else entries).items()):
            out.setdefault(entry.get("release") or key.split("-", 1)[0], []).append(key)
        return out

    def part_path(self, key: str) -> str:
        """The part's local path or fsspec URL."""
        return self.part(key)["path"]
