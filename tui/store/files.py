"""Reading and saving files: atomic saves (with a backup if asked), errors as sentences.

:func:`save_atomic` is slmdeck's one writer of whole files: the editor's documents (with a
backup), the settings, exports, caches in the data dir (without).

A save never leaves a half-written file behind: the text goes to a temp file in the target's own
folder (so the final rename stays on one file system), is flushed to disk with ``fsync``, and only
then replaces the target with ``os.replace``; the folder is synced too, so the rename survives a
power cut. The previous version is kept as ``<name>.bak`` (a hard link to the old file, or a copy
where links are not possible). Every failure raises :class:`FileSaveError` with a sentence saying
what went wrong, and removes the temp file.

The file system calls go through :class:`FileSystem`, so that a test can make one of them fail
for real (a write into ``/dev/full``) without patching the ``os`` module.

Every function blocks: callers on the event loop use ``asyncio.to_thread``.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

BACKUP_SUFFIX = ".bak"
MAX_READ_BYTES = 8 * 1024 * 1024
"""Larger files are refused: a Modelfile or inference_model.json is a few kilobytes."""


class FileSaveError(OSError):
    """A file could not be saved; ``str(err)`` says why in a sentence. Nothing was changed.

    An ``OSError``, so a caller that handles failed writes as ``OSError`` handles this one too;
    :attr:`errno` is the underlying error's, when there was one.
    """

    def __init__(self, message: str, *, errno_: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errno = errno_

    def __str__(self) -> str:
        return self.message


class FileReadError(Exception):
    """A document could not be read; ``str(err)`` says why in a sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class SaveResult:
    """Where a save went."""

    path: Path
    backup: Path | None
    """The previous version, or None when there was none (a new file)."""
    bytes_written: int


class FileSystem:
    """The few file system calls a save makes; subclass to make one fail in a test."""

    def make_temp(self, directory: Path, name: str) -> tuple[int, Path]:
        """Create an exclusive, empty temp file in ``directory``; return its fd and path."""
        import tempfile

        fd, raw = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        return fd, Path(raw)

    def write(self, fd: int, data: bytes) -> None:
        """Write all of ``data`` to ``fd``."""
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def link(self, source: Path, target: Path) -> None:
        os.link(source, target)

    def replace(self, source: Path, target: Path) -> None:
        os.replace(source, target)

    def fsync_dir(self, directory: Path) -> None:
        """Make a rename in ``directory`` durable (no-op where folders cannot be opened)."""
        try:
            fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError as exc:
            # Some file systems refuse fsync on a folder; the data itself is already synced.
            if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
                raise
        finally:
            os.close(fd)


DEFAULT_FS = FileSystem()


def describe_os_error(exc: OSError, path: Path, action: str = "save") -> str:
    """A sentence for an ``OSError`` met while trying to ``action`` ``path``."""
    where = path.parent if action == "save" else path
    code = exc.errno
    if code in (errno.EACCES, errno.EPERM):
        reason = f"permission denied: {where} is not writable"
        if action != "save":
            reason = f"permission denied on {where}"
    elif code == errno.EROFS:
        reason = f"{where} is on a read-only file system"
    elif code == errno.ENOSPC:
        reason = f"the disk is full (no space left for {where})"
    elif code == getattr(errno, "EDQUOT", -1):
        reason = f"the disk quota is used up for {where}"
    elif code == errno.ENOENT:
        reason = f"{where} does not exist"
    elif code == errno.ENOTDIR:
        reason = f"a part of {where} is a file, not a folder"
    elif code == errno.EISDIR:
        reason = f"{path} is a folder"
    elif code == errno.ENAMETOOLONG:
        reason = "the name is too long"
    else:
        reason = exc.strerror or type(exc).__name__
    return f"Could not {action} {path}: {reason}."


def backup_path(path: Path) -> Path:
    """``Modelfile`` → ``Modelfile.bak``."""
    return path.with_name(path.name + BACKUP_SUFFIX)


