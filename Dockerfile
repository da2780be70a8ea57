# One image for the web process and the workers (CPU). The GPU worker uses Dockerfile's
# `gpu` target, which starts from NVIDIA's CUDA runtime.
FROM python:3.11-slim AS base
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 CV_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY engine engine
COPY portal portal
COPY projects projects
COPY training training
COPY prediction prediction
COPY api api
RUN pip install --no-cache-dir .
COPY manage.py gunicorn.conf.py ./
COPY templates templates
COPY static static
COPY samples samples
RUN SECRET_KEY=build python manage.py collectstatic --noinput --verbosity 0
VOLUME /data
EXPOSE 8000
# Uploads of 64 large photos are decoded in the request: give them time.
CMD ["gunicorn", "portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--timeout", "300"]

FROM base AS gpu
# torch's CUDA wheels bring their own CUDA libraries; the host needs only the NVIDIA driver
# and the container toolkit.
CMD ["celery", "-A", "portal", "worker", "--queues=training", "--concurrency=1", "--loglevel=INFO"]
