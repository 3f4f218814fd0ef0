# The laionet_assets code-location image: `dagster api grpc` serving laionet_assets.definitions,
# and the image of every step pod (LAIONET_EXECUTOR=k8s) and Celery worker (`laionet worker`).
#   docker build -t <registry>/laionet-assets:<tag> .
# Same dependency tree as `make setup` (requirements.lock, with the cluster extra), WordNet from
# Debian laid out for nltk at build time, a non-root user; model weights cache on a volume (HF_HOME).
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    DAGSTER_DISABLE_TELEMETRY=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    LAIONET_HOME=/laionet \
    LAIONET_PROFILE=paper \
    LAIONET_NLTK_DATA=/opt/laionet/nltk_data \
    HF_HOME=/models/huggingface

# WordNet 3.0 (the synsets), OpenCV's libGL and glib (the OCR filter), as the Makefile installs.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        wordnet-base wordnet-sense-index libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/laionet
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir uv==0.9.30 \
    && uv pip install --system --no-cache -r requirements.lock
COPY laionet_assets ./laionet_assets
COPY workspace.yaml ./
RUN uv pip install --system --no-cache --no-deps . \
    && python -c "from laionet_assets.core.text.wordnet import ensure_wordnet; ensure_wordnet()"

RUN useradd --create-home --uid 10001 laionet \
    && mkdir -p "$DAGSTER_HOME" "$LAIONET_HOME" "$HF_HOME" \
    && cp laionet_assets/dagster.yaml "$DAGSTER_HOME/dagster.yaml" \
    && chown -R laionet "$DAGSTER_HOME" "$LAIONET_HOME" /models
USER laionet
VOLUME ["/laionet", "/models"]
EXPOSE 3030
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "-m", "laionet_assets.definitions"]
