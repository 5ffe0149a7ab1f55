# Baton: one image for API and engine replicas. Build: docker build -t baton .
# It runs in production mode: it refuses to start without a real BATON_SECRET_KEY.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BATON_ENV=production \
    BATON_HOST=0.0.0.0 \
    BATON_PORT=8080 \
    BATON_DATABASE_URL=sqlite+aiosqlite:////var/lib/baton/baton.db \
    BATON_MIGRATIONS_DIR=/srv/baton/migrations

WORKDIR /srv/baton

RUN groupadd --system --gid 10001 baton \
    && useradd --system --uid 10001 --gid baton --home-dir /srv/baton --shell /usr/sbin/nologin baton \
    && mkdir -p /var/lib/baton \
    && chown baton:baton /var/lib/baton

COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-cache-dir .

COPY migrations ./migrations
COPY config ./config

USER 10001:10001
EXPOSE 8080
VOLUME ["/var/lib/baton"]

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["baton", "healthcheck"]

# Upgrade the schema, then serve; SIGTERM finishes in-flight work (BATON_GRACEFUL_SHUTDOWN_SECONDS).
CMD ["baton", "serve", "--migrate"]
