# syntax=docker/dockerfile:1
# pusher: one image for every way of running it (docker compose, Kubernetes CronJobs,
# a plain `docker run`). Config at /etc/pusher/pusher.toml, state (spool, watermarks,
# heartbeat) at /var/lib/pusher. Dependencies are pinned in requirements.lock
# (regenerate with `bash scripts/lock.sh`).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: every wheel, built once, without compilers in the final image -------------
FROM ${PYTHON_IMAGE} AS builder
# Source-type plugins to bake in, as pip requirements or paths in the build context
# (docker-compose.yml adds the demo's examples/pusher-crawler). Not pinned by the lock.
ARG PLUGINS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements.lock ./
RUN pip wheel --wheel-dir /wheels --requirement requirements.lock
COPY . .
RUN pip wheel --wheel-dir /wheels --no-deps . \
 && if [ -n "$PLUGINS" ]; then \
      pip wheel --wheel-dir /wheels --constraint requirements.lock $PLUGINS; \
    fi

# --- final: the wheels installed, nothing else ------------------------------------------
FROM ${PYTHON_IMAGE}
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PUSHER_CONFIG=/etc/pusher/pusher.toml
# /wheels holds exactly the lock's pins, pusher and the plugins: install them all, offline.
# google-api-python-client ships ~110 MB of discovery documents for 600 Google APIs; the
# google-analytics source builds its client from the analyticsdata one only.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels /wheels/*.whl \
 && pip check \
 && find "$(python -c 'import googleapiclient, os; print(os.path.dirname(googleapiclient.__file__))')/discovery_cache/documents" \
        -name '*.json' ! -name 'analyticsdata.*' -delete \
 && groupadd --system --gid 10001 pusher \
 && useradd --system --uid 10001 --gid pusher --home-dir /var/lib/pusher --no-create-home pusher \
 && mkdir -p /etc/pusher /var/lib/pusher \
 && chown pusher:pusher /var/lib/pusher
# A named volume or emptyDir here keeps the spool across restarts; Kubernetes CronJobs
# run without one (watermarks are read back from InfluxDB).
VOLUME ["/var/lib/pusher"]
WORKDIR /var/lib/pusher
USER 10001:10001
# `pusher run` touches /var/lib/pusher/heartbeat every loop; stale or missing = unhealthy.
# One-shot commands (collect, setup) finish long before the first check matters.
HEALTHCHECK --interval=60s --timeout=10s --start-period=120s --retries=3 \
    CMD ["pusher", "health", "--max-age", "10m"]
ENTRYPOINT ["pusher"]
CMD ["run"]
