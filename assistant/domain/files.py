"""Writing a file so that a reader (or a crash) sees the old content or the new, never half."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE_MODE = 0o600  # records hold names, questions and password hashes: owner-only


def atomic_write(path: Path, text: str, *, mode: int = PRIVATE_MODE, durable: bool = False) -> Path:
    """Replace `path` with `text` through a temp file beside it and a rename.

    `durable` also fsyncs the file and its folder, for records that must survive a power cut
    (crash-recovery journals); plain config files only need the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
    return path


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