def save_atomic(
    path: str | os.PathLike[str],
    text: str,
    *,
    backup: bool = True,
    encoding: str = "utf-8",
    fs: FileSystem = DEFAULT_FS,
) -> SaveResult:
    """Write ``text`` to ``path`` atomically, keeping the previous version as ``<name>.bak``
    unless ``backup`` is False (a plain write: settings, an export, a cache).

    A reader sees either the old file or the new one, never a mix; after a crash the file is one
    of the two. The new file keeps the old one's permission bits (a new file gets rw-r--r--).

    Args:
        path: The file to write (its folder must exist).
        text: The whole new content.
        backup: Keep the previous version as ``<name>.bak`` (replacing an older backup).
        encoding: How to encode ``text``.
        fs: The file system calls (a test passes one that fails).

    Returns:
        Where the file and its backup are.

    Raises:
        FileSaveError: Nothing could be written (read-only folder or file system, full disk, a
            missing folder...); the target is unchanged and no temp file is left.
    """
    target = Path(path)
    directory = target.parent
    try:
        # surrogateescape: a byte that was not UTF-8 when the file was read (kept by
        # tui.core.modelfile_encoding.decode_bytes as U+DC80..U+DCFF) is written back as itself.
        data = text.encode(encoding, errors="surrogateescape")
    except UnicodeEncodeError as exc:
        raise FileSaveError(
            f"Could not save {target}: the text cannot be written as {encoding} ({exc.reason})."
        ) from exc
    try:
        old = target.stat()
    except FileNotFoundError:
        old = None
    except OSError as exc:
        raise FileSaveError(describe_os_error(exc, target), errno_=exc.errno) from exc
    if old is not None and stat.S_ISDIR(old.st_mode):
        raise FileSaveError(f"Could not save {target}: it is a folder.", errno_=errno.EISDIR)
    tmp: Path | None = None
    kept: Path | None = None
    try:
        fd, tmp = fs.make_temp(directory, target.name)
        try:
            fs.write(fd, data)
            # mkstemp makes the file private (0600); a document keeps its old mode, a new one
            # gets the usual rw-r--r--.
            os.fchmod(fd, stat.S_IMODE(old.st_mode) if old is not None else 0o644)
            fs.fsync(fd)
        finally:
            os.close(fd)
        if backup and old is not None:
            kept = _keep_backup(target, fs)
        fs.replace(tmp, target)
        tmp = None
        fs.fsync_dir(directory)
    except OSError as exc:
        raise FileSaveError(describe_os_error(exc, target), errno_=exc.errno) from exc
    finally:
        if tmp is not None:
            _remove_quietly(tmp)
    return SaveResult(target, kept, len(data))


def _keep_backup(target: Path, fs: FileSystem) -> Path:
    """Make ``<name>.bak`` hold the current ``target`` (atomically replacing an older one)."""
    bak = backup_path(target)
    staging = target.with_name(f".{target.name}.bak.tmp")
    _remove_quietly(staging)
    try:
        try:
            fs.link(target, staging)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            # No hard links here (FAT, some network shares): copy the bytes instead.
            _copy_synced(target, staging, fs)
        fs.replace(staging, bak)
    except BaseException:
        _remove_quietly(staging)
        raise
    return bak


def _copy_synced(source: Path, target: Path, fs: FileSystem) -> None:
    data = source.read_bytes()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fs.write(fd, data)
        fs.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass  # a folder we cannot write to: there is nothing of ours in it either


def read_document(path: str | os.PathLike[str], *, max_bytes: int = MAX_READ_BYTES) -> str:
    """Read a Modelfile or inference_model.json as text.

    UTF-16 with a byte-order mark is read as Ollama reads it; anything else as UTF-8, with bad
    bytes kept as U+DC80..U+DCFF (``surrogateescape``) rather than refused, so that
    :func:`save_atomic` writes them back unchanged (``tui.core.modelfile_encoding.shown`` gives
    the text to show, with U+FFFD for each).

    Raises:
        FileReadError: Missing, a folder, unreadable, too large, or binary.
    """
    from tui.core.modelfile import decode_bytes

    source = Path(path).expanduser()
    try:
        info = source.stat()
        if stat.S_ISDIR(info.st_mode):
            raise FileReadError(f"{source} is a folder; give the file inside it.")
        if info.st_size > max_bytes:
            raise FileReadError(
                f"{source} is {info.st_size:,} bytes; the editor opens files up to "
                f"{max_bytes:,} bytes (a Modelfile is a few kilobytes)."
            )
        data = source.read_bytes()
    except FileReadError:
        raise
    except FileNotFoundError:
        raise FileReadError(f"{source} does not exist.") from None
    except OSError as exc:
        raise FileReadError(describe_os_error(exc, source, "read")) from exc
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileReadError(f"{source} is a binary file, not a Modelfile or JSON text.")
    return decode_bytes(data)
