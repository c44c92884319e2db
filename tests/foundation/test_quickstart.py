"""`make run`'s launcher (standins/quickstart.py), run as a developer runs it but on free
ports: every process production runs starts and answers, Ctrl-C or SIGTERM stops them
all, a taken port is said first, and a second run keeps the first one's curl lines working.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from standins.ports import layout, taken
from standins.stripe import Stripe
from tests.conftest import bearer, shared_database_url

ROOT = Path(__file__).resolve().parents[2]
READY_WITHIN = 120  # seconds: migrations are checked and gunicorn boots on a shared machine
STOPPED_WITHIN = 30


def free_base_port() -> int:
    """A gateway port whose whole layout (the gateway and six stand-ins) is free."""
    for _ in range(50):
        base = random.randint(20000, 60000)
        if not taken(layout(base)):
            return base
    pytest.fail("no free block of ports for the launcher")


class Run:
    """One `python -m standins.quickstart`, its output read line by line."""

    def __init__(self, base_port: int, state_dir: Path, database_url: str) -> None:
        self.base_port = base_port
        self.url = f"http://127.0.0.1:{base_port}"
        self.lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        env = {**os.environ, "DATABASE_URL": database_url}
        env.pop("STANDIN_STRIPE_WEBHOOK_URL", None)
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "standins.quickstart", "--base-port", str(base_port), "--state-dir", str(state_dir)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, pattern: str, within: float = READY_WITHIN) -> re.Match:
        deadline = time.monotonic() + within
        for line in self.lines:
            if found := re.search(pattern, line):
                return found
        while True:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r} within {within} s:\n" + "\n".join(self.lines[-40:]))
            if line is None:
                pytest.fail(f"the launcher ended before {pattern!r}:\n" + "\n".join(self.lines[-40:]))
            self.lines.append(line)
            if found := re.search(pattern, line):
                return found

    def ready(self) -> str:
        """Wait for the banner; the dev token it prints."""
        self.wait_for(r"is up on " + re.escape(self.url))
        return self.wait_for(r"export TOKEN=(\S+)").group(1)

    def pid(self, job: str) -> int:
        return int(self.wait_for(rf"^{job} (?:run )?started \(pid (\d+)\)").group(1))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=STOPPED_WITHIN)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"the launcher did not stop within {STOPPED_WITHIN} s")
        return code


@pytest.fixture
def launch(transactional_db, tmp_path):
    """Factory: `launch(state_dir=None, base_port=None)` starts the launcher (on free
    ports unless told) against this test's database; every run is stopped when the
    test ends."""
    runs: list[Run] = []

    def start(state_dir: Path | None = None, base_port: int | None = None) -> Run:
        run = Run(base_port or free_base_port(), state_dir or tmp_path / "standins", shared_database_url())
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


@contextlib.contextmanager
def listening(port: int):
    """Something else listening on a port, for as long as the block runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return found


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_it_runs_every_process_production_runs_and_stops_them_all(launch, stop_signal):
    run = launch()
    run.ready()
    web, grants, rollups, mirror = run.pid("web"), run.pid("grants"), run.pid("rollups"), run.pid("mirror")

    assert "gunicorn -c" in command_line(web) and "gunicorn.conf.py" in command_line(web)
    assert "process_grants" in command_line(grants)
    assert "rollup_usage --every" in command_line(rollups)
    assert run.wait_for(r"^mirror run finished \(exit (\d+)\)").group(1) == "0"
    workers = children(web)
    assert workers, "gunicorn has no worker"
    assert requests.get(run.url + "/health", timeout=5).status_code == 200
    for standin in ("flash", "auth0", "flash_sandbox"):
        assert requests.get(f"http://127.0.0.1:{layout(run.base_port)[standin]}/__standin__/requests",
                            timeout=5).status_code == 200

    assert run.stop(stop_signal) == 0

    left = [pid for pid in (web, grants, rollups, mirror, *workers) if alive(pid)]
    assert left == [], [command_line(pid) for pid in left]
    assert taken(layout(run.base_port)) == []


