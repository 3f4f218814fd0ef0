"""Finding release parts under a releases root (a local folder or any fsspec URL).

Layout: ``<root>/<release>/**/<part>``, each release folder of one release layout (detected, or
the one given); a part is found once all its files (an embeddings shard's .npy included) are there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from laionet_assets.core.releases.layouts import BadPartError
from laionet_assets.core.releases.scan import Part, filesystem, scan_release


@dataclass
class Found:
    parts: list[Part] = field(default_factory=list)
    waiting: dict[str, list[str]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # file or release folder → what is wrong


def find_parts(
    root: str, layout: str | None = "auto", columns: str | None = None, embeddings_model: str | None = None
) -> Found:
    """Every complete part of every release folder one level below ``root``, sorted by key; a
    release whose files match no layout (or mix layouts), or that cannot be scanned at all, is a
    problem, the others go on."""
    fs, base, url = filesystem(root)
    if not fs.exists(base):
        raise FileNotFoundError(f"releases root {root} does not exist")
    found = Found()
    for entry in sorted(fs.ls(base, detail=True), key=lambda e: e["name"]):
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if entry.get("type") != "directory" or name.startswith("."):
            continue
        try:
            scan = scan_release(url(entry["name"]), name, layout, columns, embeddings_model)
        except BadPartError as exc:
            found.problems[url(entry["name"])] = str(exc)
            continue
        except Exception as exc:  # noqa: BLE001 - one folder's failure is that folder's problem
            found.problems[url(entry["name"])] = f"{type(exc).__name__}: {exc}"
            continue
        found.parts.extend(scan.parts)
        found.waiting.update(scan.waiting)
        found.problems.update(scan.unreadable)
    found.parts.sort(key=lambda p: p.key)
    return found
