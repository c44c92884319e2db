"""`python -m standins`: every stand-in on fixed local ports, to run the gateway yourself.

Writes the environment the gateway needs to use them to --env-file, and prints their
URLs and a ready-made Auth0 token to try the API with. `make run` (standins/quickstart.py)
starts them the same way, with every gateway process beside them.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from . import Apple, Auth0, Clockchain, Flash, StandIn, Stripe
from .ports import GATEWAY_PORT, layout

# Where `make run` keeps the stand-ins' data between runs (git-ignored; `make clean`).
STATE_DIR = Path(__file__).resolve().parent.parent / ".standins"
WEBHOOK_PATH = "/api/v1/billing/webhooks/stripe"
TOKEN_DAYS = 7


def start_all(gateway_port: int = GATEWAY_PORT, state_dir: Path | None = None) -> dict[str, StandIn]:
    """Every stand-in on its port beside the gateway's (standins/ports.py), keeping its
    data in `state_dir` when given; none is left running if one cannot start."""
    ports = layout(gateway_port)
    made: dict[str, StandIn] = {
        "flash": Flash(ports["flash"]),
        "clockchain": Clockchain(ports["clockchain"]),
        "auth0": Auth0(ports["auth0"]),
        # Delivers its signed events to the gateway's webhook, as the Stripe dashboard would.
        "stripe": Stripe(ports["stripe"], webhook_url=os.environ.get("STANDIN_STRIPE_WEBHOOK_URL")
                         or f"http://127.0.0.1:{gateway_port}{WEBHOOK_PATH}"),
        "apple": Apple(ports["apple"]),
        # Test keys' generations (FLASH_TEST_URL): same service key, users of its own.
        "flash_sandbox": Flash(ports["flash_sandbox"], sandbox=True),
    }
    started: dict[str, StandIn] = {}
    try:
        for name, standin in made.items():
            if state_dir is not None:
                standin.keep_state_in(state_dir, name)
            started[name] = standin.start()
    except BaseException:
        for standin in started.values():
            standin.stop()
        raise
    return started


def environment(started: dict[str, StandIn]) -> dict[str, str]:
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
    if "flash_sandbox" in started:
        env["FLASH_TEST_URL"] = started["flash_sandbox"].url
    for name in ("stripe", "apple"):
        standin = started.get(name)
        if standin is not None and hasattr(standin, "environment"):
            env.update(standin.environment())
    return env


def dev_token(auth0: Auth0) -> str:
    """An access token for the stand-in's default identity, valid TOKEN_DAYS."""
    return auth0.mint(auth0.default_sub, expires_in=TOKEN_DAYS * 86400)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env-file", help="write the gateway's variables to this file")
    parser.add_argument("--state-dir", default=str(STATE_DIR), help="where the stand-ins keep their data")
    parser.add_argument("--base-port", type=int, default=GATEWAY_PORT,
                        help="the gateway's port; the stand-ins take the gateway's + 101 to + 106")
    args = parser.parse_args()
    started = start_all(args.base_port, state_dir=Path(args.state_dir))
    env = environment(started)
    if args.env_file:
        with open(args.env_file, "w") as fh:
            fh.writelines(f"{k}={v}\n" for k, v in env.items())
    print("stand-ins listening:", ", ".join(f"{k} {v.url}" for k, v in started.items()), flush=True)
    print(f"try:  curl -H 'Authorization: Bearer {dev_token(started['auth0'])}' "
          f"http://127.0.0.1:{args.base_port}/api/v1/credits/balance", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    for standin in started.values():
        standin.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
