# One image for every production process: daphne web processes (the default command),
# the Celery worker and Celery beat (see docker-compose.yml). All configuration comes
# from environment variables (.env.example lists them).

# The base image. Pin it by digest (`make pin-images` writes the digest its tag points to
# now; README, "Dependencies"), or pass one: --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:...
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, in their own layer, so a code change does not reinstall them: the
# runtime lock (and the build backend), exact versions whose hashes pip checks.
# Every dependency ships wheels for linux/amd64 and arm64: no compiler is needed.
COPY requirements/runtime.txt /tmp/requirements.txt
RUN pip install --require-hashes -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself (no test extras), built with the locked backend rather than one
# fetched for the build. The build leaves build/ and *.egg-info behind.
COPY . .
RUN pip install --no-deps --no-build-isolation . \
    && pip check \
    && rm -rf build ./*.egg-info

# settings.py finds templates/ and static/ next to the webapp package (BASE_DIR), so the
# processes import the project from /app rather than from the copy in site-packages.
ENV PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=webapp.settings \
    DATA_DIR=/data

# A non-root user; the code stays root-owned and read-only to it, only /data is writable.
# /data/static is STATIC_ROOT: empty (whitenoise serves static/ through the finders), it
# only has to exist so whitenoise does not warn at every start.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app --shell /usr/sbin/nologin app \
    && mkdir -p /data/static \
    && chown -R app:app /data
VOLUME ["/data"]
USER app

EXPOSE 8000

# Liveness of a web process. Worker and beat containers disable it (docker-compose.yml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["python", "-m", "webapp.server", "-b", "0.0.0.0", "-p", "8000", "webapp.asgi:application"]
