"""The two serving models side by side, as small as a relay gets: Django settings, two
views per model and the WSGI and ASGI entry points, in one module (it is its own
DJANGO_SETTINGS_MODULE). Used only by bench/serving_models.py.

- `wsgi` (gunicorn `-k gevent`): synchronous Django views relaying through a pooled
  urllib3 client, as the gateway does;
- `asgi` (gunicorn `-k uvicorn_worker.UvicornWorker`): async Django views relaying
  through httpx.AsyncClient, the streamed body handed on by an async iterator.

Both relay `GET /proto/balance` to the Flash stand-in's balance and `POST
/proto/stream` to its generation stream, with no middleware, no authentication and no
database: the figures compare the serving models, not the gateway's work.
"""

from __future__ import annotations

import os

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
