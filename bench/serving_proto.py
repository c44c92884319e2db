"""The two serving models side by side, as small as a relay gets: Django settings, two
views per model and the WSGI and ASGI entry points, in one module (it is its own
DJANGO_SETTINGS_MODULE). Used by bench/serving_models.py and bench/relay_overhead.py.

- `wsgi` (gunicorn `-k gevent`): synchronous Django views relaying through a pooled
  urllib3 client, as the gateway does;
- `asgi` (gunicorn `-k uvicorn_worker.UvicornWorker`): async Django views relaying
  through httpx.AsyncClient, the streamed body handed on by an async iterator.

Both relay `GET /proto/balance` to the Flash stand-in's balance and `POST
/proto/stream` to its generation stream, with no middleware, no authentication and no
database: the figures compare the serving models, not the gateway's work.
`GET /proto/limited_balance` (with `PROTO_REDIS_URL`) is the bare relay plus the shared
limits' Redis work, for bench/relay_overhead.py.
"""

from __future__ import annotations

import os
import uuid

import urllib3
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import path

# --- settings ---------------------------------------------------------------------------
DEBUG = False
SECRET_KEY = "bench-serving-prototype-not-a-secret"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = __name__
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict = {}
USE_TZ = True

FLASH = os.environ.get("PROTO_FLASH_URL", "http://127.0.0.1:1")
HEADERS = {"X-Service-Key": os.environ.get("PROTO_FLASH_KEY", ""), "X-User-ID": os.environ.get("PROTO_USER", ""),
           "Content-Type": "application/json", "Accept-Encoding": "identity"}

# --- WSGI under gevent: sync views, urllib3 --------------------------------------------
_pool = urllib3.PoolManager(maxsize=100, retries=False)


def balance(request: HttpRequest) -> HttpResponse:
    upstream = _pool.request("GET", FLASH + "/api/v1/credits/balance", headers=HEADERS, timeout=10)
    return HttpResponse(upstream.data, status=upstream.status, content_type="application/json")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    upstream = _pool.request("POST", FLASH + "/api/v1/timepoints/generate/stream", body=request.body,
                             headers=HEADERS, preload_content=False, timeout=urllib3.Timeout(connect=3, read=120))

    def events():
        try:
            while chunk := upstream.read1(65536):
                yield chunk
        finally:
            upstream.close()
            upstream.release_conn()

    return StreamingHttpResponse(events(), content_type="text/event-stream")


# --- the bare relay with the contract's shared limits (bench/relay_overhead.py) -----------
# What CONTRACT.md §5 makes every relayed API-key read do in the shared cache, through
# the gateway's own code (limits.counters): one admit.lua before the upstream call (the
# IP's failed authentications, the key's cached record, the minute's window, a
# concurrency slot) and the slot's release, its reply awaited, before the answer. No
# authentication, middleware, DRF, envelope or metering: the floor of any request path
# that keeps the contract's limits on this stack.
if os.environ.get("PROTO_REDIS_URL"):
    CACHES = {"default": {
        "BACKEND": "django_redis.cache.RedisCache", "LOCATION": os.environ["PROTO_REDIS_URL"], "KEY_PREFIX": "proto",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5,
                    "CONNECTION_POOL_CLASS": "redis.BlockingConnectionPool",
                    "CONNECTION_POOL_KWARGS": {"max_connections": 50, "timeout": 1.0}},
    }}
KEY_HASH = "0" * 64  # a key's SHA-256, as the gateway's records are keyed
SUBJECT = f"key:{KEY_HASH}"


def limited_balance(request: HttpRequest) -> HttpResponse:
    from limits.counters import Ask, counters

    token = uuid.uuid4().hex
    ask = Ask(ip=request.META.get("REMOTE_ADDR", ""), subject=SUBJECT, failures_allowed=100, rpm="key",
              concurrent="key", key_hash=KEY_HASH, token=token, slot_ms=150_000)
    verdict = counters().admit(ask)
    if verdict.verdict == "unknown":  # the key's record, cached as the gateway caches it on first use
        counters().cache_record(KEY_HASH, {"key": "bench"}, rpm=10**9, concurrent=1000, seconds=3600)
        verdict = counters().admit(ask)
    if verdict.verdict != "ok":
        return HttpResponse(status=429)
    try:
        upstream = _pool.request("GET", FLASH + "/api/v1/credits/balance", headers=HEADERS, timeout=10)
    finally:
        counters().release(SUBJECT, token)
    return HttpResponse(upstream.data, status=upstream.status, content_type="application/json")


# --- ASGI under uvicorn: async views, httpx ---------------------------------------------
_client = None


def _async_client():
    global _client
    if _client is None:
        import httpx

        _client = httpx.AsyncClient(timeout=httpx.Timeout(120, connect=3),
                                    limits=httpx.Limits(max_connections=None, max_keepalive_connections=100))
    return _client


async def abalance(request: HttpRequest) -> HttpResponse:
    upstream = await _async_client().get(FLASH + "/api/v1/credits/balance", headers=HEADERS)
    return HttpResponse(upstream.content, status=upstream.status_code, content_type="application/json")


async def astream(request: HttpRequest) -> StreamingHttpResponse:
    client = _async_client()
    upstream = await client.send(client.build_request("POST", FLASH + "/api/v1/timepoints/generate/stream",
                                                      content=request.body, headers=HEADERS), stream=True)

    async def events():
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        finally:
            await upstream.aclose()

    return StreamingHttpResponse(events(), content_type="text/event-stream")


urlpatterns = [
    path("proto/balance", balance),
    path("proto/limited_balance", limited_balance),
    path("proto/stream", stream),
    path("aproto/balance", abalance),
    path("aproto/stream", astream),
]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", __name__)
if os.environ.get("PROTO_ENTRY") == "asgi":
    from django.core.asgi import get_asgi_application

    asgi = get_asgi_application()
else:
    from django.core.wsgi import get_wsgi_application

    wsgi = get_wsgi_application()
