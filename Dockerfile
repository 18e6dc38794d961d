# The image docker-compose.yml runs: the API, one worker per GPU, Flower. GPU workers need the NVIDIA Container
# Toolkit on the host; PyPI's torch 2.14.1 wheel brings its CUDA libraries. The package carries its Alembic
# migrations (the top-level migrations package, applied at every start) and the dashboard's files.
FROM python:3.11-slim-bookworm
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 STH_DATA_DIR=/data
RUN apt-get update \
    && apt-get install -y --no-install-recommends dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY sthlib sthlib
COPY cli cli
COPY store store
COPY broker broker
COPY migrations migrations
COPY api api
COPY worker worker
RUN pip install . "flower>=2"
EXPOSE 8000 5555
CMD ["uvicorn", "--factory", "api.main:create_app", "--host", "0.0.0.0", "--port", "8000", "--timeout-graceful-shutdown", "30"]
