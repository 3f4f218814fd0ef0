"""Progress reporting for long loops: rows done, rows/s and ETA at a steady rate."""

from __future__ import annotations

import time
from collections.abc import Callable


class Progress:
    """Call ``update(n)`` as rows complete; ``log`` receives one line at most every ``every_s``."""

    def __init__(self, total: int, what: str, log: Callable[[str], None] | None = None, every_s: float = 5.0):
        self.total, self.what, self.log, self.every_s = total, what, log, every_s
        self.done = 0
        self.start = self.last = time.perf_counter()

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if self.log is not None and (now - self.last >= self.every_s or self.done >= self.total):
            self.last = now
            self.log(self.line())

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        return f"{self.what}: {self.done:,}/{self.total:,} rows, {rate:,.1f} rows/s, ETA {eta:,.0f} s"


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions, for asset metadata."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def peak_memory_gib() -> float:
    """The highest resident memory of this process so far, in GiB (a step's own process under
    the multi-process executor): what a node must have to run the step.  Linux's ``VmHWM``, which
    starts afresh in a new program (``ru_maxrss`` keeps a forking parent's peak); elsewhere
    ``ru_maxrss``."""
    import resource
    import sys

    try:
        with open("/proc/self/status") as status:
            peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        return round(peak / 2**20, 3)  # KiB
    except (OSError, StopIteration):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        return round(peak / (2**30 if sys.platform == "darwin" else 2**20), 3)
