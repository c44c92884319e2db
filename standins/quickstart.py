"""`make run`: the whole platform on one machine.

The stand-ins (Flash, its sandbox, Clockchain, Auth0, Stripe, Apple) run in this
process, keeping their data in `.standins/` between runs; beside them run the processes
production runs, pointed at them: the web process as production starts it (gunicorn
with gunicorn.conf.py), the grant worker, the usage roll-ups, and the periodic jobs of
PERIODIC_JOBS. Ctrl-C or SIGTERM stops every one of them; so does any of them exiting.

    python -m standins.quickstart [--base-port 8000] [--state-dir .standins]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from .__main__ import STATE_DIR, dev_token, environment, start_all
from .base import StandIn, StateFileError
from .ports import GATEWAY_PORT, layout, refusal, taken

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(ROOT / "manage.py")]
# Jobs production runs from its scheduler: (name, manage.py command and arguments, every
# N seconds). Each runs once the gateway is up, then every N seconds; a command that does
# not exist in this checkout is left out. Add a row to add a job.
PERIODIC_JOBS: list[tuple[str, list[str], int]] = [
    ("mirror", ["mirror_stripe_events"], 300),
    ("reconcile", ["reconcile_ledger"], 300),
]
ROLLUP_EVERY = 3600  # seconds, as README's Operations table suggests for an always-on roll-up
HEALTH_WAIT = 120.0  # seconds the web process gets to answer /health
STOP_WAIT = 15.0  # seconds a process gets to stop on SIGTERM before it is killed

_print_lock = threading.Lock()


def say(line: str, prefix: str = "") -> None:
    with _print_lock:
        print(f"{prefix:>8} | {line}" if prefix else line, flush=True)


@dataclass
class Job:
    name: str
    argv: list[str]
    every: int | None = None  # seconds between runs of a periodic job; None: always on


def command_exists(name: str) -> bool:
    """Whether some app of this checkout has the management command."""
    return any(ROOT.glob(f"*/management/commands/{name}.py"))


def jobs(gateway_port: int) -> list[Job]:
    """Every process production runs, as this machine runs it."""
    web = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
           "--bind", f"127.0.0.1:{gateway_port}"]
    if not os.environ.get("REDIS_URL"):
        # The local-memory cache is per process: rate limits, concurrency slots and
        # cached keys are only right with one worker.
        web += ["--workers", "1"]
    web.append("timepoint_billing.wsgi:application")
    return [
        Job("web", web),
        Job("grants", [*MANAGE, "process_grants"]),
        Job("rollups", [*MANAGE, "rollup_usage", "--every", str(ROLLUP_EVERY)]),
        *(Job(name, [*MANAGE, *command], every) for name, command, every in PERIODIC_JOBS
          if command_exists(command[0])),
    ]


class Launcher:
    """Starts the jobs, relays their output line by line under their name, and stops
    them all (SIGTERM, then SIGKILL after STOP_WAIT) when asked or when one exits."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.running: dict[str, subprocess.Popen] = {}  # always-on jobs
        self.periodic: list[subprocess.Popen] = []  # periodic runs in progress
        self.threads: list[threading.Thread] = []
        self.failed: str | None = None  # why everything stopped, when a job died

    def spawn(self, job: Job) -> subprocess.Popen:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and commands
            job.argv, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            # Its own session: Ctrl-C reaches only this launcher, which stops each job in turn.
            start_new_session=True,
        )
        reader = threading.Thread(target=self._relay, args=(process, job.name), daemon=True)
        reader.start()
        self.threads.append(reader)
        return process

    @staticmethod
    def _relay(process: subprocess.Popen, name: str) -> None:
        for raw in process.stdout:
            say(raw.decode("utf-8", "replace").rstrip(), name)

    def start(self, job: Job) -> None:
        if job.every is None:
            process = self.spawn(job)
            with self.lock:
                self.running[job.name] = process
            say(f"{job.name} started (pid {process.pid}): {display(job.argv)}")
            return
        say(f"{job.name} runs now and every {job.every} s: {display(job.argv)}")
        thread = threading.Thread(target=self._repeat, args=(job,), name=f"every-{job.name}", daemon=True)
        thread.start()
        self.threads.append(thread)

    def _repeat(self, job: Job) -> None:
        while not self.stopping.is_set():
            with self.lock:
                if self.stopping.is_set():
                    return
                process = self.spawn(job)
                self.periodic.append(process)
            say(f"{job.name} run started (pid {process.pid})")
            code = process.wait()
            with self.lock:
                self.periodic.remove(process)
            if not self.stopping.is_set():
                say(f"{job.name} run finished (exit {code})")
            if self.stopping.wait(job.every):
                return

    def check(self) -> bool:
        """False once asked to stop or once an always-on job has exited (then `failed`
        says which, and everything is to stop)."""
        with self.lock:
            for name, process in self.running.items():
                if process.poll() is not None and not self.stopping.is_set():
                    self.failed = f"{name} exited (code {process.returncode})"
                    self.stopping.set()
        return not self.stopping.is_set()

    def watch(self) -> None:
        while self.check():
            self.stopping.wait(0.2)

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            processes = [*self.running.values(), *self.periodic]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_WAIT
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"pid {process.pid} did not stop within {STOP_WAIT:.0f} s: killed")
            try:  # whatever it left behind in its session (gunicorn's workers)
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait()
        for thread in self.threads:
            thread.join(timeout=2)


