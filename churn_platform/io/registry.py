"""MLflow adapter: log training runs, register versions, move aliases, load by alias.

MLflow 3 aliases (``challenger``, ``production``) replace the deprecated stages. Every alias move
goes through :meth:`ModelRegistry.set_alias`, which also appends a row to the PostgreSQL
``alias_history`` table (who, when, why), because MLflow itself keeps only the current alias.
Scoring loads ``models:/<name>@production`` by first resolving the alias to a version and then
loading that exact version, so the lineage we write is the model we actually ran.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import mlflow
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.pyfunc import PyFuncModel
from mlflow.tracking import MlflowClient

from churn_platform.errors import (
    ArtifactError,
    DataContractError,
    ModelNotFoundError,
    StorageError,
    mask_secrets,
    mask_url,
    safe_text,
)
from churn_platform.io.http_probe import bound_mlflow_http, probe_http_store
from churn_platform.io.reference_cache import ReferenceDiskCache

log = logging.getLogger(__name__)

PRODUCTION = "production"
CHALLENGER = "challenger"
REFERENCE_FEATURES = "reference/features.parquet"
REFERENCE_SCORES = "reference/scores.parquet"
CONTRACT_ARTIFACT = "contract/feature_contract.json"
MODEL_URI_TAG = "churn.model_uri"


class AliasHistoryWriter(Protocol):
    def record(
        self,
        model_name: str,
        alias: str,
        version: int,
        previous_version: int | None,
        changed_by: str,
        reason: str,
    ) -> None: ...


@dataclass(frozen=True)
class LoadedModel:
    """A model loaded for scoring, with the lineage to stamp on its predictions."""

    model: PyFuncModel
    name: str
    version: int
    run_id: str
    alias: str

    def predict(self, features: pd.DataFrame, top_drivers: int = 0) -> pd.DataFrame:
        """Pyfunc output for contract features (Categorical columns are sent as strings)."""
        plain = features.copy()
        for name in plain.columns:
            if isinstance(plain[name].dtype, pd.CategoricalDtype):
                plain[name] = plain[name].astype("object")
        try:
            out = self.model.predict(plain, params={"top_drivers": top_drivers})
        except MlflowException as exc:  # the model's input signature rejected the columns
            raise DataContractError(
                f"model {self.name!r} v{self.version} (@{self.alias}) cannot score these "
                f"features: {_schema_problem(exc.message)}. The data source's columns changed "
                "since this version was trained: fix the mapping or retrain."
            ) from None
        return pd.DataFrame(out)


def _schema_problem(message: str) -> str:
    """The part of MLflow's schema-enforcement error that names columns (not the data dump)."""
    found = re.findall(r"(?:missing inputs|extra inputs)[^\n.]*", message)
    if found:
        return "; ".join(found)
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else "input schema mismatch"


@dataclass(frozen=True)
class PyfuncModelFiles:
    """A pyfunc model "from code", as files: what :meth:`ModelRegistry.log_run` stores.

    ``code_path`` is the module that calls ``mlflow.models.set_model``; ``artifacts`` the files
    it loads (name -> local path); the examples give MLflow the input/output signature (the
    output of ``input_example``, and the inference ``params`` with their defaults);
    ``pip_requirements`` the pinned libraries the model needs besides MLflow itself.
    """

    code_path: Path
    artifacts: Mapping[str, Path]
    input_example: pd.DataFrame
    output_example: pd.DataFrame
    params_example: Mapping[str, object] = field(default_factory=dict)
    pip_requirements: Sequence[str] = ()


MLFLOW_UI_URL_ENV = "CHURN_MLFLOW_UI_URL"
DEFAULT_MLFLOW_UI_URL = "http://127.0.0.1:5000"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
"""MLflow 3 opens an untagged experiment in the GenAI view (traces); ours are model training runs,
so the experiment says so and opens in the classic runs view with metrics and models."""


