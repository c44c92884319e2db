"""What the gateway adds to a relayed request.

The same load (default 2,000 GETs at 20 connections) goes to a Clockchain stand-in
directly, then through the gateway (gunicorn + gunicorn.conf.py, PostgreSQL and Redis
from DATABASE_URL / REDIS_URL) relaying `/api/v1/today` to that stand-in. Prints p50,
p99 and requests/s of both and their ratio. Loopback only; bounded by --requests.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tpb_bench REDIS_URL=redis://127.0.0.1:6379/4 \\
        python -m bench.relay_overhead
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
STANDIN = (
    "import sys, threading; from standins import Clockchain; "
    "Clockchain(int(sys.argv[1]), service_key='bench-key').start(); threading.Event().wait()"
)


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
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def load(url: str, total: int, connections: int, headers: dict[str, str]) -> dict[str, float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    remaining = [total]

    def worker() -> None:
        session = requests.Session()
        session.trust_env = False
        mine: list[float] = []
        seen: dict[int, int] = {}
        while True:
            with lock:
                if remaining[0] == 0:
                    break
                remaining[0] -= 1
            started = time.perf_counter()
            response = session.get(url, headers=headers, timeout=30)
            mine.append(time.perf_counter() - started)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
        with lock:
            latencies.extend(mine)
            for status, count in seen.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "rps": len(latencies) / elapsed,
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--gateway-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the gateway (e.g. raised rate limits)")
    args = parser.parse_args()

    standin_port, gateway_port = free_port(), free_port()
    standin = subprocess.Popen([sys.executable, "-c", STANDIN, str(standin_port)], cwd=ROOT)
    env = {**os.environ, "CLOCKCHAIN_URL": f"http://127.0.0.1:{standin_port}", "CLOCKCHAIN_SERVICE_KEY": "bench-key",
           "ENVIRONMENT": "test", "DJANGO_SETTINGS_MODULE": "timepoint_billing.settings"}
    env.update(item.split("=", 1) for item in args.gateway_env)
    gateway = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                       check=True)
        gateway = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{gateway_port}",
             "--workers", str(args.workers), "--threads", str(args.threads), "--access-logfile", "/dev/null",
             "--error-logfile", "/dev/null", "timepoint_billing.wsgi:application"],
            cwd=ROOT, env={**env, "LOG_LEVEL": "WARNING"},
        )
        direct_url = f"http://127.0.0.1:{standin_port}/api/v1/today"
        gateway_url = f"http://127.0.0.1:{gateway_port}/api/v1/today"
        wait_until_up(direct_url)
        wait_until_up(f"http://127.0.0.1:{gateway_port}/health")
        # Warm both (connection pools, lazy imports) before measuring.
        load(direct_url, 100, args.connections, {"X-Service-Key": "bench-key"})
        load(gateway_url, 100, args.connections, {})
        direct = load(direct_url, args.requests, args.connections, {"X-Service-Key": "bench-key"})
        through = load(gateway_url, args.requests, args.connections, {})
    finally:
        for process in (gateway, standin):
            if process is not None:
                process.terminate()
                process.wait(15)

    database = env.get("DATABASE_URL", "sqlite (default)").split("@")[-1]
    print(f"{args.requests} GET /api/v1/today at {args.connections} connections; gateway: gunicorn gthread "
          f"{args.workers}x{args.threads}, database {database}, cache {env.get('REDIS_URL') or 'local memory'}")
    print(f"{'':10} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}  statuses")
    for name, row in (("direct", direct), ("gateway", through)):
        print(f"{name:10} {row['p50']:8.2f} {row['p99']:8.2f} {row['rps']:8.0f}  {row['statuses']}")
    print(f"{'ratio':10} {through['p50'] / direct['p50']:8.2f} {through['p99'] / direct['p99']:8.2f} "
          f"{through['rps'] / direct['rps']:8.2f}  (gateway / direct)")


if __name__ == "__main__":
    main()
