"""Gunicorn settings for production (`gunicorn -c gunicorn.conf.py
timepoint_billing.wsgi:application`). Every value can be overridden on the command
line or through GUNICORN_CMD_ARGS.

Threaded workers (gthread) because the relay spends its time waiting on Flash and
Clockchain, and because an SSE stream holds its thread for as long as a generation
runs (up to GENERATION_TIMEOUT): sync workers would be killed mid-stream and one
slow generation would block a whole process.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
# The worker heartbeat: must outlast the longest stream (generation timeout 120 s).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
# Streams in flight get this long to finish on a deploy before they are cut.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "120"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then (jittered so they don't all restart together).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "1000"))
accesslog = "-"
errorlog = "-"
# Railway's proxy (and any load balancer in front) sets X-Forwarded-*.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
