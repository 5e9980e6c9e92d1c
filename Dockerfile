# vetflow image: one image runs `vetflow api` (default), `vetflow worker` and
# `vetflow migrate` (see docker-compose.yml). Configured only by VETFLOW_* variables.
FROM python:3.11-slim

# In a container the API must listen beyond loopback; logs go out as JSON lines.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VETFLOW_API_HOST=0.0.0.0 \
    VETFLOW_LOG_FORMAT=json

# A fixed numeric uid, so that orchestrators can verify "runAsNonRoot".
RUN groupadd --system --gid 10001 vetflow \
    && useradd --system --uid 10001 --gid vetflow --home-dir /app --no-create-home vetflow

WORKDIR /app
COPY pyproject.toml README.md ./
COPY models ./models
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY tools ./tools
COPY worker.py vetflow_cli.py ./
# The installed copy (site-packages) is what runs; templates, static files, catalogs and
# migration scripts travel as package data (pyproject [tool.setuptools.package-data]).
RUN pip install . && rm -rf build ./*.egg-info

USER 10001:10001
EXPOSE 8000
CMD ["vetflow", "api"]
