"""The ports `make run` listens on, and which of them are taken.

Standard library only, and runnable as a file (`python standins/ports.py`): `make run`
asks it first, with the system Python, so that a taken port is the first thing it says
(before installing or migrating anything).
"""

from __future__ import annotations

import argparse
import socket
import sys

GATEWAY_PORT = 8000
# Each stand-in's port is the gateway's + 101 + its position here (8000 → Flash 8101, …).
STANDINS = ("flash", "clockchain", "auth0", "stripe", "apple", "flash_sandbox")


def layout(gateway_port: int = GATEWAY_PORT) -> dict[str, int]:
    """The gateway's port and every stand-in's."""
    return {"gateway": gateway_port, **{name: gateway_port + 101 + i for i, name in enumerate(STANDINS)}}


def taken(ports: dict[str, int], host: str = "127.0.0.1") -> list[tuple[str, int, str]]:
    """(name, port, why) for each port something else is listening on."""
    busy = []
    for name, port in ports.items():
        with socket.socket() as sock:
            # As the servers themselves bind: a port left in TIME_WAIT by the last run is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                busy.append((name, port, exc.strerror or str(exc)))
    return busy


def refusal(busy: list[tuple[str, int, str]]) -> str:
    ports = ", ".join(f"{port} ({name}: {why})" for name, port, why in busy)
    noun = "port" if len(busy) == 1 else "ports"
    return (f"make run: {noun} {ports} {'is' if len(busy) == 1 else 'are'} taken. Stop what listens there "
            f"(`ss -ltnp` shows it; often an earlier make run), or move everything with make run BASE_PORT=9000.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-port", type=int, default=GATEWAY_PORT, help="the gateway's port")
    busy = taken(layout(parser.parse_args().base_port))
    if busy:
        print(refusal(busy), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
