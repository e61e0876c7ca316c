"""A model's training reference kept on local disk, shared by every process of one machine.

Dagster's multiprocess executor runs each step (feature drift, score drift, segment monitoring)
in its own process, so an in-memory cache alone still downloads the reference from the MLflow
artifact store (S3 in production) once per step per week. The reference logged with an MLflow
run never changes once the run is finished, so ``(tracking URI, run id)`` names its content for
good: the first process to need it downloads it and stores a copy here; every later process
reads the local copy.

Writes go to a temporary file in the same folder and are renamed into place, so a reader never
sees half a file and concurrent writers of the same entry are harmless. An unreadable entry
(a disk that filled up, a hand-edited file) is removed and read again from MLflow.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

__all__ = ["ReferenceDiskCache"]

_log = logging.getLogger(__name__)
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_PARTS = ("features", "scores")


class ReferenceDiskCache:
    """``(features, scores)`` reference frames by tracking URI and run id, under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def folder(self, tracking_uri: str, run_id: str) -> Path:
        """Where the entry of ``run_id`` lives (the store is hashed: URIs may hold secrets)."""
        if not _RUN_ID.match(run_id):
            raise ValueError(f"not an MLflow run id: {run_id[:80]!r}")
        store = hashlib.sha256(tracking_uri.encode("utf-8")).hexdigest()[:16]
        return self.root / store / run_id

    def get_or_load(
        self,
        tracking_uri: str,
        run_id: str,
        load: Callable[[], tuple[pd.DataFrame, pd.DataFrame]],
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The cached entry, or ``load()``'s result stored for the next process."""
        folder = self.folder(tracking_uri, run_id)
        cached = self._read(folder)
        if cached is not None:
            return cached
        frames = load()
        self._write(folder, frames)
        return frames

    def _read(self, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        paths = [folder / f"{part}.parquet" for part in _PARTS]
        if not all(p.is_file() for p in paths):
            return None
        try:
            return pd.read_parquet(paths[0]), pd.read_parquet(paths[1])
        except Exception as exc:  # any unreadable entry is read again from MLflow
            _log.warning("reference cache entry %s unreadable (%s); reading it again", folder, exc)
            for p in paths:
                p.unlink(missing_ok=True)
            return None

    def _write(self, folder: Path, frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
        """Store both frames; a cache that cannot be written only costs a later download."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # scores first: an entry counts only when both files exist, features last
            for part, frame in sorted(zip(_PARTS, frames, strict=True), reverse=True):
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{part}-", suffix=".tmp")
                os.close(fd)
                try:
                    frame.to_parquet(tmp, index=False)
                    os.replace(tmp, folder / f"{part}.parquet")
                finally:
                    Path(tmp).unlink(missing_ok=True)
        except OSError as exc:
            _log.warning("could not cache the reference in %s (%s)", folder, exc)
