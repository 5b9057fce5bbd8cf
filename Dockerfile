# syntax=docker/dockerfile:1
# notes-api image: a wheel built in the first stage, installed without dev extras
# into a virtual environment that the slim runtime stage copies; runs as non-root.

ARG PYTHON_IMAGE=python:3.12-slim

# --- build: the project's wheel (it carries migrations/, alembic.ini and web/ inside the
# package as notes_api/_migrations, _alembic.ini and _web), installed into /opt/venv.
# tests/deploy/test_build_context.py builds the wheel from exactly these COPY lines.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY src/ src/
COPY migrations/ migrations/
COPY web/ web/
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install /wheels/notes_api-*.whl

# --- runtime: the interpreter, the virtual environment and the entrypoint, nothing else.
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    PORT=8000
RUN groupadd --system --gid 10001 notes \
    && useradd --system --uid 10001 --gid notes --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin notes
COPY --from=build /opt/venv /opt/venv
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/notes-api-entrypoint
WORKDIR /app
# Numeric, so an orchestrator enforcing "run as non-root" can check it without /etc/passwd.
USER 10001:10001
EXPOSE 8000
# Liveness only (no database call); no curl in a slim image, so the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"
ENTRYPOINT ["notes-api-entrypoint"]
