"""Atomic file writes: a file is either its old self or its new self, never half.

Everything Relit saves (images, scenes) goes through here so that a crash,
a full disk or an exception mid-write leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import: os.umask can only be read by setting it, which would
# race with other threads creating files.
_NEW_FILE_MODE = 0o666 & ~_read_umask()


def temp_path_beside(path: str | Path) -> Path:
    """A fresh, empty temporary file in the folder of `path` (same file system,
    so os.replace onto `path` is atomic). Keeps the suffix so writers that pick
    a format by extension still work. It gets the mode of the file it will
    replace, or the usual mode of a new file (mkstemp's private 0600 would
    make every export unreadable to other users)."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    try:
        try:
            mode = path.stat().st_mode & 0o7777
        except OSError:
            mode = _NEW_FILE_MODE
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return Path(name)


def commit_temp(temp: str | Path, path: str | Path) -> None:
    """fsync `temp` and move it onto `path` atomically."""
    temp, path = Path(temp), Path(path)
    with open(temp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(temp, path)
    _fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; write to it inside the block.

    On success the temporary file replaces `path`; on any exception it is
    removed and `path` is left untouched.
    """
    path = Path(path)
    temp = temp_path_beside(path)
    try:
        yield temp
        commit_temp(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as temp:
        temp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
