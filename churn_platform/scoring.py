"""Weekly scoring: turn a validated feature snapshot into prediction rows with lineage.

Scores are computed chunk by chunk (bounded memory for the model's intermediate matrices),
ranked over the whole week (rank 1 = riskiest, decile 10 = riskiest 10%), then yielded again
chunk by chunk for the bulk writer, each row stamped with where it came from: model name,
version, alias and MLflow run id, feature snapshot id, Dagster run id, code version, time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from churn_platform.errors import EmptyPartitionError

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


def rank_and_decile(risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank 1 = highest risk (ties broken by position, stable); decile 10 = top 10%."""
    n = len(risk)
    order = np.argsort(-risk, kind="stable")
    rank = np.empty(n, dtype=np.int32)
    rank[order] = np.arange(1, n + 1, dtype=np.int32)
    decile = (10 - ((rank - 1) * 10 // max(n, 1))).astype(np.int16)
    return rank, decile


@dataclass
class WeekScores:
    """A scored week: the full risk vector (small) and a lazy stream of row batches."""

    summary: pd.DataFrame  # customer_id, risk_score, risk_rank, risk_decile
    batches: Iterator[pd.DataFrame]


def score_week(
    features: pd.DataFrame,
    predict: Callable[[pd.DataFrame, int], pd.DataFrame],
    *,
    id_column: str,
    feature_columns: Sequence[str],
    scoring_week: date,
    lineage: Lineage,
    top_drivers: int = 3,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_chunk: Callable[[int, int], None] | None = None,
) -> WeekScores:
    """Score every customer of the week in two passes with memory bounded by one chunk.

    Pass 1 computes risk scores only (cheap) to rank the whole week; pass 2, consumed by the
    bulk writer, computes probabilities and top drivers chunk by chunk and stamps lineage.
    ``predict(frame, top_drivers)`` is the model's pyfunc output: risk_score,
    churn_prob_<h>d and optionally top_drivers.
    """
    if features.empty:
        raise EmptyPartitionError(
            f"no active customers in the feature snapshot for week {scoring_week}; nothing to "
            f"score (check the source for that week)"
        )
    cols = list(feature_columns)
    risk = np.concatenate(
        [
            predict(chunk[cols], 0)["risk_score"].to_numpy(dtype=float)
            for chunk in chunks(features, chunk_rows)
        ]
    )
    rank, decile = rank_and_decile(risk)
    ids = features[id_column].to_numpy(dtype=np.int64)
    summary = pd.DataFrame(
        {"customer_id": ids, "risk_score": risk, "risk_rank": rank, "risk_decile": decile}
    )

    def batches() -> Iterator[pd.DataFrame]:
        offset = 0
        for chunk in chunks(features, chunk_rows):
            n = len(chunk)
            pred = predict(chunk[cols], top_drivers).reset_index(drop=True)
            pred["risk_score"] = risk[offset : offset + n]  # identical, pass-1 value
            batch = pd.DataFrame(
                {
                    "customer_id": ids[offset : offset + n],
                    "scoring_week": scoring_week,
                    "model_name": lineage.model_name,
                }
            )
            batch = pd.concat([batch, pred], axis=1)
            if "top_drivers" not in batch.columns:
                batch["top_drivers"] = "[]"
            batch = batch.assign(
                risk_rank=rank[offset : offset + n],
                risk_decile=decile[offset : offset + n],
                model_version=lineage.model_version,
                model_run_id=lineage.model_run_id,
                model_alias=lineage.model_alias,
                feature_snapshot_id=lineage.feature_snapshot_id,
                dagster_run_id=lineage.dagster_run_id,
                code_version=lineage.code_version,
                scored_at=lineage.scored_at,
            )
            offset += n
            if on_chunk is not None:
                on_chunk(offset, len(features))
            yield batch

    return WeekScores(summary=summary, batches=batches())


def now_utc() -> datetime:
    return datetime.now(UTC)
