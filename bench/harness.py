"""What every bench needs: the bench database, the stand-ins in their own process, the
gateway under gunicorn with the production config, a bounded closed-loop load
generator on loopback, and the tables.

The gateway runs `gunicorn -c gunicorn.conf.py` (gevent workers, the production
settings); beside it, the bare relay (bench/serving_proto.py: one Django view, no
middleware, a pooled urllib3 client) runs under the same gunicorn settings.
PostgreSQL and Redis come from BENCH_DATABASE_URL / BENCH_REDIS_URL, by default the
database `bench_tpb` on 127.0.0.1 (created and migrated on first use, reused later) and
Redis db 10 on 127.0.0.1. Nothing here leaves 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "bench_tpb"
FLASH_SERVICE_KEY = "bench-flash-key"
FLASH_ADMIN_KEY = "bench-flash-admin"
CLOCKCHAIN_SERVICE_KEY = "bench-clockchain-key"

# The stand-ins of a bench: a listen backlog for a thousand simultaneous streams (the
# standard library's is 5), and Flash's streams as the bench asks (events, seconds apart).
_STANDINS = """
import socketserver, sys, threading
socketserver.TCPServer.request_queue_size = 2048
from standins import Clockchain, Flash
flash = Flash(int(sys.argv[1]), service_key=sys.argv[3], admin_key=sys.argv[4])
flash.stream_events, flash.stream_interval = int(sys.argv[6]), float(sys.argv[7])
flash.start()
Clockchain(int(sys.argv[2]), service_key=sys.argv[5]).start()
threading.Event().wait()
"""


def database_url() -> str:
    """The bench database: BENCH_DATABASE_URL, else DATABASE_URL's server (when it is
    PostgreSQL) with the database `bench_tpb`, else PostgreSQL on 127.0.0.1."""
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        return explicit
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        base = "postgres://postgres@127.0.0.1:5432/postgres"
    return urlunsplit(urlsplit(base)._replace(path="/" + BENCH_DATABASE))


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/10"


def base_environment(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ENVIRONMENT": "test",
        "DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "timepoint_billing.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url(),
        "LOG_LEVEL": "WARNING",
        **extra,
    }


_prepared = False


def prepare_database() -> None:
    """Create the bench database once and bring its schema up to date (quick when it is)."""
    global _prepared
    if _prepared:
        return
    import psycopg

    parts = urlsplit(database_url())
    server = urlunsplit(parts._replace(path="/postgres"))
    try:
        conn = psycopg.connect(server, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise SystemExit(f"The benches need PostgreSQL (BENCH_DATABASE_URL or DATABASE_URL): {exc}") from None
    with conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [parts.path[1:]]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{parts.path[1:]}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                   env=base_environment(), check=True)
    _prepared = True


def setup_django() -> None:
    """This process on the bench database and Redis, for in-process benches."""
    prepare_database()
    for name, value in base_environment().items():
        if name in ("ENVIRONMENT", "DEBUG", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "LOG_LEVEL"):
            os.environ[name] = value
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up within {deadline_s:.0f} s")


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class StandIns:
    flash: str
    clockchain: str
    pid: int = 0

    def environment(self) -> dict[str, str]:
        return {"FLASH_URL": self.flash, "FLASH_SERVICE_KEY": FLASH_SERVICE_KEY, "FLASH_ADMIN_KEY": FLASH_ADMIN_KEY,
                "CLOCKCHAIN_URL": self.clockchain, "CLOCKCHAIN_SERVICE_KEY": CLOCKCHAIN_SERVICE_KEY}

    def flash_user(self, external_id: str, balance: int = 0) -> str:
        """A Flash user (made by the stand-in's resolve) with at least `balance` credits."""
        user_id = requests.post(f"{self.flash}/api/v1/users/resolve", json={"external_id": external_id},
                                headers={"X-Service-Key": FLASH_SERVICE_KEY}, timeout=5).json()["user_id"]
        if balance:
            requests.post(f"{self.flash}/api/v1/credits/admin/grant", json={"user_id": user_id, "amount": balance},
                          headers={"X-Admin-Key": FLASH_ADMIN_KEY}, timeout=5).raise_for_status()
        return user_id


@contextlib.contextmanager
def standins(stream_events: int = 3, stream_interval: float = 0.0) -> Iterator[StandIns]:
    """Flash and Clockchain stand-ins in a process of their own (not sharing the load
    generator's interpreter lock); Flash's streams send `stream_events` progress events
    `stream_interval` seconds apart."""
    flash_port, clockchain_port = free_port(), free_port()
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", _STANDINS, str(flash_port), str(clockchain_port), FLASH_SERVICE_KEY,
         FLASH_ADMIN_KEY, CLOCKCHAIN_SERVICE_KEY, str(stream_events), str(stream_interval)], cwd=ROOT)
    try:
        started = StandIns(f"http://127.0.0.1:{flash_port}", f"http://127.0.0.1:{clockchain_port}", process.pid)
        wait_until_up(started.flash + "/")
        wait_until_up(started.clockchain + "/")
        yield started
    finally:
        _stop(process)


