"""Shared fixtures: the stand-ins over real HTTP, and an owner, a teammate and a
stranger to act as.

The stand-ins start once per session on free ports; every test starts from their
fresh state and an empty cache.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.test.utils import override_settings

from accounts.models import Account
from metering import writer
from metering.writer import usage_writer
from standins import Auth0, Clockchain, Flash
from upstreams import flash as flash_client


def _optional_standins() -> dict:
    extra = {}
    try:
        from standins.stripe import Stripe

        extra["stripe"] = Stripe()
    except ImportError:
        pass
    try:
        from standins.apple import Apple

        extra["apple"] = Apple()
    except ImportError:
        pass
    return extra


@pytest.fixture(scope="session")
def standins() -> dict:
    started = {"flash": Flash(), "clockchain": Clockchain(), "auth0": Auth0(), **_optional_standins()}
    for standin in started.values():
        standin.start()
    yield started
    for standin in started.values():
        standin.stop()


def upstream_settings(standins: dict) -> dict:
    """Settings (= environment variable names) that point the gateway at the stand-ins."""
    from standins.__main__ import environment

    values = environment(standins)
    values["AUTH0_JWKS_URL"] = values["AUTH0_ISSUER"] + ".well-known/jwks.json"
    # Portal sign-in (social-auth) reads its own names, derived from these in settings.py.
    values["SOCIAL_AUTH_AUTH0_DOMAIN"] = values["AUTH0_DOMAIN"]
    values["SOCIAL_AUTH_AUTH0_KEY"] = values["AUTH0_CLIENT_ID"]
    values["SOCIAL_AUTH_AUTH0_SECRET"] = values["AUTH0_CLIENT_SECRET"]
    return values


@pytest.fixture(scope="session", autouse=True)
def _point_at_standins(standins: dict) -> None:
    values = upstream_settings(standins)
    # The one list-valued variable: settings.py reads it with env.list.
    values["APPLE_ROOT_CERTIFICATES"] = values["APPLE_ROOT_CERTIFICATES"].split(",")
    override = override_settings(**values)
    override.enable()
    # Usage records wait in the writer's queue until a test stores them with
    # flush_usage(), in the test's own transaction (a background thread would write
    # through another connection, outside it).
    patch = pytest.MonkeyPatch()
    patch.setattr(writer, "BACKGROUND", False)
    yield
    patch.undo()
    override.disable()


@pytest.fixture(autouse=True)
def _fresh_state(standins: dict) -> None:
    for standin in standins.values():
        standin.reset()
    cache.clear()
    flash_client.forget_costs()  # this process's copy of the cost table goes with the cache
    usage_writer.discard()
    yield
    cache.clear()
    flash_client.forget_costs()
    usage_writer.discard()


def flush_usage() -> None:
    """Store the usage records queued by the requests made so far (metering/writer.py
    stores them within USAGE_BATCH_INTERVAL in a server; here, when a test asks)."""
    usage_writer.flush()


@pytest.fixture
def flash(standins: dict) -> Flash:
    return standins["flash"]


@pytest.fixture
def clockchain(standins: dict) -> Clockchain:
    return standins["clockchain"]


@pytest.fixture
def auth0(standins: dict) -> Auth0:
    return standins["auth0"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _account(flash: Flash, sub: str, email: str, balance: int = 100, **fields) -> Account:
    flash_user_id = flash.add_user(sub, balance=balance)
    return Account.objects.create(external_id=sub, email=email, display_name=email.split("@")[0],
                                  flash_user_id=flash_user_id, **fields)


@pytest.fixture
def alice(db, flash: Flash) -> Account:
    """The owner: an account known to billing and to Flash, with 100 credits."""
    return _account(flash, "auth0|alice", "alice@example.com")


@pytest.fixture
def bob(db, flash: Flash) -> Account:
    """A teammate: another ordinary account."""
    return _account(flash, "auth0|bob", "bob@example.com")


@pytest.fixture
def charlie(db, flash: Flash) -> Account:
    """A stranger, who must see nothing of alice's."""
    return _account(flash, "auth0|charlie", "charlie@example.com")


