"""Gunicorn settings for production (`gunicorn -c gunicorn.conf.py
timepoint_billing.wsgi:application`; `bin/web`, the Dockerfile and `make run` start it
so). Every value can be overridden on the command line or through GUNICORN_CMD_ARGS.

gevent workers: the gateway spends its time waiting on Flash, Clockchain, Redis and
PostgreSQL, and an SSE stream waits for as long as a generation runs (up to
GENERATION_TIMEOUT). Under gevent each in-flight request or stream is a greenlet (a few
KiB), not an OS thread, so one worker holds a thousand streams while it keeps answering
everything else; the Django code stays synchronous (psycopg, redis-py and urllib3 all
yield to the other greenlets while they wait). PostgreSQL connections come from a pool
per worker and Redis connections from a bounded pool (timepoint_billing/settings.py),
so neither grows with the number of greenlets. The comparison with ASGI workers that
led here is in docs/performance.md.

This file reads only gunicorn's own variables (and nothing of Django): it is loaded by
the master process, before any worker exists.
"""

import os
import sys

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gevent"
# Concurrent connections (requests and streams in flight) per worker. A worker that is
# full stops accepting, so the next connection goes to another worker.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
# The local-memory cache of the embedded default (no REDIS_URL) lives in one process:
# rate limits and concurrency slots are only right when one worker counts them all.
if os.environ.get("REDIS_URL"):
    workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
else:
    workers = 1
# The heartbeat of a worker's event loop, not the length of a request: a stream of
# any length keeps it beating; a worker whose loop is stuck this long is replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On a deploy or a restart, streams in flight get this long to end before they are cut:
# a generation may run for GENERATION_TIMEOUT seconds, plus a margin.
graceful_timeout = int(
    os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", str(int(float(os.environ.get("GENERATION_TIMEOUT", "120"))) + 15))
)
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then (jittered so they don't all restart together); a
# recycled worker finishes its streams first, like any graceful stop.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "100000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "10000"))
# gunicorn's access lines are plain text: off unless GUNICORN_ACCESS_LOG names a file
# (`-` for stdout), so that production output stays the app's JSON lines.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
# Railway's proxy (and any load balancer in front) sets X-Forwarded-*.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
# No control socket: nothing here uses it, and its default path is shared by every
# gunicorn of the same user on the machine.
control_socket_disable = True


def worker_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    """A worker stopping gracefully stores the usage records it still holds (its
    in-flight streams have ended or been cut by now). A worker whose application never
    loaded has none."""
    writer = sys.modules.get("metering.writer")
    if writer is not None:
        writer.usage_writer.stop()
