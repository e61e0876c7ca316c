# syntax=docker/dockerfile:1.7
# One image for every long-running process of the platform:
#   - Dagster code location (gRPC):  dagster code-server start -m churn_platform.defs.definitions ...
#   - Dagster webserver (default CMD)
#   - Dagster daemon:                dagster-daemon run
#   - MLflow tracking server:        mlflow server ...
# Pattern: astral-sh/uv-docker-example (multistage): dependencies are synced from uv.lock in a
# cached layer first, the project itself second, and only the virtual environment is copied into
# a slim runtime image that runs as an unprivileged user.

# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS builder
# uv pinned to the version that wrote uv.lock
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/dagster/app/.venv
WORKDIR /opt/dagster/app

# 1) third-party dependencies only: this layer is reused until uv.lock/pyproject.toml change.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-dev --no-install-project

# 2) the project itself (installed non-editable so the runtime needs no source tree).
COPY pyproject.toml uv.lock README.md ./
COPY churn_platform ./churn_platform
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime

ARG APP_UID=10001
ARG APP_GID=10001
RUN groupadd --system --gid "${APP_GID}" dagster \
 && useradd --system --uid "${APP_UID}" --gid dagster --home-dir /opt/dagster \
      --no-create-home --shell /usr/sbin/nologin dagster

ENV PATH=/opt/dagster/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba \
    XDG_CACHE_HOME=/tmp/.cache \
    CHURN_HOME=/opt/dagster/dagster_home/storage/churn \
    CHURN_SERVICE_ROLE=webserver

WORKDIR /opt/dagster/app
COPY --from=builder --chown=root:root /opt/dagster/app/.venv /opt/dagster/app/.venv
COPY --chown=root:root deploy/dagster/workspace.yaml deploy/dagster/workspace.yaml
COPY --chown=root:root deploy/docker/healthcheck.py deploy/docker/healthcheck.py
COPY --chown=root:root deploy/dagster/dagster.yaml /opt/dagster/dagster_home/dagster.yaml
# Writable paths: /tmp (caches: matplotlib, numba, XDG) and $DAGSTER_HOME/storage (CHURN_HOME).
# Code and config are root-owned and read-only for the runtime user; only Dagster's local
# storage (compute logs, fs IO manager) is writable. Mount a volume there in compose/ECS.
# .nux/nux.yaml is pre-seeded so the webserver never writes under a read-only root filesystem.
RUN mkdir -p /opt/dagster/dagster_home/storage /opt/dagster/dagster_home/.nux \
 && printf 'seen: 1\n' > /opt/dagster/dagster_home/.nux/nux.yaml \
 && chown -R dagster:dagster /opt/dagster/dagster_home/storage

USER ${APP_UID}:${APP_GID}
EXPOSE 3000 4000 5000

# Role-aware probe (webserver /server_info, gRPC ping, daemon heartbeat, MLflow /health),
# selected by CHURN_SERVICE_ROLE; compose and the ECS task definitions set the role per service.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["python", "/opt/dagster/app/deploy/docker/healthcheck.py"]

CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "/opt/dagster/app/deploy/dagster/workspace.yaml"]
