"""Weekly scoring: turn a validated feature snapshot into prediction rows with lineage.

Scores are computed chunk by chunk, ranked over the whole week (rank 1 = riskiest, decile 10 =
riskiest 10%) and bulk-written in one transaction, each row stamped with where it came from:
model name, version, alias and MLflow run id, feature snapshot id, Dagster run id, code
version, time. Memory stays at about one chunk whatever the size of the base.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from churn_platform.errors import EmptyPartitionError
from churn_platform.io.predictions import PredictionsRepository, arrow_schema

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


@dataclass(frozen=True)
class ScoredWeek:
    rows_written: int
    summary: pd.DataFrame  # customer_id, risk_score, risk_rank, risk_decile


def score_and_write(
    feature_chunks: Iterable[pd.DataFrame],
    predict: Callable[[pd.DataFrame, int], pd.DataFrame],
    repo: PredictionsRepository,
    *,
    id_column: str,
    feature_columns: Sequence[str],
    scoring_week: date,
    lineage: Lineage,
    top_drivers: int = 3,
    on_chunk: Callable[[int], None] | None = None,
) -> ScoredWeek:
    """Score a week chunk by chunk and replace its predictions atomically, memory ~ one chunk.

    Ranks need every score of the week, so each chunk is scored once and spooled to a local
    Arrow IPC file while only ids and risk scores are kept (16 bytes a customer); the spool is
    then streamed back with ranks filled in, into one COPY-based ``replace_week`` transaction.
    ``predict(frame, top_drivers)`` returns the model's pyfunc output (risk_score,
    churn_prob_<h>d, top_drivers).
    """
    schema = arrow_schema(repo.table)
    rank_at = schema.get_field_index("risk_rank")
    decile_at = schema.get_field_index("risk_decile")
    cols = list(feature_columns)
    with tempfile.TemporaryDirectory(prefix="churn_spool_") as tmp:
        spool = str(Path(tmp) / "scored.arrows")
        ids: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        done = 0
        with pa.OSFile(spool, "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            for chunk in feature_chunks:
                if chunk.empty:
                    continue
                chunk_ids = chunk[id_column].to_numpy(dtype=np.int64)
                scored = predict(chunk[cols], top_drivers).reset_index(drop=True)
                rows = prediction_rows(chunk_ids, scored, scoring_week, lineage)
                writer.write_table(pa.Table.from_pandas(rows, schema=schema, preserve_index=False))
                ids.append(chunk_ids)
                scores.append(rows["risk_score"].to_numpy(dtype=np.float64))
                done += len(chunk)
                if on_chunk is not None:
                    on_chunk(done)
        if not scores:
            raise EmptyPartitionError(
                f"no active customers in the feature snapshot for week {scoring_week}; nothing "
                f"to score (check the source for that week)"
            )
        risk = np.concatenate(scores)
        sorted_scores = np.sort(risk)

        def batches() -> Iterator[pa.Table]:
            with pa.OSFile(spool, "rb") as source, pa.ipc.open_stream(source) as reader:
                for rb in reader:
                    rank, decile = ranks_among(rb.column("risk_score").to_numpy(), sorted_scores)
                    table = pa.Table.from_batches([rb])
                    table = table.set_column(rank_at, schema.field(rank_at), pa.array(rank))
                    yield table.set_column(decile_at, schema.field(decile_at), pa.array(decile))

        written = repo.replace_week(
            scoring_week, lineage.model_name, batches(), expected_rows=len(risk)
        )
    rank, decile = ranks_among(risk, sorted_scores)
    summary = pd.DataFrame(
        {
            "customer_id": np.concatenate(ids),
            "risk_score": risk,
            "risk_rank": rank,
            "risk_decile": decile,
        }
    )
    return ScoredWeek(rows_written=written, summary=summary)


def now_utc() -> datetime:
    return datetime.now(UTC)
