"""Fail fast on an HTTP MLflow tracking server that is down, and bound MLflow's HTTP client.

Kept apart from :mod:`churn_platform.io.registry` so that the CLI can probe the server before it
imports MLflow (seconds on a loaded machine).
"""

from __future__ import annotations

import os
import time

from churn_platform.errors import StorageError, mask_secrets, mask_url

__all__ = ["MLFLOW_HTTP_DEFAULTS", "bound_mlflow_http", "check_tracking_store", "probe_http_store"]


MLFLOW_HTTP_DEFAULTS = {
    # per request: connect + read timeout (s); MLflow's default is 120
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    # retries of a failed request (connection errors, 429/5xx); MLflow's default is 7
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    # backoff 1 s (MLflow's default factor 2 grows to minutes over 7 retries)
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
}
"""Bounded MLflow HTTP client budget (at most ~21 s for one call against a hung server);
values already set in the environment win."""


def bound_mlflow_http() -> None:
    """Give MLflow's HTTP client a bounded budget unless the environment already sets one."""
    for name, value in MLFLOW_HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)


def probe_http_store(uri: str, *, budget_s: float = 10.0) -> None:
    """Raise :class:`StorageError` naming the server (credentials masked) when an HTTP tracking
    server does not answer within ``budget_s`` seconds in total.

    ``GET /health`` with a 3 s connect and a 5 s read timeout, at most 3 attempts 0.5 s apart
    for a refused or timed-out connection (a server restarting); a server that accepts but does
    not answer fails after the read timeout. Any HTTP answer (200, 401,
    404...) means the server is there.
    """
    import requests

    deadline = time.monotonic() + budget_s
    url = uri.rstrip("/") + "/health"
    last = "no attempt"
    for _attempt in range(3):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            requests.get(url, timeout=(min(3.0, left), min(5.0, left)), allow_redirects=False)
            return
        except requests.exceptions.ConnectTimeout:
            last = "connection timed out"
        except requests.exceptions.ReadTimeout:
            last = "connected but no answer within 5 s (server hung?)"
            break
        except requests.exceptions.ConnectionError as exc:
            refused = "refused" in str(exc).lower()
            last = "connection refused" if refused else f"connection failed ({type(exc).__name__})"
        except requests.exceptions.RequestException as exc:
            last = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        time.sleep(min(0.5, max(deadline - time.monotonic(), 0)))
    raise StorageError(
        f"MLflow tracking server {mask_url(uri)} is unreachable: "
        f"{mask_secrets(last)}; check that it runs and MLFLOW_TRACKING_URI points at it"
    )


def check_tracking_store(uri: str, *, budget_s: float = 10.0) -> None:
    """Probe ``uri`` when it is an HTTP(S) tracking server (other stores: nothing to do here)."""
    if uri.lower().startswith(("http://", "https://")):
        bound_mlflow_http()
        probe_http_store(uri, budget_s=budget_s)
