"""Weekly scoring: turn a validated feature snapshot into prediction rows with lineage.

Scores are computed chunk by chunk, ranked over the whole week and bulk-written in one
transaction; memory stays at about one chunk whatever the size of the base.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from churn_platform.errors import EmptyPartitionError
from churn_platform.io.prediction_rows import (
    DEFAULT_CHUNK_ROWS,
    Lineage,
    chunks,
    now_utc,
    prediction_rows,
    ranks_among,
    snapshot_id,
)
from churn_platform.io.predictions import PredictionsRepository, arrow_schema

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "Lineage",
    "ScoredWeek",
    "chunks",
    "now_utc",
    "prediction_rows",
    "ranks_among",
    "score_and_write",
    "snapshot_id",
]


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
