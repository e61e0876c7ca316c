"""Weekly scoring: turn a validated feature snapshot into prediction rows with lineage.

One scoring loop (:func:`scored_rows`: each chunk scored once) feeds a pluggable
:class:`PredictionSink`: :class:`LiveWeekSink` ranks over the whole week and replaces the live
week in one transaction (one process), :class:`ShardSink` stages one shard's slice for the swap
of a sharded scoring. Memory stays at about one chunk whatever the size of the base.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from churn_platform.app.spool import run_spool
from churn_platform.domain.schema import FeatureContract
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
from churn_platform.io.registry import PRODUCTION, ModelRegistry
from churn_platform.io.sharding import ShardStager, ShardTask, StagedShard

_log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "Lineage",
    "LiveWeekSink",
    "PredictionSink",
    "ScoredWeek",
    "ShardSink",
    "chunks",
    "now_utc",
    "prediction_rows",
    "ranks_among",
    "score_and_write",
    "score_week",
    "scored_rows",
    "snapshot_id",
    "stage_shard",
]


@dataclass(frozen=True)
class ScoredWeek:
    rows_written: int
    summary: pd.DataFrame  # customer_id, risk_score, risk_rank, risk_decile


def scored_rows(
    feature_chunks: Iterable[pd.DataFrame],
    predict: Callable[[pd.DataFrame, int], pd.DataFrame],
    *,
    id_column: str,
    feature_columns: Sequence[str],
    scoring_week: date,
    lineage: Lineage,
    top_drivers: int = 3,
    on_chunk: Callable[[int], None] | None = None,
) -> Iterator[pd.DataFrame]:
    """The one scoring loop: each chunk of features scored once, as prediction rows with
    lineage (ranks still empty: they need the whole week, which the sink knows).

    ``predict(frame, top_drivers)`` returns the model's pyfunc output (risk_score,
    churn_prob_<h>d, top_drivers). Lazy: a sink consumes it chunk by chunk, so memory stays at
    about one chunk whatever the size of the base.
    """
    cols = list(feature_columns)
    done = 0
    for chunk in feature_chunks:
        if chunk.empty:
            continue
        chunk_ids = chunk[id_column].to_numpy(dtype=np.int64)
        scored = predict(chunk[cols], top_drivers).reset_index(drop=True)
        yield prediction_rows(chunk_ids, scored, scoring_week, lineage)
        done += len(chunk)
        if on_chunk is not None:
            on_chunk(done)


class PredictionSink(Protocol):
    """Where scored prediction rows go; returns how many rows it took."""

    def write(self, rows: Iterable[pd.DataFrame]) -> int: ...


class LiveWeekSink:
    """The one-process sink: rank over the whole week and replace the live week atomically.

    Ranks need every score of the week, so each scored chunk is spooled to a local Arrow IPC
    file while only ids and risk scores are kept (16 bytes a customer); the spool is then
    streamed back with ranks filled in, into one COPY-based ``replace_week`` transaction.
    After :meth:`write`, ``summary`` holds customer_id, risk_score, risk_rank, risk_decile.
    """

    def __init__(self, repo: PredictionsRepository, scoring_week: date, model_name: str) -> None:
        self.repo = repo
        self.scoring_week = scoring_week
        self.model_name = model_name
        self.summary = pd.DataFrame()

    def write(self, rows: Iterable[pd.DataFrame]) -> int:
        schema = arrow_schema(self.repo.table)
        rank_at = schema.get_field_index("risk_rank")
        decile_at = schema.get_field_index("risk_decile")
        with run_spool() as tmp:  # run-scoped; a killed run's folder is reclaimed next run
            spool = str(Path(tmp) / "scored.arrows")
            ids: list[np.ndarray] = []
            scores: list[np.ndarray] = []
            with pa.OSFile(spool, "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
                for batch in rows:
                    writer.write_table(
                        pa.Table.from_pandas(batch, schema=schema, preserve_index=False)
                    )
                    ids.append(batch["customer_id"].to_numpy(dtype=np.int64))
                    scores.append(batch["risk_score"].to_numpy(dtype=np.float64))
            if not scores:
                raise EmptyPartitionError(
                    f"no active customers in the feature snapshot for week {self.scoring_week}; "
                    f"nothing to score (check the source for that week)"
                )
            risk = np.concatenate(scores)
            sorted_scores = np.sort(risk)

            def batches() -> Iterator[pa.Table]:
                with pa.OSFile(spool, "rb") as source, pa.ipc.open_stream(source) as reader:
                    for rb in reader:
                        rank, decile = ranks_among(
                            rb.column("risk_score").to_numpy(), sorted_scores
                        )
                        table = pa.Table.from_batches([rb])
                        table = table.set_column(rank_at, schema.field(rank_at), pa.array(rank))
                        yield table.set_column(decile_at, schema.field(decile_at), pa.array(decile))

            written = self.repo.replace_week(
                self.scoring_week, self.model_name, batches(), expected_rows=len(risk)
            )
        rank, decile = ranks_among(risk, sorted_scores)
        self.summary = pd.DataFrame(
            {
                "customer_id": np.concatenate(ids),
                "risk_score": risk,
                "risk_rank": rank,
                "risk_decile": decile,
            }
        )
        return written


class ShardSink:
    """The sharded sink: stage one shard's rows (one transaction); the swap ranks the week."""

    def __init__(self, stager: ShardStager, task: ShardTask) -> None:
        self.stager = stager
        self.task = task
        self.staged: StagedShard | None = None

    def write(self, rows: Iterable[pd.DataFrame]) -> int:
        self.staged = self.stager.stage_shard(self.task, rows)
        return self.staged.rows


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
    """Score a week in one process and replace its predictions atomically (memory ~ one
    chunk): :func:`scored_rows` into a :class:`LiveWeekSink`."""
    sink = LiveWeekSink(repo, scoring_week, lineage.model_name)
    written = sink.write(
        scored_rows(
            feature_chunks,
            predict,
            id_column=id_column,
            feature_columns=feature_columns,
            scoring_week=scoring_week,
            lineage=lineage,
            top_drivers=top_drivers,
            on_chunk=on_chunk,
        )
    )
    return ScoredWeek(rows_written=written, summary=sink.summary)


