"""What ``laionet run`` shows while a run goes: it follows the run's event stream in the Dagster
instance and prints the steps' own messages.  A step's progress (rows, rows/s, ETA, from
``core.io.progress``) is a live line on a terminal and a log line elsewhere; warnings, and a step
waiting for a slot of its pool, are lines;
other messages only with ``-v``; nothing but the outcome with ``-q``."""

from __future__ import annotations

import logging
import sys
import threading

PROGRESS_MARK = " rows/s, ETA "  # what core.io.progress.Progress writes
BLOCKED = "STEP_CONCURRENCY_BLOCKED"  # a step waits for a slot of its pool
WAITING_HINT = (
    "(a run that holds the slot is still going; `laionet recover` frees the slots of runs that died)"
)


class RunFollower(threading.Thread):
    """Polls the event log of the run tagged ``tag`` until ``stop()``; prints as it goes."""

    def __init__(
        self, instance, tag: tuple[str, str], verbose: bool = False, quiet: bool = False, stream=None
    ):
        super().__init__(daemon=True)
        self.instance, self.tag, self.verbose, self.quiet = instance, tag, verbose, quiet
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self.finished = threading.Event()
        self.cursor: str | None = None  # where the last poll stopped in the run's event log
        self.run_id: str | None = None
        self.open_line = False

    def stop(self) -> None:
        self.finished.set()
        self.join(timeout=10)
        self.poll()  # what the run wrote after the last poll
        self.end_line()

    def run(self) -> None:
        while not self.finished.wait(0.5):
            try:
                self.poll()
            except Exception:  # the instance is busy being written: the next poll reads it
                continue

    def poll(self) -> None:
        import dagster as dg

        if self.run_id is None:
            runs = self.instance.get_runs(filters=dg.RunsFilter(tags=dict([self.tag])), limit=1)
            if not runs:
                return
            self.run_id = runs[0].run_id
        while True:  # only the records since the last poll, never the whole log again
            page = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, limit=1000)
            for record in page.records:
                entry = record.event_log_entry
                if entry.dagster_event is None and entry.user_message:
                    self.show(entry.step_key or "", entry.user_message, entry.level)
                elif entry.dagster_event is not None and BLOCKED in (entry.user_message or ""):
                    self.show(entry.step_key or "", f"{entry.user_message} {WAITING_HINT}", logging.WARNING)
            self.cursor = page.cursor if page.records else self.cursor
            if not page.has_more:
                return

    def show(self, step: str, message: str, level: int) -> None:
        if self.quiet and level < logging.ERROR:
            return
        line = f"    {step}: {message}"
        if PROGRESS_MARK in message:
            if self.live:
                self.stream.write("\r\033[K" + line)
                self.stream.flush()
                self.open_line = True
                return
        elif level < logging.WARNING and not self.verbose:
            return
        self.end_line()
        self.stream.write(line + "\n")
        self.stream.flush()

    def end_line(self) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.open_line = False
