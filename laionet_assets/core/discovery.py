"""Finding LAION parts under a releases root (a local folder or any fsspec URL).

Layout: ``<root>/<release>/**/<part>.parquet``; the partition key is ``<release>-<part path>``.
Each part has a signature (size and modification time) so a rewritten part is noticed.
"""

from __future__ import annotations

from dataclasses import dataclass

from laionet_assets.core.laion import partition_key


@dataclass(frozen=True)
class FoundPart:
    key: str
    location: str
    release: str
    size: int
    mtime: float

    @property
    def signature(self) -> str:
        return f"{self.size}:{self.mtime:.6f}"


def _filesystem(root: str):
    import fsspec

    fs, path = fsspec.core.url_to_fs(root)
    return fs, path.rstrip("/")


def find_parts(root: str) -> list[FoundPart]:
    """Every ``*.parquet`` file one folder or more below ``root``, sorted by key."""
    fs, base = _filesystem(root)
    if not fs.exists(base):
        raise FileNotFoundError(f"releases root {root} does not exist")
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    found = []
    for path, info in fs.find(base, detail=True).items():
        if info.get("type") != "file" or not path.endswith(".parquet"):
            continue
        relative = path[len(base) :].lstrip("/").split("/")
        if len(relative) < 2 or any(p.startswith(".") for p in relative):
            continue  # parts live in a release folder; hidden files are in-progress writes
        release, part = relative[0], "_".join(relative[1:])[: -len(".parquet")]
        location = path if protocol in ("file", "local") else f"{protocol}://{path.lstrip('/')}"
        mtime = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
        mtime = mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime)
        found.append(
            FoundPart(partition_key(release, part), location, release, int(info.get("size") or 0), mtime)
        )
    return sorted(found, key=lambda p: p.key)


def readable_problem(location: str) -> str | None:
    """None when the part's Parquet footer is readable and has a TEXT column, else what is wrong."""
    from laionet_assets.core.laion import BadPartError, probe_part

    try:
        probe_part(location)
    except BadPartError as exc:
        return str(exc)
    return None
