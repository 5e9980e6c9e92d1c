# vetflow API / worker image (the same image runs `vetflow api`, `vetflow worker`, `vetflow migrate`).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 vetflow
WORKDIR /app
COPY pyproject.toml README.md ./
COPY models ./models
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY worker.py vetflow_cli.py ./
RUN pip install --no-cache-dir .
USER vetflow
EXPOSE 8000
CMD ["vetflow", "api"]
