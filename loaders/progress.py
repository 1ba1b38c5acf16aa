"""Progress of a load: a rich bar per file (rows/s) on a terminal, plain log lines otherwise."""
from __future__ import annotations

import logging
import sys
import time
from typing import Protocol

__all__ = ["Progress", "NullProgress", "LogProgress", "RichProgress", "progress_for_terminal"]

logger = logging.getLogger(__name__)


class Progress(Protocol):
    def start_file(self, name: str, total_bytes: int) -> None: ...
    def advance(self, bytes_read: int, rows: int) -> None: ...
    def end_file(self) -> None: ...


class NullProgress:
    """Reports nothing (library use, tests)."""

    def start_file(self, name: str, total_bytes: int) -> None:
        pass

    def advance(self, bytes_read: int, rows: int) -> None:
        pass

    def end_file(self) -> None:
        pass


class LogProgress:
    """A log line when a file starts, every `every_seconds`, and when it ends."""

    def __init__(self, every_seconds: float = 10.0) -> None:
        self.every = every_seconds

    def start_file(self, name: str, total_bytes: int) -> None:
        self.name, self.total, self.rows, self.done = name, max(total_bytes, 1), 0, 0
        self.started = self.last = time.monotonic()
        logger.info("reading %s (%.1f MB)", name, total_bytes / 1e6)

    def advance(self, bytes_read: int, rows: int) -> None:
        self.done += bytes_read
        self.rows += rows
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            logger.info("%s: %d rows, %.0f%%", self.name, self.rows, 100 * self.done / self.total)

    def end_file(self) -> None:
        seconds = max(time.monotonic() - self.started, 1e-9)
        logger.info("%s: %d rows in %.1f s (%.0f rows/s)", self.name, self.rows, seconds, self.rows / seconds)


class RichProgress:
    """A rich progress bar per file, with rows and rows/s."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,  # noqa: F401 - kept for callers that want counts
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import (
            Progress as RichBar,
        )

        self._bar = RichBar(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]:>10,} rows  {task.fields[rate]:>9,.0f} rows/s"),
            TimeElapsedColumn(),
            transient=False,
        )
        self._task = None

    def start_file(self, name: str, total_bytes: int) -> None:
        if self._task is None:
            self._bar.start()
        self._rows, self._started = 0, time.monotonic()
        self._task = self._bar.add_task(name, total=max(total_bytes, 1), rows=0, rate=0.0)

    def advance(self, bytes_read: int, rows: int) -> None:
        self._rows += rows
        rate = self._rows / max(time.monotonic() - self._started, 1e-9)
        self._bar.update(self._task, advance=bytes_read, rows=self._rows, rate=rate)

    def end_file(self) -> None:
        self._bar.update(self._task, completed=self._bar.tasks[-1].total)

    def close(self) -> None:
        if self._task is not None:
            self._bar.stop()


def progress_for_terminal() -> Progress:
    """A rich bar when stderr is a terminal, log lines otherwise."""
    return RichProgress() if sys.stderr.isatty() else LogProgress()
