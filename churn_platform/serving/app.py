"""Real-time churn scoring: ``POST /v1/score`` over the model holding ``@production``.

The app loads ``models:/<name>@production`` when it is created and, on a request at most every
``refresh_seconds``, asks the registry which version holds the alias; when it moved, that request
loads the new version and swaps it in (one reference assignment under a lock). Other requests keep
being served by the old version while the new one loads, and a failed reload (MLflow down, broken
artifact) keeps the old version serving and is counted in ``/metrics``.

The request body is validated by a pydantic model generated from the *loaded model's own* feature
contract, so a retrained model with new features or levels changes the accepted input with it:

* numeric feature → ``float`` (``int`` for integer features) with ``ge``/``le`` from the contract's
  range intersected with what the model reads (``float32``) and the table stores (``int64``),
  finite only, strict (text such as ``"12"`` or ``true`` is refused, never coerced);
* categorical feature → ``Literal`` of the declared levels;
* unknown fields are refused (``extra="forbid"``).

A bad body gets FastAPI's standard 422 response whose ``detail[].loc`` names the field, e.g.
``["body", "customers", 3, "monthly_charges"]``.

Endpoints: ``POST /v1/score``, ``GET /v1/schema`` (the JSON schema of the current request body),
``GET /healthz`` (200 + model version when a model is loaded, else 503) and ``GET /metrics``
(Prometheus text; each app has its own ``CollectorRegistry``).

Access: every endpoint but ``/healthz`` needs the API key (from the secret in ``CHURN_API_KEY``)
in an ``X-API-Key`` header (or ``Authorization: Bearer <key>``, what Prometheus sends); a missing or
wrong key is 401, compared in constant time (``hmac.compare_digest``). ``/v1/score`` takes
``application/json`` bodies only (415 otherwise). The app refuses to start without a key.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from prometheus_client.registry import CollectorRegistry
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from churn_platform.domain.schema import (
    INT64_MAX,
    INT64_MIN,
    CategoricalFeature,
    FeatureContract,
    NumericFeature,
)
from churn_platform.errors import ArtifactError, ChurnPlatformError, ConfigurationError
from churn_platform.io.registry import PRODUCTION, LoadedModel, ModelRegistry

log = logging.getLogger(__name__)

MAX_CUSTOMERS = 10_000
"""Most customers one request may carry (bigger bases go through the weekly batch)."""
MAX_BODY_BYTES = 16 * 1024 * 1024
"""Request bodies above this are refused with 413 before parsing."""
CUSTOMER_ID = "customer_id"
API_KEY_ENV = "CHURN_API_KEY"
"""Environment variable holding the endpoint's API key (inject it from a secret store)."""
API_KEY_HEADER = "X-API-Key"
MIN_API_KEY_CHARS = 16

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# --------------------------------------------------------------------------------------------
# Request model from the feature contract
# --------------------------------------------------------------------------------------------


def _field_name(i: int) -> str:
    """Python attribute of the i-th feature; the JSON key is the feature name (alias), so any
    feature name works, including ones that shadow ``BaseModel`` attributes."""
    return f"f{i}"


def request_model_for(
    contract: FeatureContract, *, max_customers: int = MAX_CUSTOMERS
) -> type[BaseModel]:
    """The pydantic model of a ``/v1/score`` body for ``contract``.

    ``{"customers": [{"customer_id": 1, <feature>: value, ...}, ...], "top_drivers": 3}``.
    """
    if CUSTOMER_ID in contract.feature_names:
        raise ArtifactError(f"a model feature is named {CUSTOMER_ID!r}, the request's id key")
    fields: dict[str, Any] = {
        CUSTOMER_ID: (
            Annotated[
                int,
                Field(
                    strict=True,
                    ge=INT64_MIN,
                    le=INT64_MAX,
                    description="your customer id (the predictions table's BIGINT)",
                ),
            ],
            ...,
        )
    }
    for i, feature in enumerate(contract.features):
        if isinstance(feature, NumericFeature):
            # the contract's range intersected with what the model reads (float32) or the
            # table stores (int64): 1e308 or 2**63 is a 422 naming the field, never a 500
            lo, hi = feature.storable_bounds()
            constraints: dict[str, Any] = {
                "alias": feature.name,
                "strict": True,
                "ge": lo,
                "le": hi,
            }
            if feature.integer:
                fields[_field_name(i)] = (Annotated[int, Field(**constraints)], ...)
            else:
                fields[_field_name(i)] = (
                    Annotated[float, Field(allow_inf_nan=False, **constraints)],
                    ...,
                )
        elif isinstance(feature, CategoricalFeature):
            levels: Any = Literal[tuple(feature.categories)]
            fields[_field_name(i)] = (Annotated[levels, Field(alias=feature.name)], ...)
    customer = create_model(
        "Customer",
        __config__=ConfigDict(extra="forbid", populate_by_name=False, frozen=True),
        **fields,
    )
    n_features = len(contract.features)
    return create_model(
        "ScoreRequest",
        __config__=ConfigDict(extra="forbid"),
        customers=(
            Annotated[list[customer], Field(min_length=1, max_length=max_customers)],  # type: ignore[valid-type]
            ...,
        ),
        top_drivers=(Annotated[int, Field(strict=True, ge=0, le=n_features)], 3),
    )


