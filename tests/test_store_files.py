"""Atomic saves with a backup (tui/store/files.py): the .bak holds the old text, a failure leaves the
target and the folder as they were, and every error is a sentence."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.readonly import ReadOnlyDir, read_only_folder
from tui.store.files import (
    FileReadError,
    FileSaveError,
    FileSystem,
    backup_path,
    read_document,
    save_atomic,
)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_new_file_has_no_backup_and_usual_mode(tmp_path: Path) -> None:
    target = tmp_path / "Modelfile"
    result = save_atomic(target, "FROM llama3.2\n")
    assert target.read_text() == "FROM llama3.2\n"
    assert result.backup is None and result.bytes_written == 14
    assert listing(tmp_path) == ["Modelfile"]
    assert (target.stat().st_mode & 0o777) == 0o644


def test_second_save_keeps_previous_version_as_bak(tmp_path: Path) -> None:
    target = tmp_path / "Modelfile"
    target.write_text("FROM old\n")
    target.chmod(0o600)
    result = save_atomic(target, "FROM new\n")
    assert result.backup == tmp_path / "Modelfile.bak" == backup_path(target)
    assert target.read_text() == "FROM new\n"
    assert result.backup.read_text() == "FROM old\n"
    assert (target.stat().st_mode & 0o777) == 0o600  # the file keeps its mode
    save_atomic(target, "FROM newer\n")
    assert (tmp_path / "Modelfile.bak").read_text() == "FROM new\n"
    assert listing(tmp_path) == ["Modelfile", "Modelfile.bak"]


def test_without_backup(tmp_path: Path) -> None:
    target = tmp_path / "inference_model.json"
    target.write_text("{}")
    assert save_atomic(target, '{"Name": "x"}\n', backup=False).backup is None
    assert listing(tmp_path) == ["inference_model.json"]


def test_non_utf8_text_round_trips_bytes(tmp_path: Path) -> None:
    target = tmp_path / "Modelfile"
    text = 'FROM x\nSYSTEM "héllo · 日本"\r\n'
    save_atomic(target, text)
    assert target.read_bytes() == text.encode("utf-8")
    assert read_document(target) == text


class FullDisk(FileSystem):
    """Writes go to /dev/full, so the kernel itself answers ENOSPC."""

    def write(self, fd: int, data: bytes) -> None:
        full = os.open("/dev/full", os.O_WRONLY)
        try:
            os.write(full, data)
        finally:
            os.close(full)


def test_full_disk_leaves_file_and_folder_unchanged(tmp_path: Path) -> None:
    target = tmp_path / "Modelfile"
    target.write_text("FROM old\n")
    with pytest.raises(FileSaveError) as info:
        save_atomic(target, "FROM new\n", fs=FullDisk())
    assert info.value.errno == errno.ENOSPC
    assert (
        str(info.value)
        == f"Could not save {target}: the disk is full (no space left for {tmp_path})."
    )
    assert target.read_text() == "FROM old\n"
    assert listing(tmp_path) == ["Modelfile"]  # no temp file, no backup


class ReplaceFails(FileSystem):
    """The final rename fails (after the temp file and the backup were written)."""

    def replace(self, source: Path, target: Path) -> None:
        if target.name == "Modelfile":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(target))
        super().replace(source, target)


def test_failed_rename_removes_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "Modelfile"
    target.write_text("FROM old\n")
    with pytest.raises(FileSaveError, match="read-only file system"):
        save_atomic(target, "FROM new\n", fs=ReplaceFails())
    assert target.read_text() == "FROM old\n"
    # The backup of the unchanged file may be there; no temp file is.
    assert [n for n in listing(tmp_path) if n.endswith(".tmp")] == []


class NoLinks(FileSystem):
    def link(self, source: Path, target: Path) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))


def test_backup_is_copied_where_links_are_impossible(tmp_path: Path) -> None:
    target = tmp_path / "Modelfile"
    target.write_text("FROM old\n")
    result = save_atomic(target, "FROM new\n", fs=NoLinks())
    assert result.backup is not None and result.backup.read_text() == "FROM old\n"
    assert target.read_text() == "FROM new\n"
    assert listing(tmp_path) == ["Modelfile", "Modelfile.bak"]


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[ReadOnlyDir]:
    """A folder holding a Modelfile that refuses writes: chmod for a normal user, a read-only
    bind mount for root (tests/readonly.py)."""
    with read_only_folder(tmp_path / "ro", {"Modelfile": "FROM old\n"}) as folder:
        yield folder


NOT_WRITABLE = {
    errno.EACCES: "permission denied: {} is not writable",
    errno.EROFS: "{} is on a read-only file system",
}


def test_read_only_folder_is_a_sentence_and_changes_nothing(readonly_dir: ReadOnlyDir) -> None:
    folder = readonly_dir.path
    target = folder / "Modelfile"
    with pytest.raises(FileSaveError) as info:
        save_atomic(target, "FROM new\n")
    assert info.value.errno == readonly_dir.errno, readonly_dir.how
    reason = NOT_WRITABLE[readonly_dir.errno].format(folder)
    assert str(info.value) == f"Could not save {target}: {reason}."
    assert target.read_text() == "FROM old\n"
    assert listing(folder) == ["Modelfile"]
    # Without a backup the save fails the same way, and a new file is refused as well.
    with pytest.raises(FileSaveError) as info:
        save_atomic(target, "FROM new\n", backup=False)
    assert info.value.errno == readonly_dir.errno
    with pytest.raises(FileSaveError) as info:
        save_atomic(folder / "Other", "FROM new\n")
    assert str(info.value) == f"Could not save {folder / 'Other'}: {reason}."
    assert listing(folder) == ["Modelfile"]


def test_missing_folder_and_folder_target(tmp_path: Path) -> None:
    with pytest.raises(FileSaveError, match=r"nowhere does not exist\.$"):
        save_atomic(tmp_path / "nowhere" / "Modelfile", "FROM x\n")
    with pytest.raises(FileSaveError, match="it is a folder"):
        save_atomic(tmp_path, "FROM x\n")


def test_read_errors_are_sentences(tmp_path: Path) -> None:
    with pytest.raises(FileReadError, match="does not exist"):
        read_document(tmp_path / "missing")
    with pytest.raises(FileReadError, match="is a folder"):
        read_document(tmp_path)
    binary = tmp_path / "model.gguf"
    binary.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(64))
    with pytest.raises(FileReadError, match="binary file"):
        read_document(binary)
    big = tmp_path / "big"
    big.write_text("x" * 100)
    with pytest.raises(FileReadError, match="100 bytes"):
        read_document(big, max_bytes=10)


def test_utf16_modelfile_is_read_as_ollama_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_bytes("FROM x\n".encode("utf-16"))
    assert read_document(path) == "\ufeffFROM x\n"


def test_plain_write_without_backup(tmp_path: Path) -> None:
    """The same writer serves settings, exports and caches: no backup, no temp, rw-r--r--."""
    target = tmp_path / "settings.toml"
    first = save_atomic(target, "a = 1\n", backup=False)
    assert first.backup is None and first.bytes_written == 6
    assert target.stat().st_mode & 0o777 == 0o644
    save_atomic(target, "a = 2\n", backup=False)
    assert target.read_text() == "a = 2\n"
    assert listing(tmp_path) == ["settings.toml"]


def test_a_failed_save_is_an_os_error(tmp_path: Path) -> None:
    """Callers that handle a failed write as ``OSError`` handle this writer's errors too."""
    with pytest.raises(OSError, match="does not exist") as info:
        save_atomic(tmp_path / "nowhere" / "x.json", "{}", backup=False)
    assert isinstance(info.value, FileSaveError) and info.value.errno == errno.ENOENT