def display(argv: list[str]) -> str:
    """A command as a person would type it."""
    shown = ["python" if arg == sys.executable else os.path.relpath(arg, ROOT) if arg.startswith(str(ROOT)) else arg
             for arg in argv]
    return " ".join(shown)


def migrate(env: dict[str, str]) -> None:
    """Bring the database up to date, showing only the migrations applied."""
    say("Bringing the database up to date (a new one takes about a minute: dj-stripe's migrations)…")
    process = subprocess.Popen([*MANAGE, "migrate", "--noinput"], cwd=ROOT, env=env,  # noqa: S603
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    try:
        for line in process.stdout:
            output.append(line)
            if line.startswith("  Applying"):
                say(line.strip(), "migrate")
    except BaseException:  # stopped meanwhile: so is the migration
        process.terminate()
        process.wait()
        raise
    if process.wait() != 0:
        sys.stdout.write("".join(output))
        sys.exit(f"make run: the migrations failed (exit {process.returncode}); nothing was started")


def wait_for_health(url: str, launcher: Launcher) -> bool:
    deadline = time.monotonic() + HEALTH_WAIT
    while launcher.check():
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            launcher.failed = f"the web process did not answer {url}/health within {HEALTH_WAIT:.0f} s"
            return False
        launcher.stopping.wait(0.2)
    return False


def shown_path(path: Path) -> str:
    return os.path.relpath(path, ROOT) if path.resolve().is_relative_to(ROOT) else str(path)


def banner(url: str, started: dict[str, StandIn], token: str, seconds: float, state_dir: Path) -> str:
    auth0 = started["auth0"]
    return "\n".join([
        "",
        f"TIMEPOINT billing is up on {url} ({seconds:.0f} s after start), with local stand-ins:",
        *(f"  {name:<14} {standin.url}" for name, standin in started.items()),
        f"Their data (users, balances, signing key, …) stays in {shown_path(state_dir)}/; make clean forgets it.",
        "",
        f"  API reference   {url}/api/v1/docs/",
        f"  Portal          {url}/portal/  (signs you in as whoever you choose; default {auth0.default_sub})",
        f"  Admin           {url}/admin/   (make admin creates an operator login)",
        "",
        f"Try it (an Auth0 token for {auth0.default_sub}, valid for a week, also after a restart on these ports):",
        f"  export TOKEN={token}",
        f"  curl {url}/health",
        f'  curl -H "Authorization: Bearer $TOKEN" {url}/api/v1/credits/balance',
        "  curl -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\",
        f"       -d '{{\"name\": \"my first key\", \"environment\": \"test\"}}' {url}/api/v1/keys",
        "",
        "Ctrl-C stops everything.",
        "",
    ])


def local_return_urls(url: str) -> dict[str, str]:
    """Where Stripe's pages send a newcomer back to after an API checkout, a saved card or
    the billing portal: this run's portal, not the production app's defaults
    (https://app.timepointai.com/billing/…), which a local purchase cannot reach. The
    credits page fits a package, a plan and a saved card alike. Variables already set win."""
    return {
        "PAYMENTS_SUCCESS_URL": f"{url}/portal/credits/",
        "PAYMENTS_CANCEL_URL": f"{url}/portal/credits/cancel/",
        "PAYMENTS_BILLING_PORTAL_RETURN_URL": f"{url}/portal/plan/",
    }


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    try:
        run(argv)
    except KeyboardInterrupt:  # before anything was started, or while migrating
        sys.exit(130)


def run(argv: list[str] | None = None) -> None:
    began = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)  # like Ctrl-C until the jobs run
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-port", type=int, default=GATEWAY_PORT,
                        help="the gateway's port; the stand-ins take the gateway's + 101 to + 106")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="where the stand-ins keep their data")
    args = parser.parse_args(argv)

    busy = taken(layout(args.base_port))
    if busy:
        sys.exit(refusal(busy))

    url = f"http://127.0.0.1:{args.base_port}"
    base_env = {**os.environ, "PYTHONUNBUFFERED": "1", "PORT": str(args.base_port)}
    migrate(base_env)

    try:
        started = start_all(args.base_port, state_dir=args.state_dir)
    except StateFileError as exc:
        sys.exit(f"make run: {exc}")
    except OSError as exc:  # taken since the check
        sys.exit(f"make run: a stand-in could not listen ({exc})")
    launcher = Launcher({**local_return_urls(url), **base_env, **environment(started)})
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: launcher.stopping.set())
    all_jobs = jobs(args.base_port)
    try:
        for job in all_jobs:
            if job.every is None:
                launcher.start(job)
        if wait_for_health(url, launcher):
            for job in all_jobs:
                if job.every is not None:
                    launcher.start(job)
            say(banner(url, started, dev_token(started["auth0"]), time.monotonic() - began, args.state_dir))
            launcher.watch()
    finally:
        say("Stopping…")
        launcher.stop()
        for standin in started.values():
            standin.stop()
    if launcher.failed:
        sys.exit(f"make run: {launcher.failed}; everything is stopped")
    say("Stopped.")


if __name__ == "__main__":
    main()
