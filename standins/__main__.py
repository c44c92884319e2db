"""`python -m standins`: every stand-in on fixed local ports for the quickstart.

Prints the environment the gateway needs to use them (`make run` reads it) and a
ready-made Auth0 token to try the API with.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from . import Auth0, Clockchain, Flash

PORTS = {"flash": 8101, "clockchain": 8102, "auth0": 8103, "stripe": 8104, "apple": 8105}
# Where the Stripe stand-in delivers its events: the gateway `make run` starts.
WEBHOOK_URL = "http://127.0.0.1:8000/api/v1/billing/webhooks/stripe"


def start_all(base_port: int | None = None) -> dict[str, object]:
    ports = dict(PORTS) if base_port is None else {k: base_port + i for i, k in enumerate(PORTS)}
    started: dict[str, object] = {
        "flash": Flash(ports["flash"]).start(),
        "clockchain": Clockchain(ports["clockchain"]).start(),
        "auth0": Auth0(ports["auth0"]).start(),
    }
    try:  # added by the payments work
        from .stripe import Stripe

        webhook_url = os.environ.get("STRIPE_STANDIN_WEBHOOK_URL", WEBHOOK_URL)
        started["stripe"] = Stripe(ports["stripe"], webhook_url=webhook_url).start()
    except ImportError:
        pass
    try:
        from .apple import Apple

        started["apple"] = Apple(ports["apple"]).start()
    except ImportError:
        pass
    return started


def environment(started: dict[str, object]) -> dict[str, str]:
    """The gateway's variables pointing at these stand-ins."""
    flash, clockchain, auth0 = started["flash"], started["clockchain"], started["auth0"]
    env = {
        "FLASH_URL": flash.url,
        "FLASH_SERVICE_KEY": flash.service_key,
        "FLASH_ADMIN_KEY": flash.admin_key,
        "CLOCKCHAIN_URL": clockchain.url,
        "CLOCKCHAIN_SERVICE_KEY": clockchain.service_key,
        "AUTH0_DOMAIN": auth0.domain,
        "AUTH0_ISSUER": auth0.issuer,
        "AUTH0_AUDIENCE": auth0.audience,
        "AUTH0_CLIENT_ID": auth0.client_id,
        "AUTH0_CLIENT_SECRET": auth0.client_secret,
    }
    for name in ("stripe", "apple"):
        standin = started.get(name)
        if standin is not None and hasattr(standin, "environment"):
            env.update(standin.environment())
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env-file", help="write the gateway's variables to this file")
    args = parser.parse_args()
    started = start_all()
    env = environment(started)
    if args.env_file:
        with open(args.env_file, "w") as fh:
            fh.writelines(f"{k}={v}\n" for k, v in env.items())
    print("stand-ins listening:", ", ".join(f"{k} {v.url}" for k, v in started.items()), flush=True)
    print("try:  curl -H 'Authorization: Bearer " + started["auth0"].mint("auth0|newcomer", expires_in=86400)
          + "' http://127.0.0.1:8000/api/v1/credits/balance", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
