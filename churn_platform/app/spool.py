"""Scratch folders for spooling a week's scored rows, reclaimed even after ``kill -9``.

Each scoring run spools under ``<spool root>/run-<pid>-<random>/`` (root: ``$CHURN_SPOOL_DIR``, or
``churn_spool`` in the system temporary folder) and removes its folder when it finishes or fails.
A process killed mid-write (SIGKILL, OOM killer, node loss) cannot clean up; the folder it left
(tens of MB for a large week) is removed by the next run, which deletes every run folder whose
owner process is no longer alive. Folders of live runs (a concurrent scoring of another week)
are left alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from churn_platform.errors import StorageError

log = logging.getLogger(__name__)

SPOOL_ENV = "CHURN_SPOOL_DIR"
_PREFIX = "run-"


def spool_root() -> Path:
    """Where run folders live: ``$CHURN_SPOOL_DIR`` or ``<tmp>/churn_spool``."""
    return Path(os.environ.get(SPOOL_ENV) or Path(tempfile.gettempdir()) / "churn_spool")


def _owner_alive(folder: Path) -> bool:
    try:
        pid = int(folder.name[len(_PREFIX) :].split("-", 1)[0])
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def reclaim_leftovers(root: Path | None = None) -> list[Path]:
    """Remove run folders whose process is gone; return what was removed."""
    root = root or spool_root()
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for folder in root.iterdir():
        if folder.is_dir() and folder.name.startswith(_PREFIX) and not _owner_alive(folder):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(folder)
    if removed:
        log.warning(
            "removed %d spool folder(s) left by killed scoring runs: %s",
            len(removed),
            ", ".join(p.name for p in removed),
        )
    return removed


@contextlib.contextmanager
def run_spool() -> Iterator[Path]:
    """A fresh run-scoped spool folder (leftovers of dead runs reclaimed first), removed after."""
    root = spool_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        reclaim_leftovers(root)
        folder = root / f"{_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
    except OSError as exc:
        raise StorageError(
            f"cannot create a spool folder under {root}: {exc.strerror or exc}; free space there "
            f"or point {SPOOL_ENV} at a writable folder"
        ) from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
