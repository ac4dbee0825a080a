# syntax=docker/dockerfile:1.7
# One image for every skiplock process:
#   skiplock serve --role api|worker|all   (ENTRYPOINT skiplock, the default)
#   skiplock-operator --namespace NS       (the kopf operator; set command: [skiplock-operator])
#
# Stages: frontend (node: the dashboard bundle) -> build (python: wheels into a venv) ->
# runtime (slim, non-root uid 10001, no compilers, no node, no sources).

ARG PYTHON_VERSION=3.11
ARG NODE_VERSION=20

# --- 1. the dashboard --------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS frontend
WORKDIR /src/frontend
# Lockfile first: the npm ci layer is reused until dependencies change.
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
# The frontend's build writes the bundle to ../engine/skiplock/web/static (see frontend/vite.config).
RUN mkdir -p /src/engine/skiplock/web/static && npm run build

# --- 2. the Python wheels, installed into a relocatable venv ------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md* ./
COPY engine/ engine/
COPY --from=frontend /src/engine/skiplock/web/static/ engine/skiplock/web/static/
COPY operator/ operator/
# Build both distributions as wheels, then install them (and their dependencies, all
# available as binary wheels) into /opt/venv, which the runtime stage copies whole.
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . ./operator \
 && /opt/venv/bin/pip install --only-binary=:all: /wheels/*.whl \
 && /opt/venv/bin/skiplock --help >/dev/null \
 && /opt/venv/bin/skiplock-operator --help >/dev/null

# --- 3. runtime --------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="skiplock" \
      org.opencontainers.image.description="Distributed background job engine: API, worker and Kubernetes operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SKIPLOCK_HOST=0.0.0.0 \
    SKIPLOCK_PORT=8080 \
    SKIPLOCK_DATABASE_URL=sqlite:////data/skiplock.db
RUN groupadd --system --gid 10001 skiplock \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin skiplock \
 && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /data
# Embedded mode keeps its SQLite file here; clusters use MySQL and never write it.
VOLUME ["/data"]
USER 10001:10001
# 8080: the API (SKIPLOCK_PORT); 9090: /metrics when SKIPLOCK_METRICS_PORT is set (the chart).
EXPOSE 8080 9090
STOPSIGNAL SIGTERM
ENTRYPOINT ["skiplock"]
CMD ["serve"]
