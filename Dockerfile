# `materializer` in a container: the serve-* and dashboards-* services of docker-compose.yml.
#   docker build -t materializer .
#   docker run -v "$PWD/fraud:/project:ro" -e MATERIALIZER_DSN=... -p 8000:8000 materializer
# The project folder is mounted at /project (MATERIALIZER_PROJECT); the database comes from
# MATERIALIZER_DSN (the embedded PostgreSQL is for a local folder, not for a container).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY materializer ./materializer
COPY sql_macros ./sql_macros
# the core install carries serve (starlette, uvicorn) and dashboards; the kafka extra lets push and
# POST /push write to a source's Kafka topic
RUN pip install ".[kafka]" && rm -rf /src

# an unprivileged user; the folders the compose file mounts volumes on are its own, so a new
# named volume starts with this owner
RUN useradd --system --uid 10001 --home-dir /project --no-create-home materializer \
    && mkdir -p /project /provisioning/datasources /provisioning/dashboards \
    && chown -R materializer /project /provisioning
USER materializer
WORKDIR /project
ENV MATERIALIZER_PROJECT=/project

EXPOSE 8000
ENTRYPOINT ["materializer"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
