"""Progress lines: at most one per interval, always one at the end, with rows/s and ETA."""

from laionet_assets.core.io.progress import Progress, library_versions


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_progress_is_rate_limited_and_reports_the_end(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("laionet_assets.core.io.progress.time.perf_counter", clock)
    lines = []
    progress = Progress(total=400, what="captions", log=lines.append, every_s=5.0)
    for t in (1.0, 2.0, 6.0, 7.0):
        clock.now = t
        progress.update(50)
    assert lines == ["captions: 150/400 rows, 25.0 rows/s, ETA 10 s"]  # only at t=6
    clock.now = 12.0
    progress.update(200)  # done: always logged
    assert lines[-1] == "captions: 400/400 rows, 33.3 rows/s, ETA 0 s"


def test_library_versions():
    versions = library_versions("polars", "no-such-distribution")
    assert versions["polars"].count(".") >= 1 and versions["no-such-distribution"] == "not installed"