def frame_from_request(body: Any, contract: FeatureContract) -> tuple[list[int], pd.DataFrame]:
    """Customer ids and the plain-features frame (pyfunc input format) of a validated body."""
    customers = body.customers
    ids = [c.customer_id for c in customers]
    columns: dict[str, Any] = {}
    for i, feature in enumerate(contract.features):
        values = [getattr(c, _field_name(i)) for c in customers]
        if isinstance(feature, NumericFeature):
            columns[feature.name] = np.asarray(
                values, dtype=np.int64 if feature.integer else np.float64
            )
        else:
            columns[feature.name] = pd.Series(values, dtype="object")
    return ids, pd.DataFrame(columns)


# --------------------------------------------------------------------------------------------
# The served model and its hot swap
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """One loaded model version with the request model generated from its contract."""

    loaded: LoadedModel
    contract: FeatureContract
    request_model: type[BaseModel]


def contract_of(loaded: LoadedModel) -> FeatureContract:
    """The feature contract stored inside the loaded churn pyfunc."""
    inner = getattr(loaded.model.unwrap_python_model(), "model", None)
    contract = getattr(inner, "contract", None)
    if not isinstance(contract, FeatureContract):
        raise ArtifactError(
            f"{loaded.name} v{loaded.version} is not a churn_platform model (no feature contract)"
        )
    return contract


