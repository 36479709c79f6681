# syntax=docker/dockerfile:1
# mesh-agent: the service mesh host agent, as a container image.
#
#   docker build -t mesh-agent:0.1.0 .
#   docker run --rm -v /etc/mesh-agent:/etc/mesh-agent:ro -v mesh-agent-state:/var/lib/mesh-agent mesh-agent:0.1.0
#
# docs/containers.md shows the two layouts (a sidecar sharing the app's network namespace;
# one agent per container host) and what to mount. tests/containers/test_dockerfile.py
# checks this file against pyproject.toml: same distribution, same entry point.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: the project's wheel, then the wheel and its dependencies into a virtualenv ---------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mesh ./mesh
COPY agent ./agent
# Every dependency ships manylinux wheels for CPython 3.11, so no compiler is needed here.
RUN python -m venv /opt/mesh-agent \
 && /opt/mesh-agent/bin/pip install --upgrade pip setuptools wheel \
 && /opt/mesh-agent/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/mesh-agent/bin/pip install /wheels/vm_mesh-*.whl \
 && /opt/mesh-agent/bin/mesh-agent --help >/dev/null

# --- runtime: the virtualenv alone, run by an unprivileged user --------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="mesh-agent" \
      org.opencontainers.image.description="Consul- and Vault-integrated service mesh host agent" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed uid/gid, so the state volume's ownership is the same on every host.
RUN groupadd --system --gid 10001 mesh-agent \
 && useradd --system --uid 10001 --gid mesh-agent --home-dir /var/lib/mesh-agent \
        --no-create-home --shell /usr/sbin/nologin mesh-agent \
 && install -d -m 0700 -o mesh-agent -g mesh-agent /var/lib/mesh-agent \
 && install -d -m 0755 /etc/mesh-agent
COPY --from=build /opt/mesh-agent /opt/mesh-agent
ENV PATH=/opt/mesh-agent/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1 \
    MESH_AGENT_ADMIN=127.0.0.1:19100
USER 10001:10001
# Keys, leaf certificates and the last-good snapshot: a restart while Consul or Vault is
# down serves from here. Private keys never leave this volume.
VOLUME ["/var/lib/mesh-agent"]
# The inbound mTLS listener (agent.yaml `inbound.listen`); the admin API stays on loopback.
EXPOSE 20000
# SIGTERM: deregister from Consul, then drain open connections (10 s); stop timeouts need 30 s.
STOPSIGNAL SIGTERM
# Health is readiness: /ready answers 200 once registered in Consul, certificates valid and
# the first Consul sync applied, and it stays 200 while Consul is unreachable (the agent
# serves its last good data), so an orchestrator that replaces unhealthy containers does not
# replace every agent during a Consul outage. Compose `depends_on: service_healthy` then
# means "the mesh is ready for this app". Set MESH_AGENT_ADMIN to the configured
# `admin.listen` when it differs from the default.
HEALTHCHECK --interval=10s --timeout=3s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://%s/ready' % os.environ['MESH_AGENT_ADMIN'], timeout=2)"]
ENTRYPOINT ["mesh-agent"]
CMD ["run", "--config", "/etc/mesh-agent/agent.yaml"]
