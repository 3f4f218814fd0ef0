"""Names made from user text that end up on disk or in Dagster: partition keys, LanceDB table
names, folder and file names.  ``slug`` is the one function that makes them; each ``NAME_RULES``
entry is the character set one kind of name allows, exactly as every home already written uses it,
so existing partition keys, tables and shard folders keep their names."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NameRule:
    unsafe: str  # a run of characters the name may not hold
    replacement: str  # what each such run becomes
    lower: bool  # lower-case first
    strip: str  # characters trimmed from both ends
    purpose: str


NAME_RULES = {
    "partition": NameRule(r"[^a-z0-9_-]+", "_", True, "_-", "partition keys: lower case, [a-z0-9_-]"),
    "table": NameRule(r"[^a-z0-9]+", "_", True, "_", "LanceDB table names: lower case, [a-z0-9_]"),
    "file": NameRule(r"[^A-Za-z0-9._-]+", "_", False, "", "file names that keep their case"),
    "folder": NameRule(r"[^A-Za-z0-9_.-]+", "-", False, "", "folder names that keep their case"),
}


def slug(text: str, rule: str = "partition") -> str:
    """``text`` as a name of kind ``rule`` (``NAME_RULES``); a partition key must keep a character."""
    r = NAME_RULES[rule]
    s = re.sub(r.unsafe, r.replacement, text.lower() if r.lower else text).strip(r.strip)
    if not s and rule == "partition":
        raise ValueError(f"{text!r} has no characters usable in a partition key")
    return s


def table_name(prefix: str, encoder_id: str) -> str:
    """The LanceDB table of one encoder's vectors: ``<prefix>__<encoder id as a table name>``."""
    return f"{prefix}__{slug(encoder_id, 'table')}"


SAFE_KEY = re.compile(r"[a-z0-9_-]+")


class UnsafeName(ValueError):
    """A key that would not stay one name on disk (``..``, ``/``, other characters)."""


def check_key(key: str, what: str = "partition key") -> str:
    """``key`` when it is a safe name (``[a-z0-9_-]+``, the partition rule), else ``UnsafeName``:
    a key becomes a file name, and one holding ``/`` or ``..`` would write elsewhere."""
    if not isinstance(key, str) or not SAFE_KEY.fullmatch(key):
        raise UnsafeName(
            f"{what} {key!r} is not a safe name: it may hold only a-z, 0-9, _ and - "
            "(`laionet run --release` and the release sensor name parts so)"
        )
    return key


def inside(root: str | os.PathLike, path):
    """``path`` when, resolved, it lies below ``root`` (a local folder; a URL is taken as is, its
    keys checked by ``check_key``), else ``UnsafeName``."""
    if "://" in str(root):
        return path
    if not Path(path).resolve().is_relative_to(Path(root).resolve()):
        raise UnsafeName(f"{path} lies outside {root}")
    return path