class ModelRegistry:
    """Registry operations for one registered model name."""

    def __init__(
        self,
        model_name: str,
        *,
        tracking_uri: str | None = None,
        experiment_name: str = "churn_platform",
        artifact_location: str | None = None,
        alias_history: AliasHistoryWriter | None = None,
        reference_cache: ReferenceDiskCache | None = None,
    ) -> None:
        self.model_name = model_name
        self.reference_cache = reference_cache
        self.tracking_uri = tracking_uri or mlflow.get_tracking_uri()
        self.check_reachable()  # MlflowClient() opens the store eagerly, with ~100 s of retries
        self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        self.experiment_name = experiment_name
        self.artifact_location = artifact_location
        self.alias_history = alias_history

    # ---------- experiments and runs ----------
    def experiment_id(self) -> str:
        try:
            exp = self.client.get_experiment_by_name(self.experiment_name)
            if exp is not None:
                if exp.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
                    self.client.set_experiment_tag(
                        exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
                    )
                return str(exp.experiment_id)
            location = self.artifact_location
            if location and "://" not in location:
                location = Path(location).resolve().as_uri()
            return str(
                self.client.create_experiment(
                    self.experiment_name, location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
                )
            )
        except MlflowException as exc:
            raise StorageError(
                f"MLflow tracking store {self._safe_uri()} is unreachable or rejected the "
                f"request: {self._redact(exc.message)}"
            ) from exc

    def _redact(self, text: str) -> str:
        """``text`` with the tracking URI's credentials masked (MLflow quotes the full URI)."""
        from urllib.parse import unquote, urlsplit

        text = text.replace(self.tracking_uri, self._safe_uri())
        try:
            parts = urlsplit(self.tracking_uri)
            secrets = [s for s in (parts.password, parts.username) if s]
        except ValueError:
            secrets = []
        return mask_secrets(text, extra=[*secrets, *map(unquote, secrets)])

    def check_reachable(self, timeout_s: int = 10) -> None:
        """Fail in seconds, naming the store, when the tracking store is unreachable.

        A database store: MLflow retries creating its engine with exponential backoff for about
        100 s and then raises a raw driver error. An HTTP store: MLflow's client waits 120 s per
        request and retries 7 times with backoff (minutes). Both are probed here within
        ``timeout_s`` in total, and the MLflow HTTP client gets a bounded budget for later calls
        (:func:`bound_mlflow_http`), so scoring and promotion fail fast and clearly (and the
        asset's RetryPolicy decides when to try again).
        """
        import sqlalchemy as sa
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import NullPool

        if self.tracking_uri.lower().startswith(("http://", "https://")):
            bound_mlflow_http()
            probe_http_store(self.tracking_uri, budget_s=timeout_s)
            return
        try:
            url = make_url(self.tracking_uri)
        except Exception:  # file:, databricks: not a database URL
            return
        if not url.drivername.startswith("postgresql"):
            return
        engine = sa.create_engine(
            url, poolclass=NullPool, connect_args={"connect_timeout": timeout_s}
        )
        try:
            with engine.connect():
                pass
        except sa.exc.SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise StorageError(
                f"MLflow tracking store {self._safe_uri()} is unreachable: {self._redact(reason)}"
            ) from None
        finally:
            engine.dispose()

    def _safe_uri(self) -> str:
        return mask_url(self.tracking_uri)

    def log_run(
        self,
        model: PyfuncModelFiles,
        *,
        params: Mapping[str, object] | None = None,
        metrics: Mapping[str, float] | None = None,
        dicts: Mapping[str, Mapping[str, object]] | None = None,
        texts: Mapping[str, str] | None = None,
        frames: Mapping[str, pd.DataFrame] | None = None,
        tags: Mapping[str, str] | None = None,
        run_name: str | None = None,
    ) -> str:
        """One MLflow run holding a pyfunc model logged from code plus its evidence.

        ``dicts``/``texts``/``frames`` map an artifact path (``contract/x.json``,
        ``reference/features.parquet``) to its content; frames are stored as Parquet. The
        model's URI is tagged on the run so :meth:`register` can find it. The caller (the
        application layer) decides what a training run contains; this adapter only stores it.
        Returns the MLflow run id.
        """
        signature = infer_signature(
            model.input_example, model.output_example, params=dict(model.params_example)
        )
        mlflow.set_tracking_uri(self.tracking_uri)
        with (
            mlflow.start_run(experiment_id=self.experiment_id(), run_name=run_name) as run,
            tempfile.TemporaryDirectory() as tmp,
        ):
            # params and tags are shown to anyone with MLflow access: no credential, no 2 MB value
            mlflow.set_tags(
                {
                    k: safe_text(v, 5000)
                    for k, v in {"churn.model_name": self.model_name, **(tags or {})}.items()
                }
            )
            if params:
                mlflow.log_params({k: safe_text(v, 6000) for k, v in dict(params).items()})
            if metrics:
                mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
            for artifact, content in (dicts or {}).items():
                mlflow.log_dict(dict(content), artifact)
            for artifact, text in (texts or {}).items():
                mlflow.log_text(text, artifact)
            tmpdir = Path(tmp)
            for artifact, frame in (frames or {}).items():
                local = tmpdir / "frames" / artifact
                local.parent.mkdir(parents=True, exist_ok=True)
                frame.to_parquet(local, index=False)
                mlflow.log_artifact(str(local), str(Path(artifact).parent))
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(model.code_path),
                artifacts={k: str(v) for k, v in model.artifacts.items()},
                signature=signature,
                input_example=model.input_example,
                pip_requirements=[f"mlflow=={mlflow.__version__}", *model.pip_requirements],
            )
            mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
            return str(run.info.run_id)

    def register(self, run_id: str) -> int:
        """Register the run's model as a new version of ``model_name``; returns the version."""
        try:
            self.client.get_registered_model(self.model_name)
        except MlflowException:
            self.client.create_registered_model(self.model_name)
        source = self.client.get_run(run_id).data.tags.get(MODEL_URI_TAG)
        if source is None:
            raise ArtifactError(f"MLflow run {run_id} has no logged churn model to register")
        # MLflow 3 logged models: a tracking *server* (REST) refuses a ``models:/m-...`` source
        # without the logged model's id (INVALID_PARAMETER_VALUE); a database store accepts it.
        model_id = source.removeprefix("models:/") if source.startswith("models:/m-") else None
        mv = self.client.create_model_version(
            self.model_name, source=source, run_id=run_id, model_id=model_id
        )
        return int(mv.version)

    def log_metric(self, run_id: str, key: str, value: float, step: int) -> None:
        """Log a metric to a (possibly finished) run, e.g. delayed-label C-index by week."""
        self.client.log_metric(run_id, key, float(value), step=int(step))

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        """Log many metrics to a (finished) run in one call, all at ``step``."""
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, int(step)) for k, v in metrics.items()]
        for start in range(0, len(batch), 900):  # MLflow caps a batch at 1000 metrics
            self.client.log_batch(run_id, metrics=batch[start : start + 900])

    def log_artifact_bytes(self, run_id: str, data: bytes, artifact_file: str) -> None:
        """Attach a report (HTML, PNG) to a run, e.g. the weekly Evidently drift report."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(artifact_file).name
            path.write_bytes(data)
            self.client.log_artifact(run_id, str(path), str(Path(artifact_file).parent))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Attach a text artifact (e.g. the gate's reasons) to a (finished) run."""
        self.client.log_text(run_id, text, artifact_file)

    def artifact_uri(self, run_id: str, artifact_file: str) -> str:
        """Where ``artifact_file`` of a run lives in the MLflow artifact store."""
        root = self.client.get_run(run_id).info.artifact_uri
        return f"{root.rstrip('/')}/{artifact_file}"

    # ---------- links people can open (Dagster metadata, notifications) ----------
    def ui_url(self) -> str:
        """Base URL of the MLflow UI: ``CHURN_MLFLOW_UI_URL``, else the tracking server, else
        ``http://127.0.0.1:5000`` (where ``mlflow ui --backend-store-uri ...`` serves)."""
        explicit = os.environ.get(MLFLOW_UI_URL_ENV, "").strip()
        if explicit:
            return explicit.rstrip("/")
        if self.tracking_uri.startswith(("http://", "https://")):
            return self.tracking_uri.rstrip("/")
        return DEFAULT_MLFLOW_UI_URL

    def run_url(self, run_id: str) -> str:
        """The run's page in the MLflow UI."""
        experiment = self.client.get_run(run_id).info.experiment_id
        return f"{self.ui_url()}/#/experiments/{experiment}/runs/{run_id}"

    def artifact_page_url(self, run_id: str, artifact_file: str) -> str:
        """The run's artifact viewer opened on ``artifact_file`` (renders HTML and markdown;
        the tracking server serves the bytes, wherever the artifact store is)."""
        return f"{self.run_url(run_id)}/artifacts/{quote(artifact_file)}"

    def model_version_url(self, version: int) -> str:
        return f"{self.ui_url()}/#/models/{quote(self.model_name)}/versions/{version}"

    def read_artifact_text(self, run_id: str, artifact_file: str) -> str:
        """The text of one artifact of a run (downloaded to a temporary file)."""
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=artifact_file, tracking_uri=self.tracking_uri
        )
        return Path(local).read_text(encoding="utf-8")

    def run_id_of(self, version: int) -> str:
        """The MLflow run that logged ``version`` of this model."""
        return str(self.client.get_model_version(self.model_name, str(version)).run_id)

    # ---------- aliases ----------
    def version_for_alias(self, alias: str) -> ModelVersion | None:
        try:
            return self.client.get_model_version_by_alias(self.model_name, alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise StorageError(
                f"MLflow registry {self._safe_uri()} failed resolving "
                f"{self.model_name}@{alias}: {self._redact(exc.message)}"
            ) from exc

    def set_alias(self, alias: str, version: int, *, changed_by: str, reason: str) -> None:
        """Point ``alias`` at ``version`` and record the move in alias_history."""
        changed_by, reason = safe_text(changed_by, 500), safe_text(reason, 2000)
        current = self.version_for_alias(alias)
        previous = int(current.version) if current is not None else None
        self.client.get_model_version(self.model_name, str(version))  # raises if absent
        self.client.set_registered_model_alias(self.model_name, alias, str(version))
        self.client.set_model_version_tag(
            self.model_name, str(version), f"churn.{alias}_by", changed_by
        )
        if self.alias_history is not None:
            self.alias_history.record(
                self.model_name, alias, int(version), previous, changed_by, reason
            )
        log.info(
            "%s@%s: %s -> %s by %s (%s)",
            self.model_name,
            alias,
            previous,
            version,
            changed_by,
            reason,
        )

    def aliases(self) -> dict[str, int]:
        """Every alias of the registered model and the version it points at ({} if none)."""
        try:
            model = self.client.get_registered_model(self.model_name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise StorageError(
                f"MLflow registry {self._safe_uri()} failed reading {self.model_name!r}: "
                f"{self._redact(exc.message)}"
            ) from exc
        return {str(a): int(v) for a, v in (model.aliases or {}).items()}

    def versions(self) -> list[int]:
        """All registered version numbers of the model, ascending."""
        found = self.client.search_model_versions(f"name = '{self.model_name}'")
        return sorted(int(mv.version) for mv in found)

    def version_tags(self, version: int) -> dict[str, str]:
        mv = self.client.get_model_version(self.model_name, str(version))
        return {str(k): str(v) for k, v in (mv.tags or {}).items()}

    def point_alias(self, alias: str, version: int | None) -> None:
        """Set (or with ``None`` delete) an alias in MLflow only; the caller records it."""
        if version is None:
            try:
                self.client.delete_registered_model_alias(self.model_name, alias)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
        else:
            self.client.set_registered_model_alias(self.model_name, alias, str(version))

    def put_version_tag(self, version: int, key: str, value: str | None) -> None:
        """Set (or with ``None`` delete) a tag of one version in MLflow."""
        if value is None:
            try:
                self.client.delete_model_version_tag(self.model_name, str(version), key)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
        else:
            self.client.set_model_version_tag(
                self.model_name, str(version), key, safe_text(value, 5000)
            )

    def promote(self, version: int, *, approver: str, reason: str) -> None:
        """Human-approved promotion: only the current challenger may become production."""
        challenger = self.version_for_alias(CHALLENGER)
        if challenger is None or int(challenger.version) != int(version):
            held = "no version" if challenger is None else f"version {challenger.version}"
            raise ModelNotFoundError(
                f"version {version} of {self.model_name!r} is not the challenger ({held} holds "
                f"@{CHALLENGER}); only a challenger that passed the validation gate can be "
                f"promoted. Run the training job first."
            )
        if not approver.strip():
            raise ValueError("an approver name is required to promote a model")
        self.set_alias(PRODUCTION, version, changed_by=approver, reason=reason)

    # ---------- loading ----------
    def load(self, alias: str = PRODUCTION) -> LoadedModel:
        """Load the version holding ``alias`` with its lineage; clear error if none does."""
        mv = self.version_for_alias(alias)
        if mv is None:
            raise ModelNotFoundError(
                f"no version of model {self.model_name!r} holds the alias @{alias} in the MLflow "
                f"registry at {self._safe_uri()}. Train one (`churn-platform train` or the "
                f"Dagster `training_job`) and promote it: `churn-platform promote --version N "
                f"--approver YOUR_NAME`."
            )
        uri = f"models:/{self.model_name}/{mv.version}"
        try:
            model = mlflow.pyfunc.load_model(uri)
        except MlflowException as exc:
            raise ArtifactError(
                f"could not load {uri} (@{alias}): {self._redact(exc.message)}"
            ) from exc
        return LoadedModel(
            model=model,
            name=self.model_name,
            version=int(mv.version),
            run_id=str(mv.run_id),
            alias=alias,
        )

    def load_version(self, version: int) -> LoadedModel:
        """Load one exact version (whatever its aliases), e.g. to compare two versions."""
        uri = f"models:/{self.model_name}/{int(version)}"
        try:
            mv = self.client.get_model_version(self.model_name, str(int(version)))
            model = mlflow.pyfunc.load_model(uri)
        except MlflowException as exc:
            raise ArtifactError(f"could not load {uri}: {self._redact(exc.message)}") from exc
        return LoadedModel(
            model=model,
            name=self.model_name,
            version=int(version),
            run_id=str(mv.run_id),
            alias=f"v{int(version)}",
        )

    def load_python_model(self, version: int) -> object:
        """The Python object behind the pyfunc wrapper of ``version`` (for callers that need
        more than ``predict``, e.g. the survival baseline of the churn model)."""
        uri = f"models:/{self.model_name}/{int(version)}"
        try:
            return mlflow.pyfunc.load_model(uri).unwrap_python_model()
        except MlflowException as exc:
            raise ArtifactError(f"could not load {uri}: {self._redact(exc.message)}") from exc

    def load_reference(self, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The training reference (features, scores) logged with ``run_id``, for drift; from the
        machine's disk cache when one is configured (downloaded once per machine)."""
        if self.reference_cache is not None:
            return self.reference_cache.get_or_load(
                self.tracking_uri, run_id, lambda: self._download_reference(run_id)
            )
        return self._download_reference(run_id)

    def _download_reference(self, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        frames = []
        for path in (REFERENCE_FEATURES, REFERENCE_SCORES):
            try:
                local = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=path, tracking_uri=self.tracking_uri
                )
                frames.append(pd.read_parquet(local))
            except Exception as exc:
                raise ArtifactError(
                    f"reference artifact {path!r} of MLflow run {run_id} is missing or "
                    f"unreadable ({self._redact(str(exc))}); retrain the model to regenerate it."
                ) from exc
        return frames[0], frames[1]

    def run_metrics(self, run_id: str) -> dict[str, float]:
        return dict(self.client.get_run(run_id).data.metrics)
