"""Replacing a file so that a crash leaves the old or the new one, never a torn one."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import GiftrunError


class AtomicWriteError(GiftrunError):
    """The target cannot be replaced (it is a folder, or the disk refused)."""


def replace_file(data: bytes, path: str | Path) -> None:
    """Replace `path` so that a crash at any moment leaves the old or the new file, never
    a torn one: temp file in the same folder, fsync, os.replace, fsync the folder.

    Keeps an existing file's permission bits; writes through a symlink to its target.
    """
    target = Path(os.path.realpath(path))
    folder = target.parent
    if target.is_dir():
        raise AtomicWriteError(f"Cannot save {path}: it is a folder.")
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_current_umask()
    except OSError as exc:
        raise AtomicWriteError(f"Cannot save {path}: {exc.strerror or exc}.") from None

    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
        tmp_name = None
    except OSError as exc:
        raise AtomicWriteError(f"Cannot save {path}: {exc.strerror or exc}.") from None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; some platforms cannot open folders, which is fine."""
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


def _current_umask() -> int:
    """Read the umask without os.umask()'s set-and-restore, which races with other threads."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022