@pytest.fixture
def alice_token(alice: Account, auth0: Auth0) -> str:
    return auth0.mint(alice.external_id)


@pytest.fixture
def as_alice(alice_token: str) -> Client:
    """A client that sends alice's Auth0 token with every request."""
    return Client(headers=bearer(alice_token))


def shared_database_url() -> str:
    """DATABASE_URL for another process to use this test session's database."""
    import os
    from urllib.parse import urlsplit, urlunsplit

    from django.db import connection

    if connection.vendor == "sqlite":
        return f"sqlite:///{connection.settings_dict['NAME']}"
    parts = urlsplit(os.environ.get("DATABASE_URL", ""))
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn_server(transactional_db, standins: dict, tmp_path):
    """Factory: `gunicorn_server(workers=2, env={...}, threads=4, worker_class="gthread",
    production=False)` starts the gateway under gunicorn on a free port and returns its
    base URL: plain `-k worker_class` workers, or with `production` gunicorn.conf.py
    (gevent workers, as bin/web runs it). `gunicorn_server.stop(url)` stops one
    gracefully.

    The server uses this test's database (committed data: hence transactional_db),
    the same Redis and the stand-ins. Needs PostgreSQL and Redis (SQLite and the
    local-memory cache are not shared between processes): skips otherwise. Servers
    stop when the test ends; their output, with an access log line `<pid> <request
    line> <status>` per request, is in `gunicorn_server.logs[url]` (a Path).
    """
    import os
    import re
    import subprocess
    import sys
    import time
    from pathlib import Path

    import requests
    from django.conf import settings
    from django.db import connection

    redis_url = os.environ.get("REDIS_URL", "")
    if connection.vendor != "postgresql" or not redis_url.startswith("redis"):
        pytest.skip("gunicorn tests need DATABASE_URL=postgres://… and REDIS_URL=redis://… shared between processes")
    root = Path(settings.BASE_DIR)
    started: list[subprocess.Popen] = []

    def start(workers: int = 2, env: dict[str, str] | None = None, threads: int = 4,
              worker_class: str = "gthread", production: bool = False) -> str:
        port = _free_port()
        environment = {
            **os.environ,
            **upstream_settings(standins),
            "ENVIRONMENT": "test",
            "DEBUG": "false",
            "DATABASE_URL": shared_database_url(),
            "REDIS_URL": redis_url,
            **(env or {}),
        }
        log = open(tmp_path / f"gunicorn-{port}.log", "wb")  # noqa: SIM115 - closed with the process
        # production: gunicorn.conf.py, as bin/web runs it; otherwise plain workers of
        # `worker_class`, as other tooling may start the WSGI application.
        serving = ["-c", "gunicorn.conf.py"] if production else [
            "-k", worker_class, "--threads", str(threads), "--graceful-timeout", "2", "--no-control-socket"]
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "timepoint_billing.wsgi:application", *serving,
             "-w", str(workers), "-b", f"127.0.0.1:{port}",
             "--access-logfile", "-", "--access-logformat", "%(p)s %(r)s %(s)s"],
            cwd=root, env=environment, stdout=log, stderr=subprocess.STDOUT,
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        start.processes[url] = process
        start.logs[url] = tmp_path / f"gunicorn-{port}.log"
        # Ready when every worker has answered /health (the access log names the pid),
        # so that tests about several workers really have several.
        deadline = time.monotonic() + 30
        while True:
            log_text = start.logs[url].read_text(errors="replace")
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited with {process.returncode}: {log_text[-2000:]}")
            if len(set(re.findall(r"^<(\d+)> GET /health ", log_text, re.M))) >= workers:
                return url
            try:
                requests.get(url + "/health", timeout=2)
            except requests.RequestException:  # not listening yet, or still importing
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn's {workers} workers did not all answer /health within 30 s")
            time.sleep(0.05)

    def stop(url: str) -> int:
        """Stop that server gracefully (SIGTERM, as a deploy does) and wait for it;
        returns its exit status."""
        process = start.processes[url]
        process.terminate()
        return process.wait(timeout=60)

    start.logs = {}
    start.processes = {}
    start.stop = stop
    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
