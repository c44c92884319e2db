# timepoint-billing: the web process (bin/web → gunicorn). Railway runs a second
# service from the same image with `python manage.py process_grants`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ENVIRONMENT=production \
    PORT=8000

WORKDIR /app

# psycopg[binary], gevent and cryptography ship wheels: no compiler needed.
COPY requirements.txt ./
RUN pip install -r requirements.txt

RUN useradd --create-home --uid 10001 billing
COPY --chown=billing:billing . .

# Static files with the production storage (hashed names + manifest), so the settings
# are production's; these placeholders exist only for this build step, which touches
# neither a database nor a cache, and are not kept in the image's environment.
RUN SECRET_KEY=build-only-placeholder-not-used-at-runtime-0123456789abcdef \
    DATABASE_URL=postgres://build@localhost:5432/build \
    REDIS_URL=redis://localhost:6379/0 \
    AUTH0_DOMAIN=build.invalid \
    FLASH_URL=http://build.invalid FLASH_SERVICE_KEY=build FLASH_ADMIN_KEY=build \
    CLOCKCHAIN_URL=http://build.invalid CLOCKCHAIN_SERVICE_KEY=build \
    STRIPE_SECRET_KEY=sk_test_buildonlyplaceholder000000 STRIPE_WEBHOOK_SECRET=whsec_build \
    python manage.py collectstatic --noinput \
    && chown -R billing:billing /app/staticfiles

USER billing
EXPOSE 8000

# slim has no curl: ask /health with the standard library (exempt from the SSL redirect).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)" || exit 1

# bin/web: gunicorn with gevent workers (gunicorn.conf.py). The default stop signal,
# SIGTERM, is a graceful stop: streams in flight get GUNICORN_GRACEFUL_TIMEOUT to end
# and each worker stores the usage records it still holds before it exits.
CMD ["bin/web"]
