# syntax=docker/dockerfile:1
# Article QA service: CPU-only torch, the bundled all-MiniLM-L6-v2 model and a prebuilt index of seeds/.
#   docker build -t articleqa .
#   docker run --rm -p 8000:8000 articleqa
#   the index locked in memory (QA_LOCK_INDEX: all, or search for the files every search reads; see README):
#   docker run --rm -p 8000:8000 --ulimit memlock=-1 -e QA_LOCK_INDEX=search articleqa
ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: venv with CPU torch and the project, plus the index built from the seeds ----
FROM ${PYTHON_IMAGE} AS builder

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

# torch first, pinned, from the CPU wheel index; the constraint keeps any later resolution from replacing it
# (a looser torch requirement resolved against PyPI pulls the CUDA build and GBs of CUDA libraries).
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" \
 && echo "torch==${TORCH_VERSION}" > /opt/constraints.txt

# The project (non-editable). README.md is needed: pyproject.toml names it as the readme.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY qa ./qa
RUN pip install --constraint /opt/constraints.txt . \
 && pip check \
 && python -c "import torch; assert not torch.version.cuda, torch.version.cuda; print('torch', torch.__version__)"

# Bake the index into the image. The paths are the same ones the runtime stage uses.
WORKDIR /app
COPY seeds ./seeds
ENV QA_CORPUS_DIR=/app/seeds \
    QA_INDEX_DIR=/app/index
RUN qa index

# ---- runtime ----
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    QA_CORPUS_DIR=/app/seeds \
    QA_INDEX_DIR=/app/index \
    QA_HOST=0.0.0.0 \
    QA_PORT=8000

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app

WORKDIR /app
# The user "app" (uid 10001), by number so that runtimes can verify it is not root (e.g. runAsNonRoot).
USER 10001:10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('QA_PORT', '8000') + '/readyz', timeout=4)"]

# Host and port come from QA_HOST / QA_PORT; the index is already built, so never rebuild at start.
CMD ["qa", "serve", "--no-build"]