class ModelHolder:
    """Holds the served version; reloads it when the alias moves (checked on request)."""

    def __init__(
        self,
        registry: ModelRegistry,
        alias: str,
        refresh_seconds: float,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.alias = alias
        self.refresh_seconds = refresh_seconds
        self.metrics = metrics
        self.clock = clock
        self._served: Served | None = None
        self._swap_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._checked_at = float("-inf")
        self.last_error: str | None = None

    @property
    def served(self) -> Served | None:
        return self._served

    def _load(self) -> None:
        loaded = self.registry.load(self.alias)
        contract = contract_of(loaded)
        served = Served(loaded, contract, request_model_for(contract))
        with self._swap_lock:
            previous = self._served
            self._served = served
        self.metrics.model_version.labels(loaded.name, self.alias).set(loaded.version)
        self.metrics.model_loaded.set(1)
        log.info(
            "serving %s v%s (@%s, run %s)%s",
            loaded.name,
            loaded.version,
            self.alias,
            loaded.run_id,
            "" if previous is None else f", replacing v{previous.loaded.version}",
        )

    def refresh(self, *, force: bool = False) -> None:
        """Load the alias's version if it differs from the served one (at most once per
        ``refresh_seconds`` unless forced). Never raises: failures keep the old version."""
        now = self.clock()
        if not force and now - self._checked_at < self.refresh_seconds:
            return
        if not self._reload_lock.acquire(blocking=force):
            return  # another request is already checking; keep serving what we have
        try:
            self._checked_at = now
            mv = self.registry.version_for_alias(self.alias)
            current = self._served
            if mv is None:
                self.last_error = f"no version of {self.registry.model_name} holds @{self.alias}"
                if current is None:
                    self.metrics.reloads.labels("no_model").inc()
                return
            if current is not None and int(mv.version) == current.loaded.version:
                return
            self._load()
            self.last_error = None
            self.metrics.reloads.labels("loaded").inc()
        except ChurnPlatformError as exc:  # store down, broken artifact: keep serving
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.metrics.reloads.labels("failed").inc()
            log.warning("model reload failed, keeping the served version: %s", self.last_error)
        finally:
            self._reload_lock.release()

    def current(self) -> Served:
        self.refresh()
        served = self._served
        if served is None:
            raise HTTPException(
                status_code=503,
                detail=f"no model loaded: {self.last_error or 'not loaded yet'}",
            )
        return served


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


class Metrics:
    """Prometheus metrics of one app, in their own registry (no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "churn_realtime_requests",
            "HTTP requests by route and status code",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "churn_realtime_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.customers = Counter(
            "churn_realtime_customers_scored", "customers scored", registry=self.registry
        )
        self.model_version = Gauge(
            "churn_realtime_model_version",
            "registered model version being served",
            ["model_name", "alias"],
            registry=self.registry,
        )
        self.model_loaded = Gauge(
            "churn_realtime_model_loaded", "1 when a model is loaded", registry=self.registry
        )
        self.reloads = Counter(
            "churn_realtime_model_reloads",
            "model (re)load attempts by outcome",
            ["outcome"],
            registry=self.registry,
        )


class MetricsMiddleware:
    """Pure ASGI middleware: count and time every HTTP request by its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
            self.metrics.requests.labels(route, scope.get("method", ""), str(status)).inc()


# --------------------------------------------------------------------------------------------
# The app
# --------------------------------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status_code=413, detail=f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status_code=413, detail=f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _score(served: Served, raw: bytes) -> bytes:
    """Validate, predict and encode (runs in the threadpool: CPU-bound)."""
    try:
        body = served.request_model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        for err in errors:
            err["loc"] = ("body", *err["loc"])
        raise RequestValidationError(errors) from None
    ids, frame = frame_from_request(body, served.contract)
    k = int(body.top_drivers)  # type: ignore[attr-defined]
    loaded = served.loaded
    out = loaded.predict(frame, top_drivers=k)
    prob_cols = [c for c in out.columns if c.startswith("churn_prob_")]
    risk = out["risk_score"].to_numpy(dtype=np.float64).tolist()
    probs = {c: out[c].to_numpy(dtype=np.float64).tolist() for c in prob_cols}
    drivers = (
        [json.loads(d) for d in out["top_drivers"]] if k > 0 else [[] for _ in range(len(ids))]
    )
    predictions = []
    for j, cid in enumerate(ids):
        row: dict[str, Any] = {"customer_id": cid, "risk_score": risk[j]}
        for c in prob_cols:
            row[c] = probs[c][j]
        row["top_drivers"] = drivers[j]
        predictions.append(row)
    payload = {
        "model": {
            "name": loaded.name,
            "version": loaded.version,
            "run_id": loaded.run_id,
            "alias": loaded.alias,
        },
        "predictions": predictions,
    }
    return json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()


def resolve_api_key(api_key: str | None = None) -> str:
    """The API key: ``api_key`` if given, else ``$CHURN_API_KEY``; refuses a missing or short
    key (the endpoint never runs open)."""
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
    if not key.strip():
        raise ConfigurationError(
            f"the scoring endpoint needs an API key: set {API_KEY_ENV} (from your secret store, "
            "e.g. `openssl rand -hex 32`)"
        )
    if len(key) < MIN_API_KEY_CHARS:
        raise ConfigurationError(
            f"{API_KEY_ENV} is shorter than {MIN_API_KEY_CHARS} characters; use a random key "
            "(e.g. `openssl rand -hex 32`)"
        )
    return key


def _presented_key(request: Request) -> str:
    key = request.headers.get(API_KEY_HEADER)
    if key is not None:
        return key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"


def create_app(
    registry: ModelRegistry,
    *,
    api_key: str | None = None,
    alias: str = PRODUCTION,
    refresh_seconds: float = 30.0,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The scoring app for ``registry``'s model at ``alias``.

    ``api_key`` (default: ``$CHURN_API_KEY``) is required by every route but ``/healthz``.
    The model is loaded now; when none holds the alias yet the app still starts (``/healthz``
    answers 503) and picks the model up on a later request once one is promoted.
    """
    expected_key = resolve_api_key(api_key).encode()
    metrics = Metrics()
    holder = ModelHolder(registry, alias, refresh_seconds, metrics)
    holder.refresh(force=True)

    app = FastAPI(
        title="churn_platform real-time scoring",
        description=__doc__,
        version="1",
    )

    @app.middleware("http")
    async def require_api_key(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path != "/healthz":
            presented = _presented_key(request).encode()
            # constant time: the comparison does not reveal how many leading bytes matched
            if not hmac.compare_digest(presented, expected_key):
                return JSONResponse(
                    {"detail": f"missing or wrong API key (send it as {API_KEY_HEADER})"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await call_next(request)

    # added last = outermost: the metrics also count the 401s
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.holder = holder
    app.state.metrics = metrics

    @app.post("/v1/score", summary="Score customers with the served model")
    async def score(request: Request) -> Response:
        if not _is_json(request.headers.get("content-type")):
            raise HTTPException(
                status_code=415,
                detail="send the body as application/json "
                f"(got {request.headers.get('content-type', 'no content type')[:100]!r})",
            )
        raw = await _read_body(request, max_body_bytes)
        served = await run_in_threadpool(holder.current)
        content = await run_in_threadpool(_score, served, raw)
        return Response(content=content, media_type="application/json")

    @app.get("/v1/schema", summary="JSON schema of the /v1/score body for the served model")
    async def schema() -> JSONResponse:
        served = await run_in_threadpool(holder.current)
        return JSONResponse(served.request_model.model_json_schema(by_alias=True))

    @app.get("/healthz", summary="200 with the model version when a model is loaded")
    async def healthz() -> JSONResponse:
        await run_in_threadpool(holder.refresh)
        served = holder.served
        if served is None:
            return JSONResponse(
                {"status": "unavailable", "alias": alias, "error": holder.last_error},
                status_code=503,
            )
        loaded = served.loaded
        return JSONResponse(
            {
                "status": "ok",
                "model_name": loaded.name,
                "model_version": loaded.version,
                "run_id": loaded.run_id,
                "alias": alias,
                "last_reload_error": holder.last_error,
            }
        )

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
