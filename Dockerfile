# Winslow node image.
#
# Build:   docker build -t winslow/node:latest .
# Install a node (one per machine; SHARE is the shared directory, e.g. an NFS mount):
#
#   SHARE=/srv/winslow
#   docker run -d --name winslow-node --restart unless-stopped \
#       -v /var/run/docker.sock:/var/run/docker.sock \
#       -v "$SHARE:$SHARE" \
#       -p 8080:8080 \
#       winslow/node:latest node --share "$SHARE" --name "$(hostname)" --host 0.0.0.0 --port 8080
#
# The share is mounted at the SAME path inside and outside: stage containers are started through
# the host's Docker socket, so the bind-mount paths the node hands to Docker must be host paths.
# The node talks to Docker through the socket with the Python SDK; no docker CLI is needed here.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/winslow
COPY . /opt/winslow
RUN pip install . && rm -rf /opt/winslow/build

EXPOSE 8080
ENTRYPOINT ["winslow"]
CMD ["node", "--share", "/share", "--name", "node", "--host", "0.0.0.0", "--port", "8080"]
