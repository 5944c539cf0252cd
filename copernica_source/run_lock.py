"""One run per pipeline at a time: two runs of one pipeline would both extract everything (twice the API traffic)
and then race for the destination and the state.

The lock is an OS file lock (`flock`) on a file beside the pipeline's working folder (not in it: dlt wipes a new
pipeline's folder, and a lock file deleted under its holder would let a second run in), so the kernel releases it when
the process ends in any way (a SIGKILL included): a killed run never leaves a stale lock behind. The file holds the
holder's PID and start time, only to tell a refused run who holds it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from copernica_source.errors import ConfigurationError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not serialised there (documented in the README)
    fcntl = None  # type: ignore[assignment]



log = logging.getLogger("copernica_source")


class RunInProgressError(ConfigurationError):
    """Another run of the same pipeline holds the lock."""


@contextlib.contextmanager
def run_lock(pipelines_dir: str, pipeline_name: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the pipeline's run lock for the block; refuse at once, or wait up to `wait_seconds` for it."""
    if fcntl is None:
        yield
        return
    os.makedirs(pipelines_dir, mode=0o700, exist_ok=True)
    path = lock_path(pipelines_dir, pipeline_name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + max(0.0, wait_seconds)
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunInProgressError(_refusal(fd, pipeline_name, wait_seconds)) from None
                if not told:
                    log.warning("%s; waiting up to %gs for it", _holder_line(fd, pipeline_name), wait_seconds)
                    told = True
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {datetime.now(UTC).isoformat(timespec='seconds')}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def lock_path(pipelines_dir: str, pipeline_name: str) -> str:
    return os.path.join(pipelines_dir, f".{pipeline_name}.copernica-run.lock")


def _holder_line(fd: int, pipeline_name: str) -> str:
    holder = os.pread(fd, 200, 0).decode(errors="replace").split()
    who = f"PID {holder[0]}, started {holder[1]}" if len(holder) >= 2 else "another process"
    return f"another run of pipeline {pipeline_name!r} is in progress ({who})"


def _refusal(fd: int, pipeline_name: str, waited: float) -> str:
    if waited:
        return f"{_holder_line(fd, pipeline_name)} and did not end within --wait-for-lock {waited:g}s"
    return f"{_holder_line(fd, pipeline_name)}; let it finish, or pass --wait-for-lock SECONDS to wait for it"
