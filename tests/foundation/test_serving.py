"""gunicorn.conf.py, as gunicorn reads it (`--print-config`): the production serving
model, and one worker on the embedded default whose local-memory cache lives in one
process. (What the workers do under load: tests/relay/test_many_streams.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def effective_config(**env: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "WEB_CONCURRENCY",
                                                                          "GUNICORN_", "GENERATION_TIMEOUT"))}
    printed = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--print-config",
         "timepoint_billing.wsgi:application"],
        cwd=ROOT, env={**environment, **env}, capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    return dict(re.findall(r"^(\w+)\s+= (.*)$", printed, re.M))


def test_it_serves_with_gevent_workers_sized_for_a_thousand_streams():
    config = effective_config(REDIS_URL="redis://127.0.0.1:6379/0")
    assert config["worker_class"] == "gevent"
    assert config["workers"] == "2"
    assert int(config["worker_connections"]) >= 1000
    # A stream keeps the event loop beating; a deploy lets a whole generation finish.
    assert config["graceful_timeout"] == str(120 + 15)


def test_streams_get_as_long_as_a_generation_on_a_stop():
    assert effective_config(REDIS_URL="redis://127.0.0.1:6379/0", GENERATION_TIMEOUT="300")["graceful_timeout"] == "315"


def test_the_embedded_default_runs_one_worker():
    assert effective_config()["workers"] == "1"
    assert effective_config(WEB_CONCURRENCY="4")["workers"] == "1"
    assert effective_config(REDIS_URL="redis://127.0.0.1:6379/0", WEB_CONCURRENCY="4")["workers"] == "4"
