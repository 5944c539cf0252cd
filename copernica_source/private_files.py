"""Folders and files that hold personal data (data requests, profiles in DuckDB) are created owner-only.

What already exists keeps its mode: it is the user's choice, not ours to change."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
PRIVATE_UMASK = 0o077


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create `path` and each missing parent 0700 (`mkdir(parents=True)` would leave the parents at the umask's
    mode, and the folder names may say whose data is inside). Existing folders are left as they are."""
    target = Path(path).absolute()
    missing: list[Path] = []
    folder = target
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            if folder.is_dir():
                continue  # made by someone else meanwhile: theirs, so its mode is too
            raise
        os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode passes through the umask
    if not target.is_dir():
        raise NotADirectoryError(f"{target} is not a directory")
    return target


def write_private(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write `text` to `path`, readable by its owner only from the first byte on (a reader never sees
    a half-written file, and no other user ever sees it at all)."""
    target = Path(path)
    folder = private_dir(target.parent)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".partial-", suffix=target.suffix)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, PRIVATE_FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files and folders created inside are owner-only, including those other libraries create for us (DuckDB's
    `.wal`, dlt's load packages). The umask is process-wide: only commands use this, never the library."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)
