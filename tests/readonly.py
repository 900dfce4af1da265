"""A folder that really refuses writes, for the tests of failing saves, as any user, root included.

Two mechanisms, tried in this order; each is checked by trying to create a file:

1. ``chmod 0555``: enough for a normal user (the write fails with EACCES). It does not bind root,
   whose CAP_DAC_OVERRIDE ignores permission bits; ``chattr +i`` would, but containers usually
   refuse it (no CAP_LINUX_IMMUTABLE, or a file system without the flag).
2. A read-only bind mount in a private mount namespace (the write fails with EROFS). A helper
   process enters a mount namespace of its own (``unshare --mount --propagation private``, or
   ``unshare --map-root-user --mount`` where root lacks CAP_SYS_ADMIN but may create a user
   namespace), bind-mounts the folder onto itself, remounts that read-only and then waits on its
   stdin. The test reaches the folder through ``/proc/<helper pid>/root/<folder>``: the kernel
   resolves that path in the helper's mount namespace, so the code under test, in the test's own
   process and threads, meets the read-only mount, while the test process's own view of the
   folder, and every other process's, stays writable. The mount exists only in that namespace and
   goes away with the helper: at teardown, or when the test process dies and the pipe to the
   helper closes. So no mount can leak, even when the test is killed.

When neither works, the test is skipped with a reason starting "read-only mount unavailable: ".
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

SKIP_PREFIX = "read-only mount unavailable: "

# Run by the helper inside its new mount namespace; $1 is the folder.
_HOLD_READ_ONLY = (
    'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && echo ready && exec cat >/dev/null'
)
_NAMESPACES = (
    ("--mount", "--propagation", "private"),
    ("--map-root-user", "--mount", "--propagation", "private"),
)


@dataclass(frozen=True, slots=True)
class ReadOnlyDir:
    """A folder whose writes fail, and how."""

    path: Path
    """The folder as the code under test must name it (under ``/proc/<pid>/root`` for a mount)."""
    errno: int
    """What creating a file in it fails with: EACCES (``chmod``) or EROFS (read-only mount)."""
    how: str
    """The mechanism, in words (for assertion messages)."""


def _write_refusal(folder: Path) -> int | None:
    """The errno creating a file in ``folder`` fails with; None when it succeeds (and is undone)."""
    probe = folder / ".readonly-probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return exc.errno
    os.close(fd)
    probe.unlink()
    return None


@contextlib.contextmanager
def _chmod_read_only(folder: Path) -> Iterator[ReadOnlyDir | None]:
    """The folder with mode 0555, or None when that does not stop this process writing."""
    mode = folder.stat().st_mode & 0o7777
    folder.chmod(0o555)
    try:
        code = _write_refusal(folder)
        if code is None:
            folder.chmod(mode)  # root: the bits do not bind it
            yield None
            return
        yield ReadOnlyDir(folder, code, "chmod 0555")
    finally:
        folder.chmod(mode)


@contextlib.contextmanager
def _mount_read_only(folder: Path, why_not: list[str]) -> Iterator[ReadOnlyDir | None]:
    """The folder seen through a helper's read-only bind mount, or None (reasons in ``why_not``)."""
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("mount") is None:
        why_not.append("util-linux unshare and mount are not installed")
        yield None
        return
    for flags in _NAMESPACES:
        helper = subprocess.Popen(
            [unshare, *flags, "sh", "-c", _HOLD_READ_ONLY, "sh", str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert helper.stdout is not None and helper.stdin is not None
            if helper.stdout.readline().strip() != "ready":
                _, err = helper.communicate(timeout=30)
                why_not.append(f"unshare {' '.join(flags)}: {err.strip() or helper.returncode}")
                continue
            # unshare execs the command without forking: the helper's pid is the namespace's.
            view = Path(f"/proc/{helper.pid}/root") / folder.relative_to(folder.anchor)
            code = _write_refusal(view)
            if code != errno.EROFS:
                pytest.fail(
                    f"the read-only bind mount of {folder} (unshare {' '.join(flags)}) did not "
                    f"refuse a write through {view}: {os.strerror(code) if code else 'it worked'}"
                )
            yield ReadOnlyDir(
                view, code, f"read-only bind mount (unshare {' '.join(flags)}, pid {helper.pid})"
            )
            return
        finally:
            if helper.returncode is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    helper.communicate(timeout=10)  # EOF on stdin: cat and the namespace end
                if helper.returncode is None:
                    helper.kill()
                    helper.wait()
    yield None


@contextlib.contextmanager
def read_only_folder(folder: Path, files: Mapping[str, str]) -> Iterator[ReadOnlyDir]:
    """Create ``folder`` holding ``files`` (name → text) and make writes into it fail.

    Undone on exit, whatever happened in between. Skips the test (reason starting with
    :data:`SKIP_PREFIX`) when this process can make no folder read-only.
    """
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    with _chmod_read_only(folder) as by_mode:
        if by_mode is not None:
            yield by_mode
            return
    why_not = [f"chmod 0555 does not stop uid {os.geteuid()} writing"]
    with _mount_read_only(folder, why_not) as by_mount:
        if by_mount is not None:
            yield by_mount
            return
    pytest.skip(SKIP_PREFIX + "; ".join(why_not))