def stage_shard(
    stager: ShardStager,
    task: ShardTask,
    feature_chunks: Iterable[pd.DataFrame],
    predict: Callable[[pd.DataFrame, int], pd.DataFrame],
    *,
    id_column: str,
    feature_columns: Sequence[str],
    on_chunk: Callable[[int], None] | None = None,
) -> StagedShard:
    """Score one shard's customers and stage them, replacing that shard's previous slice:
    :func:`scored_rows` into a :class:`ShardSink` (the same loop as :func:`score_and_write`).
    ``feature_chunks`` must hold only this shard's customers (checked by the stager)."""
    sink = ShardSink(stager, task)
    sink.write(
        scored_rows(
            feature_chunks,
            predict,
            id_column=id_column,
            feature_columns=feature_columns,
            scoring_week=task.scoring_week,
            lineage=task.lineage,
            top_drivers=task.top_drivers,
            on_chunk=on_chunk,
        )
    )
    assert sink.staged is not None
    return sink.staged


@dataclass(frozen=True)
class WeekScores:
    """A scored week: which production version scored it (lineage) and what was written."""

    scoring_week: date
    lineage: Lineage
    rows_written: int
    summary: pd.DataFrame  # customer_id, risk_score, risk_rank, risk_decile


def score_week(
    scoring_week: date,
    features: pd.DataFrame,
    contract: FeatureContract,
    *,
    registry: ModelRegistry,
    repo: PredictionsRepository,
    run_id: str,
    code_version: str,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    top_drivers: int = 3,
    log: logging.Logger = _log,
) -> WeekScores:
    """Score a week's validated features with ``models:/<name>@production`` and replace the
    week's predictions in one transaction; rows carry model name, version, run id, feature
    snapshot id, the orchestrator's ``run_id`` and ``code_version``. Raises
    :class:`~churn_platform.errors.ModelNotFoundError` when no version is in production."""
    model = registry.load(PRODUCTION)
    log.info(
        "scoring %d customers with %s v%d (run %s)",
        len(features),
        model.name,
        model.version,
        model.run_id,
    )
    lineage = Lineage(
        model_name=model.name,
        model_version=model.version,
        model_run_id=model.run_id,
        model_alias=PRODUCTION,
        feature_snapshot_id=snapshot_id(features),
        dagster_run_id=run_id,
        code_version=code_version,
        scored_at=now_utc(),
    )
    total = len(features)

    def on_chunk(done: int) -> None:
        log.info("scored and staged %d / %d customers", done, total)

    scored = score_and_write(
        chunks(features, chunk_rows),
        model.predict,
        repo,
        id_column=contract.id_column,
        feature_columns=contract.feature_names,
        scoring_week=scoring_week,
        lineage=lineage,
        top_drivers=top_drivers,
        on_chunk=on_chunk,
    )
    return WeekScores(scoring_week, lineage, scored.rows_written, scored.summary)
