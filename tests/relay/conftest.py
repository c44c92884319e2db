"""The gateway under a real gunicorn, for what only a real server shows: SSE going
out event by event, a client's disconnect reaching the upstream, raw request lines."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.conftest import upstream_settings

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The test database, as a DATABASE_URL another process can open."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_gunicorn(standins: dict, *, threads: int = 8, extra_env: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, **upstream_settings(standins), "DATABASE_URL": database_url(), "ENVIRONMENT": "test",
           "DJANGO_SETTINGS_MODULE": "timepoint_billing.settings", **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", str(threads), "--access-logfile", "/dev/null",
         "timepoint_billing.wsgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited: " + process.stderr.read().decode()[-2000:])
        try:
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                return process, url
        except requests.RequestException:
            pass
        time.sleep(0.1)  # polling for readiness, not timing a behaviour
    process.kill()
    raise RuntimeError("gunicorn did not answer /health within 30 s")


@pytest.fixture(scope="module")
def gateway(standins: dict, django_db_setup, django_db_blocker) -> str:
    """The base URL of the gateway served by gunicorn (gthread) on a free port."""
    with django_db_blocker.unblock():
        process, url = start_gunicorn(standins)
    yield url
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
