"""A step that stops once it has provably begun its work, for the tests that kill one mid-step.

Processes started with ``ChunkPause.env(...)`` load a ``sitecustomize`` that wraps
``EmbeddingCache.add``.  Once the pause is armed (``arm()``), the first process to store a chunk of
new vectors takes the pause (a rename, so exactly one does), writes its pid and waits to be
killed: the test kills a step that has stored part of its output, never one that has not started
or has already finished, however fast or loaded the machine."""

from __future__ import annotations

import os
from pathlib import Path

from laionet_assets.testing.cluster import wait_for

SITECUSTOMIZE = """\
import os

from laionet_assets.testing.network import install

install()  # this sitecustomize shadows the network guard's

_FOLDER = os.environ.get("LAIONET_TEST_PAUSE")
if _FOLDER:
    import time

    from laionet_assets.core.text import embedding_cache as _cache

    _add = _cache.EmbeddingCache.add

    def _add_then_pause(self, *args, **kwargs):
        inserted = _add(self, *args, **kwargs)
        if inserted:
            try:
                os.rename(os.path.join(_FOLDER, "armed"), os.path.join(_FOLDER, "taken"))
            except FileNotFoundError:
                return inserted  # not armed, or another process took the pause
            with open(os.path.join(_FOLDER, "pid.tmp"), "w") as fh:
                fh.write(str(os.getpid()))
            os.rename(os.path.join(_FOLDER, "pid.tmp"), os.path.join(_FOLDER, "paused"))
            while True:
                time.sleep(3600)
        return inserted

    _cache.EmbeddingCache.add = _add_then_pause
"""


class ChunkPause:
    def __init__(self, folder: Path):
        self.folder = folder
        (folder / "site").mkdir(parents=True, exist_ok=True)
        (folder / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)

    def env(self, base: dict) -> dict:
        """``base`` with the pause's sitecustomize first on the path."""
        path = os.pathsep.join(p for p in (str(self.folder / "site"), base.get("PYTHONPATH", "")) if p)
        return {**base, "PYTHONPATH": path, "LAIONET_TEST_PAUSE": str(self.folder)}

    def arm(self) -> None:
        """The next chunk stored by a process with ``env`` takes the pause."""
        for name in ("taken", "paused"):
            (self.folder / name).unlink(missing_ok=True)
        (self.folder / "armed").write_text("")

    def wait(self, timeout: float, procs=()) -> int:
        """The pid of the process that took the pause, once it has stored its chunk."""
        paused = self.folder / "paused"
        wait_for(paused.exists, "a step storing its first chunk of embeddings", timeout, procs)
        return int(paused.read_text())
