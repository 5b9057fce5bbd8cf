# syntax=docker/dockerfile:1
# notes-api image: the locked dependencies (uv.lock) and the project's wheel installed, without
# dev extras, into a virtual environment that the slim runtime stage copies; runs as non-root.

# The Python minor version CI tests (README, "Tested with"); tests/deploy checks they agree.
ARG PYTHON_IMAGE=python:3.11-slim

# --- build: the dependencies exactly as uv.lock pins them (hashes checked), then the project's
# wheel (it carries migrations/, alembic.ini and web/ inside the package as
# notes_api/_migrations, _alembic.ini and _web). tests/deploy/test_build_context.py copies
# exactly these COPY lines and runs these steps without Docker.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never
# The uv version the Makefile pins (UV_VERSION), so the lock is read as it was written.
RUN python -m pip install uv==0.13.9
WORKDIR /src
COPY pyproject.toml uv.lock README.md LICENSE alembic.ini ./
COPY src/ src/
COPY migrations/ migrations/
COPY web/ web/
RUN uv export --locked --no-dev --no-emit-project --format requirements.txt \
        --output-file /tmp/requirements.txt \
    && uv venv --python /usr/local/bin/python /opt/venv \
    && uv pip install --python /opt/venv/bin/python --require-hashes -r /tmp/requirements.txt \
    && uv build --wheel --out-dir /wheels \
    && uv pip install --python /opt/venv/bin/python --no-deps /wheels/notes_api-*.whl

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