def test_a_second_run_accepts_the_printed_token_and_finds_the_user(launch, tmp_path):
    first = launch(tmp_path / "kept")
    token = first.ready()
    me = requests.get(first.url + "/api/v1/credits/balance", headers=bearer(token), timeout=10)
    assert me.status_code == 200, me.text
    assert first.stop() == 0

    second = launch(tmp_path / "kept", base_port=first.base_port)  # as make run does: the same ports
    second.ready()
    again = requests.get(second.url + "/api/v1/credits/balance", headers=bearer(token), timeout=10)

    assert again.status_code == 200, again.text
    assert again.json() == me.json()


def test_test_keys_generate_in_the_sandbox_and_stripe_comes_back_to_this_run(launch):
    # One run for both (each run costs seconds): what make run wires beyond the README's curl.
    run = launch()
    token = run.ready()
    created = requests.post(run.url + "/api/v1/keys", headers=bearer(token), timeout=10,
                            json={"name": "my first key", "environment": "test"})
    assert created.status_code == 201, created.text
    before = requests.get(run.url + "/api/v1/credits/balance", headers=bearer(token), timeout=10).json()

    generated = requests.post(run.url + "/api/v1/generate", headers=bearer(created.json()["key"]),
                              json={"query": "Apollo 11"}, timeout=30)

    assert generated.status_code == 200, generated.text
    sandbox = f"http://127.0.0.1:{layout(run.base_port)['flash_sandbox']}/__standin__/requests"
    assert [r["path"] for r in requests.get(sandbox, timeout=5).json()] == ["/api/v1/timepoints/generate/sync"]
    after = requests.get(run.url + "/api/v1/credits/balance", headers=bearer(token), timeout=10).json()
    assert after["balance"] == before["balance"]  # a test key spends nothing real

    # STRIPE_WEBHOOK_SECRET is the Stripe stand-in's, so the events it signs are taken.
    body, headers = Stripe().signed(Stripe.event("customer.created", {"id": "cus_1", "object": "customer"}))
    answer = requests.post(run.url + "/api/v1/billing/webhooks/stripe", data=body,
                           headers={**headers, "Content-Type": "application/json"}, timeout=10)
    assert answer.status_code == 200, answer.text

    # An API checkout paid on the stand-in's page comes back to this run's portal, not
    # to the production app's default return URLs.
    checkout = requests.post(run.url + "/api/v1/billing/checkout", headers=bearer(token),
                             json={"package": "100_credits"}, timeout=10)
    assert checkout.status_code == 200, checkout.text
    page = requests.get(checkout.json()["checkout_url"], timeout=10).text
    assert f'href="{run.url}/portal/credits/cancel/"' in page
    paid = requests.post(checkout.json()["checkout_url"] + "/pay", allow_redirects=False, timeout=10)
    assert paid.headers["Location"] == run.url + "/portal/credits/"


@pytest.mark.parametrize("which", ["gateway", "auth0"])
def test_it_says_a_port_is_taken_before_anything_else(tmp_path, which):
    base = free_base_port()
    port = layout(base)[which]
    with listening(port):
        result = subprocess.run([sys.executable, "-m", "standins.quickstart", "--base-port", str(base),  # noqa: S603
                                 "--state-dir", str(tmp_path / "state")], cwd=ROOT, capture_output=True, text=True,
                                timeout=60)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"make run: port {port} ({which}")
    assert not (tmp_path / "state").exists()  # no stand-in was started
    assert [name for name, _port, _why in taken(layout(base))] == []


def test_make_run_says_a_port_is_taken_before_installing_anything():
    base = free_base_port()
    with listening(base):
        result = subprocess.run(["make", "--no-print-directory", "run", f"BASE_PORT={base}"], cwd=ROOT,  # noqa: S607
                                capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.splitlines()[0].startswith(f"make run: port {base} (gateway")
