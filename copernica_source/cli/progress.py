"""What `copernica load` prints while it runs: one live line on a terminal, one line per finished step in a log
(`--progress`), nothing otherwise; and dlt's log records as one plain line each, like ours."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import shutil
import sys
import time
from collections.abc import Iterator
from typing import Any, Literal, TextIO

from dlt.common.runtime.collector import LogCollector

ProgressMode = Literal["live", "steps", "off"]


def progress_mode(stream: TextIO, *, quiet: bool, forced: bool) -> ProgressMode:
    """A live line on a terminal; with --progress and no terminal, a line per step; with --quiet, none."""
    if quiet:
        return "off"
    if stream.isatty():
        return "live"
    return "steps" if forced else "off"


class StepProgress(LogCollector):
    """dlt's progress as one line (rewritten in place on a terminal, printed once per step in a log file), releasing
    freed memory when each step ends (see release_freed_memory)."""

    def __init__(self, mode: ProgressMode = "off", stream: TextIO | None = None) -> None:
        super().__init__(log_period=0.5 if mode == "live" else 3600.0, logger=stream or sys.stderr,
                         dump_system_stats=False)
        self.mode = mode
        self.stream = stream or sys.stderr
        self._started = time.monotonic()

    def _start(self, step: str) -> None:
        super()._start(step)
        self._started = time.monotonic()

    def dump_counters(self) -> None:
        if self.mode == "off" or not self.counters:
            return
        line = self._line()
        if self.mode == "live" and line:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write("\r\x1b[K" + line[:width])
        self.stream.flush()

    def _stop(self) -> None:
        if self.mode == "steps" and self.counters and self._line():
            self.stream.write(self._line() + "\n")
        super()._stop()
        if self.mode == "live":
            self.stream.write("\r\x1b[K")  # the summary starts on a clean line
            self.stream.flush()
        release_freed_memory()

    def _line(self) -> str:
        """`extract: html_clicks 20,000, html_deliveries 20,000, +31 more | 3s`: the step's biggest counters."""
        step = (self.step or "").split(" ", 1)[0].lower()
        # dlt's own tables (`_dlt_pipeline_state`, extracted as a step of its own after a run) are not the user's
        counts = sorted(((n, c) for n, c in (self.counters or {}).items()
                         if n != "Resources" and not n.startswith("_dlt") and c), key=lambda x: -x[1])
        if not counts:
            return ""
        shown = ", ".join(f"{name} {count:,}" for name, count in counts[:3])
        more = f", +{len(counts) - 3} more" if len(counts) > 3 else ""
        return f"{step}: {shown}{more} | {time.monotonic() - self._started:.0f}s"


class OneLineLog(logging.Handler):
    """A log record as `warning: message` on one line (a scheduler's log keeps lines, not pages).

    dlt takes over the first handler it finds on its logger and gives it dlt's own format; this handler keeps its
    line format whatever formatter it is given."""

    def __init__(self, stream: TextIO | None = None, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.stream = stream

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        """Ignored: see the class docstring."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = " ".join(record.getMessage().split())
            where = "dlt: " if record.name.startswith("dlt") else ""
            stream = self.stream or sys.stderr
            clear = "\r\x1b[K" if stream.isatty() else ""  # over a live progress line, which redraws below
            print(f"{clear}{record.levelname.lower()}: {where}{text}", file=stream)
        except Exception:  # noqa: BLE001 (logging's rule: a handler never raises)
            self.handleError(record)


@contextlib.contextmanager
def routed_logs(stream: TextIO) -> Iterator[None]:
    """Our warnings and dlt's log records as OneLineLog lines on `stream` while a command runs (dlt's own
    handlers are set aside and put back after): every command runs inside it (`main`)."""
    ours, dlts = logging.getLogger("copernica_source"), logging.getLogger("dlt")
    printer = OneLineLog(stream)
    set_aside = dlts.handlers[:]
    for handler in set_aside:
        dlts.removeHandler(handler)
    attached = [(ours, printer), (dlts, printer)]
    for logger, handler in attached:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, handler in attached:
            logger.removeHandler(handler)
        for handler in set_aside:
            dlts.addHandler(handler)


@contextlib.contextmanager
def listening(handler: logging.Handler) -> Iterator[None]:
    """`handler` hears our log records too while the block runs (e.g. the load's held-back deletions)."""
    ours = logging.getLogger("copernica_source")
    ours.addHandler(handler)
    try:
        yield
    finally:
        ours.removeHandler(handler)


def use_system_allocator() -> None:
    """Arrow's default allocator keeps freed memory per worker thread; the system one gives it back, which keeps
    a long extract's footprint flat. glibc likewise keeps an arena per thread: two are enough for our workers and
    hold far less freed memory. Process-wide, so the command sets it, not the library."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, 2)


def release_freed_memory() -> None:
    """Hand memory that is free but still held by malloc back to the OS (glibc only): between dlt's steps, so the
    load step's DuckDB buffer does not come on top of what the extract's threads left behind."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


_M_ARENA_MAX = -8  # glibc's mallopt parameter number


@functools.cache
def _glibc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:  # not glibc (macOS, musl, Windows): their allocators need no help here
        return None
