"""Prediction rows with lineage: snapshot ids, chunking, week-wide ranks, row building.

Shared by the one-process write path and shard staging.

Scores are computed chunk by chunk, ranked over the whole week (rank 1 = riskiest, decile 10 =
riskiest 10%) and bulk-written in one transaction, each row stamped with where it came from:
model name, version, alias and MLflow run id, feature snapshot id, Dagster run id, code
version, time. Memory stays at about one chunk whatever the size of the base.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

DEFAULT_CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class Lineage:
    """Where a week's predictions came from; stamped on every row."""

    model_name: str
    model_version: int
    model_run_id: str
    model_alias: str
    feature_snapshot_id: str
    dagster_run_id: str
    code_version: str
    scored_at: datetime


def snapshot_id(features: pd.DataFrame) -> str:
    """Content hash of a feature snapshot (row order and index independent of chunking).

    Identical data gives the identical id, so a re-run of the week is recognisable.
    """
    hashed = pd.util.hash_pandas_object(features, index=False).to_numpy()
    digest = hashlib.sha256(np.sort(hashed).tobytes())
    digest.update(",".join(map(str, features.columns)).encode())
    return digest.hexdigest()[:16]


def chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


def ranks_among(risk: np.ndarray, sorted_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank and decile of ``risk`` among all scores of the week (``sorted_scores`` ascending).

    ``risk_rank`` = 1 + number of customers with a strictly higher score, so ties share a rank
    and the result does not depend on row order (re-runs give identical rows);
    ``risk_decile`` = 10 for the riskiest tenth.
    """
    n_total = len(sorted_scores)
    rank = n_total - np.searchsorted(sorted_scores, risk, side="right") + 1
    decile = 10 - (rank - 1) * 10 // max(n_total, 1)
    return rank.astype(np.int32), decile.astype(np.int16)


def prediction_rows(
    ids: np.ndarray, scored: pd.DataFrame, scoring_week: date, lineage: Lineage
) -> pd.DataFrame:
    """One chunk's prediction rows with lineage; ``risk_rank``/``risk_decile`` filled later."""
    frame = pd.DataFrame(
        {
            "customer_id": np.asarray(ids, dtype=np.int64),
            "scoring_week": scoring_week,
            "model_name": lineage.model_name,
        }
    )
    for col in scored.columns:
        frame[col] = scored[col].to_numpy()
    if "top_drivers" not in frame.columns:
        frame["top_drivers"] = "[]"
    frame["risk_rank"] = np.zeros(len(frame), dtype=np.int32)
    frame["risk_decile"] = np.zeros(len(frame), dtype=np.int16)
    for key, value in asdict(lineage).items():
        if key != "model_name":
            frame[key] = value
    return frame


def now_utc() -> datetime:
    return datetime.now(UTC)