def flash_calls(upstreams: StandIns, path: str) -> int:
    """How many requests for `path` the Flash stand-in has received so far."""
    received = requests.get(f"{upstreams.flash}/__standin__/requests", timeout=60).json()
    return sum(1 for request in received if request["path"] == path)


def with_children(pid: int) -> list[int]:
    """A process and its live children (gunicorn's master and workers)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return pids


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its live children (gunicorn's workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for each in with_children(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@dataclass
class Gateway:
    url: str
    pid: int

    def cpu(self) -> float:
        return cpu_seconds(self.pid)


@contextlib.contextmanager
def serve(app: str, env: dict[str, str], workers: int = 2, ready_path: str = "/health") -> Iterator[Gateway]:
    """`app` under `gunicorn -c gunicorn.conf.py` (the production settings: gevent
    workers) on a free port; stopped gracefully (SIGTERM) on the way out."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
         # No access log, as in production (gunicorn.conf.py): writing one, even to
         # /dev/null, cost 3 % of a relayed read's CPU.
         "--workers", str(workers), "--log-level", "warning", app],
        cwd=ROOT, env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url + ready_path)
        yield Gateway(url, process.pid)
    finally:
        _stop(process)


@contextlib.contextmanager
def gateway(upstreams: StandIns, workers: int = 2, **env: str) -> Iterator[Gateway]:
    """The gateway under gunicorn with gunicorn.conf.py."""
    prepare_database()
    with serve("timepoint_billing.wsgi:application", base_environment(**upstreams.environment(), **env),
               workers) as started:
        yield started


@contextlib.contextmanager
def bare_relay(upstreams: StandIns, flash_user: str, workers: int = 2) -> Iterator[Gateway]:
    """The floor of a relay on this stack: one Django view with no middleware that
    forwards `GET /proto/balance` to the Flash stand-in's balance through a pooled
    urllib3 client (bench/serving_proto.py), under the same gunicorn settings; and
    `GET /proto/limited_balance`, the same with the shared limits' Redis work."""
    env = base_environment(DJANGO_SETTINGS_MODULE="bench.serving_proto", PROTO_FLASH_URL=upstreams.flash,
                           PROTO_FLASH_KEY=FLASH_SERVICE_KEY, PROTO_USER=flash_user, PROTO_REDIS_URL=redis_url())
    with serve("bench.serving_proto:wsgi", env, workers, ready_path="/proto/balance") as started:
        yield started


