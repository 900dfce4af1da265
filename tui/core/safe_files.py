"""Reading files found while scanning folders, without ever blocking on one.

A FIFO (named pipe) blocks ``open()`` until a writer comes, a character device may block its reads or
act on being opened, and a worker thread stuck in either can never be cancelled: the program then
hangs, and cannot even exit. Every file slmdeck finds by itself (model folders, caches, its own
config) is therefore read through :func:`open_regular`: ``os.stat`` first, so only a regular file
is ever opened; then ``O_NONBLOCK``, so a file swapped for a FIFO between the two calls cannot block
the open either, and ``fstat`` on the opened descriptor to make sure it is the regular file.

Files a person names on the command line are not read this way: ``slmdeck check <(cat x)`` reads
a pipe on purpose.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from typing import BinaryIO

_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


class NotARegularFile(OSError):
    """The path is a FIFO, socket, device or folder, so it was not opened.

    ``str(err)`` is ``it is a FIFO (named pipe), not a regular file``: a reason to put after the
    path (``strerror`` is the same text, ``filename`` the path, ``kind`` e.g. ``a FIFO (named
    pipe)``).
    """

    def __init__(self, path: str | os.PathLike[str], kind: str) -> None:
        super().__init__(errno.EINVAL, f"it is {kind}, not a regular file", os.fspath(path))
        self.kind = kind

    def __str__(self) -> str:
        return str(self.strerror)


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words: ``a regular file``, ``a FIFO (named pipe)``, ..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "a special file"


def check_regular(path: str | os.PathLike[str]) -> os.stat_result:
    """``os.stat(path)`` (symlinks followed), or :class:`NotARegularFile` when it is not a file.

    Raises:
        NotARegularFile: It exists but is not a regular file.
        OSError: It cannot be stat'ed (missing, no permission, ...).
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotARegularFile(path, file_kind(st.st_mode))
    return st


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for binary reading; never blocks on a FIFO or a device.

    Raises:
        NotARegularFile: The path is not a regular file (nothing was opened, or it was closed).
        OSError: It cannot be opened.
    """
    check_regular(path)
    fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_NOCTTY | _O_CLOEXEC | _O_BINARY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced between the stat and the open
            raise NotARegularFile(path, file_kind(st.st_mode))
        if _O_NONBLOCK:
            with contextlib.suppress(OSError):
                os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular_bytes(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """The bytes of a regular file (at most ``limit`` of them). Raises as :func:`open_regular`."""
    with open_regular(path) as fh:
        return fh.read() if limit is None else fh.read(limit)


def read_regular_text(
    path: str | os.PathLike[str], *, encoding: str = "utf-8", errors: str = "strict"
) -> str:
    """The text of a regular file. Raises as :func:`open_regular`, and UnicodeDecodeError."""
    return read_regular_bytes(path).decode(encoding, errors)


def is_regular(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a regular file (symlinks followed); False when it cannot be stat'ed."""
    try:
        check_regular(path)
    except OSError:
        return False
    return True


__all__ = [
    "NotARegularFile",
    "check_regular",
    "file_kind",
    "is_regular",
    "open_regular",
    "read_regular_bytes",
    "read_regular_text",
]
