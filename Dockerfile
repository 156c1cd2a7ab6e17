# Winslow node image.
#
# Build:   docker build -t winslow/node .
#   BASE is any image with python3 (3.11 or newer) and its venv module; the default comes from
#   Docker Hub. Without a registry: scripts/debian-image.sh makes winslow/debian-python:12 from
#   Debian's packages, then  docker build --build-arg BASE=winslow/debian-python:12 -t winslow/node .
#   Without PyPI: put the wheels of scripts/wheelhouse.sh into .wheels/ of the build context.
#
# Run a node (one per machine; SHARE is the shared directory, e.g. an NFS mount):
#
#   SHARE=/srv/winslow
#   docker run -d --name winslow-node --restart unless-stopped \
#       -v /var/run/docker.sock:/var/run/docker.sock -v "$SHARE:$SHARE" -p 8080:8080 \
#       winslow/node node --share "$SHARE" --name "$(hostname)" --host 0.0.0.0 --port 8080
#
# The share is mounted at the SAME path inside and outside: stage containers are started through
# the host's Docker socket, so the bind-mount paths the node hands to Docker must be host paths.
# The node talks to Docker through the socket with the Python SDK; no docker CLI is needed here.
#
# GPU nodes: the host needs the NVIDIA driver and the NVIDIA Container Toolkit (`docker run --rm
# --gpus all IMAGE nvidia-smi` works). Add `--gpus all` to the `docker run` above, so that NVML
# inside the node's container sees the GPUs it offers; stages get their devices from the host's
# Docker as device requests (`--gpus N` on the node offers fewer).
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY . /tmp/winslow-src
RUN set -eu; \
    offline=""; \
    if [ -d /tmp/winslow-src/.wheels ]; then offline="--no-index --find-links /tmp/winslow-src/.wheels"; fi; \
    python3 -m venv /opt/winslow/venv; \
    /opt/winslow/venv/bin/pip install -q $offline /tmp/winslow-src; \
    rm -rf /tmp/winslow-src

ENV PATH=/opt/winslow/venv/bin:$PATH
EXPOSE 8080
ENTRYPOINT ["winslow"]
CMD ["node", "--share", "/share", "--name", "node", "--host", "0.0.0.0", "--port", "8080"]
