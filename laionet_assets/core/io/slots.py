"""Slots of a pool held on one machine: ``n`` lock files in a folder, one per slot.

A lock is held by an open file (``filelock``), so a process that dies gives its slot back at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout


@contextlib.contextmanager
def machine_slot(
    folder: str | Path, pool: str, slots: int, on_wait: Callable[[], None] | None = None
) -> Iterator[int]:
    """Hold one of ``slots`` slots of ``pool`` in ``folder`` for the ``with`` block; yields the
    slot's number.  A free slot is taken at once; when all are held, ``on_wait`` is called and the
    block waits for the first slot."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    locks = [FileLock(Path(folder) / f"{pool}-pool.{i}.lock") for i in range(max(1, slots))]
    for number, lock in enumerate(locks):
        with contextlib.suppress(Timeout):
            lock.acquire(timeout=0)
            break
    else:
        if on_wait is not None:
            on_wait()
        number, lock = 0, locks[0]
        lock.acquire()
    try:
        yield number
    finally:
        lock.release()
