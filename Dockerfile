# klaviyo-backend: one image for the web server, the Celery worker and celery beat.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc pkg-config libmariadb-dev \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt requirements-mysql.txt /tmp/
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir -r /tmp/requirements-mysql.txt

FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libmariadb3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 app
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PORT=3000
WORKDIR /app
# .dockerignore keeps the tests, the benchmarks and the Klaviyo emulator out of the image.
COPY --chown=app:app . .
# collectstatic needs settings to load; the real secret comes from the environment at run time.
RUN DEBUG=false SECRET_KEY=build-only python manage.py collectstatic --noinput
USER app
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"3000\")}/health')"
CMD ["python", "manage.py", "serve"]
