"""Atomic writes: the one way every file of the project is written, so an interruption never leaves a
half-written file in place of a good one.

:func:`atomic_target` yields a temporary path in the destination's folder (same file system, so the
final ``os.replace`` is atomic); whatever the caller writes there replaces ``path`` only when the block
ends without an exception, and the temporary file is removed otherwise. :func:`write_bytes_atomic` and
:func:`write_text_atomic` are the common cases.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import Iterator, Union

__all__ = ["atomic_target", "write_bytes_atomic", "write_text_atomic"]

PathLike = Union[str, "os.PathLike[str]"]


@contextmanager
def atomic_target(path: PathLike, suffix: str = "") -> Iterator[str]:
    """A temporary file name beside ``path`` (ending in ``suffix``, for writers that look at the
    extension); it replaces ``path`` when the block succeeds and is deleted when it fails."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.tmp-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _mode_for(path))  # mkstemp's 0600 would leave the file unreadable to a web server
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _mode_for(path: str) -> int:
    """The permissions of the file at ``path``: the replaced file's, else what ``open(path, "w")`` gives
    (0666 less the umask)."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    with atomic_target(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_text_atomic(path: PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))