# --- load -------------------------------------------------------------------------


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # process → CPU ms per request

    @property
    def count(self) -> int:
        return len(self.latencies)

    def add(self, other: Result) -> Result:
        """This result and `other` (another slice of the same target) as one."""
        total = self.count + other.count
        for who in {*self.cpu, *other.cpu}:
            spent = self.cpu.get(who, 0.0) * self.count + other.cpu.get(who, 0.0) * other.count
            self.cpu[who] = spent / max(1, total)
        self.latencies.extend(other.latencies)
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        self.elapsed += other.elapsed
        return self

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else float("nan")

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p99(self) -> float:
        return self.percentile(0.99)

    @property
    def rps(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def measured(processes: dict[str, int], run: Callable[[], Result], load: bool = False) -> Result:
    """`run()`, with the CPU each named process spent on it, per answered request; with
    `load`, also this process's (the load generator's threads)."""
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    own = _own_cpu()
    result = run()
    for name, pid in processes.items():
        result.cpu[name] = (cpu_seconds(pid) - before[name]) * 1000 / max(1, result.count)
    if load:
        result.cpu["load"] = (_own_cpu() - own) * 1000 / max(1, result.count)
    return result


def local_redis_pid() -> int | None:
    """The Redis server's process when it runs on this machine (its CPU is part of what
    a request through the gateway costs the machine), else None."""
    import redis

    try:
        pid = int(redis.Redis.from_url(redis_url()).info("server")["process_id"])
    except Exception:  # noqa: BLE001 - a bench figure we can do without
        return None
    return pid if Path(f"/proc/{pid}/stat").exists() else None


def load(url: str, total: int, connections: int, headers: dict[str, str] | None = None,
         time_cap: float = 20.0, headers_for: list[dict[str, str]] | None = None,
         method: str = "GET", payload: Callable[[], tuple[bytes, dict[str, str]]] | None = None) -> Result:
    """A closed loop: `connections` threads, each on one kept-alive connection, send
    requests until `total` are answered or `time_cap` seconds have passed.
    `headers_for[i % len]` gives connection i its own headers (e.g. its own key);
    `payload()` gives each request its own body and extra headers (made before the
    clock starts)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    result = Result()
    lock = threading.Lock()
    remaining = [total]
    deadline = time.monotonic() + time_cap

    def worker(index: int) -> None:
        mine: list[float] = []
        seen: dict[int, int] = {}
        sent = {**(headers or {}), **(headers_for[index % len(headers_for)] if headers_for else {})}
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            while time.monotonic() < deadline:
                with lock:
                    if remaining[0] == 0:
                        break
                    remaining[0] -= 1
                body, extra = payload() if payload is not None else (None, {})
                started = time.perf_counter()
                conn.request(method, target, body=body, headers={**sent, **extra})
                response = conn.getresponse()
                response.read()
                mine.append(time.perf_counter() - started)
                seen[response.status] = seen.get(response.status, 0) + 1
                if response.will_close:
                    conn.close()
        finally:
            conn.close()
            with lock:
                result.latencies.extend(mine)
                for status, count in seen.items():
                    result.statuses[status] = result.statuses.get(status, 0) + count

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.elapsed = time.perf_counter() - started
    return result


def warm_keys(url: str, keys: list[str], reads_per_key: int = 4) -> Result:
    """Every key read `reads_per_key` times (one connection per key, so that none is left
    out): its record cached and its last use marked before anything is measured, as for
    a key in use. `load` gives connection i the i-th key, so its 16 connections warm
    only 16 keys; a burst over cold keys measures each worker reading the same key from
    PostgreSQL once per waiting request instead."""
    return load(url, reads_per_key * len(keys), len(keys),
                headers_for=[{"Authorization": f"Bearer {key}"} for key in keys])


# --- concurrent streams ----------------------------------------------------------------


@dataclass
class StreamsResult:
    first_event: list[float] = field(default_factory=list)  # seconds from request to first event
    completed: int = 0  # streams that ended with their final event
    statuses: dict[int | str, int] = field(default_factory=dict)
    reads: Result = field(default_factory=Result)  # reads answered while the streams ran
    peak_rss_mib: float = 0.0
    peak_db_connections: int = 0
    elapsed: float = 0.0
    server_cpu: float = 0.0  # seconds of CPU the server (`pid`, all workers) used for them

    def first_event_percentile(self, q: float) -> float:
        ordered = sorted(self.first_event)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (gunicorn's master and workers),
    MiB. Pages a worker still shares with the master are counted in both: an upper
    bound."""
    total = 0
    for each in with_children(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def streams(url: str, count: int, body: bytes, headers_for: Callable[[int], dict[str, str]],
            final_events: tuple[bytes, ...] = (b"event: done",), read_url: str | None = None,
            read_headers: dict[str, str] | None = None, read_every: float = 0.1, pid: int = 0,
            count_db_connections: Callable[[], int] | None = None, time_cap: float = 300.0) -> StreamsResult:
    """`count` streams opened at once (one thread and connection each, all released by
    one barrier), each read to its end; meanwhile one client reads `read_url` every
    `read_every` seconds, and the server's memory (`pid`) and database connections are
    sampled. Bounded by `time_cap`."""
    parts = urlsplit(url)
    result = StreamsResult()
    lock = threading.Lock()
    gate = threading.Barrier(count + 1)
    done = threading.Event()
    deadline = time.monotonic() + time_cap

    def one(index: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        status: int | str = "error"
        first = None
        finished = False
        try:
            gate.wait()
            started = time.perf_counter()
            conn.request("POST", parts.path, body=body,
                         headers={"Content-Type": "application/json", **headers_for(index)})
            response = conn.getresponse()
            status = response.status
            buffer = b""
            while time.monotonic() < deadline:
                chunk = response.read1(65536)
                if not chunk:
                    break
                if first is None and b"\n\n" in buffer + chunk:
                    first = time.perf_counter() - started
                buffer = (buffer + chunk)[-4096:]
                if any(name in buffer for name in final_events):
                    finished = True
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as exc:
            status = exc.__class__.__name__
        finally:
            conn.close()
            with lock:
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if first is not None:
                    result.first_event.append(first)
                result.completed += finished

    def reader() -> None:
        if read_url is None:
            return
        read = urlsplit(read_url)
        conn = http.client.HTTPConnection(read.hostname, read.port, timeout=30)
        while not done.is_set() and time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                conn.request("GET", read.path, headers=read_headers or {})
                response = conn.getresponse()
                response.read()
                status: int | str = response.status
            except (OSError, http.client.HTTPException) as exc:
                status = exc.__class__.__name__
                conn.close()
                conn = http.client.HTTPConnection(read.hostname, read.port, timeout=30)
            result.reads.latencies.append(time.perf_counter() - started)
            result.reads.statuses[status] = result.reads.statuses.get(status, 0) + 1
            done.wait(read_every)
        conn.close()

    def sampler() -> None:
        while not done.is_set():
            if pid:
                result.peak_rss_mib = max(result.peak_rss_mib, rss_mib(pid))
            if count_db_connections is not None:
                with contextlib.suppress(Exception):
                    result.peak_db_connections = max(result.peak_db_connections, count_db_connections())
            done.wait(0.5)

    threading.stack_size(256 * 1024)  # a thousand client threads need little stack each
    try:
        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
        for thread in threads:
            thread.start()
    finally:
        threading.stack_size(0)
    helpers = [threading.Thread(target=reader, daemon=True), threading.Thread(target=sampler, daemon=True)]
    for helper in helpers:
        helper.start()
    started, cpu_before = time.perf_counter(), cpu_seconds(pid) if pid else 0.0
    gate.wait()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    result.elapsed = time.perf_counter() - started
    result.server_cpu = cpu_seconds(pid) - cpu_before if pid else 0.0
    done.set()
    for helper in helpers:
        helper.join(30)
    return result


def print_streams(title: str, rows: list[tuple[str, StreamsResult]]) -> None:
    print(f"\n{title}")
    print(f"  {'':24} {'streams':>7} {'done':>5} {'1st p50':>8} {'1st p99':>8} {'1st max':>8} {'reads':>6} "
          f"{'read p50':>9} {'read p99':>9} {'RSS MiB':>8} {'PG conns':>8} {'CPU s':>6}  statuses")
    for name, row in rows:
        total = sum(row.statuses.values())
        print(f"  {name:24} {total:7d} {row.completed:5d} {row.first_event_percentile(0.5) * 1000:6.0f}ms "
              f"{row.first_event_percentile(0.99) * 1000:6.0f}ms {row.first_event_percentile(1.0) * 1000:6.0f}ms "
              f"{row.reads.count:6d} {row.reads.p50:7.1f}ms {row.reads.p99:7.1f}ms {row.peak_rss_mib:8.0f} "
              f"{row.peak_db_connections or '-':>8} {row.server_cpu:6.2f}  {dict(row.statuses)}; "
              f"reads {dict(row.reads.statuses)}")


# --- tables -----------------------------------------------------------------------


def print_table(title: str, rows: list[tuple[str, Result]], baseline: str | None = None) -> None:
    """p50, p99, requests/s and statuses per row; with a baseline, each row's ratio
    to it (latency: row / baseline, throughput: row / baseline)."""
    print(f"\n{title}")
    print(f"  {'':28} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}  statuses; CPU ms per request")
    for name, row in rows:
        statuses = dict(sorted(row.statuses.items()))
        cpu = ", ".join(f"{who} {ms:.2f}" for who, ms in row.cpu.items())
        print(f"  {name:28} {row.count:6d} {row.p50:8.2f} {row.p99:8.2f} {row.rps:8.0f}  {statuses}"
              + (f"; {cpu}" if cpu else ""))
    if baseline is not None:
        base = dict(rows)[baseline]
        for name, row in rows:
            if name == baseline or not row.count or not base.count:
                continue
            print(f"  {name + ' / ' + baseline:40} p50 +{row.p50 - base.p50:6.2f} ms, "
                  f"req/s ratio {row.rps / base.rps:5.2f}")


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f", {kib / 1024 / 1024:.1f} GiB"
    load_avg = ", load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({cpu}){memory}{load_avg}"


def bench_keys(upstreams: StandIns, name: str, count: int = 1, balance: int = 0) -> list[str]:
    """`count` fresh live keys of an enterprise-tier bench account whose Flash user
    lives in these stand-ins; per-minute limits raised so that only the work is
    measured (concurrency stays the tier's: 20 per key). Needs setup_django()."""
    from accounts.models import Account
    from apikeys import keys
    from apikeys.models import APIKey

    flash_user_id = upstreams.flash_user(f"bench|{name}", balance)
    account, _ = Account.objects.update_or_create(
        external_id=f"bench|{name}",
        defaults={"flash_user_id": flash_user_id, "email": f"{name}@bench.invalid", "tier_override": "enterprise"},
    )
    for old in APIKey.objects.filter(account=account, is_active=True):
        keys.revoke_key(old)
    made = [keys.create_key(account, f"bench {i}")[1] for i in range(count)]
    APIKey.objects.filter(account=account, is_active=True).update(rate_limit_override=10**9)
    return made
