"""`make run`: the stand-ins on fixed ports, then the gateway on 127.0.0.1:8000
pointed at them, on embedded defaults for everything else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from .__main__ import PORTS, environment, start_all


def main() -> None:
    try:
        started = start_all()
    except OSError as exc:
        sys.exit(f"make run: a stand-in port is taken ({exc}); ports {sorted(PORTS.values())} and 8000 must be free")
    env = {**os.environ, **environment(started)}
    token = started["auth0"].mint("auth0|newcomer", expires_in=7 * 86400)
    print(
        "\n".join(
            [
                "",
                "TIMEPOINT billing is starting on http://127.0.0.1:8000 with local stand-ins:",
                *(f"  {name:<10} {standin.url}" for name, standin in started.items()),
                "",
                "Try it (this Auth0 dev token is valid for a week):",
                f"  export TOKEN={token}",
                "  curl http://127.0.0.1:8000/health",
                '  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/api/v1/credits/balance',
                "  curl -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\",
                "       -d '{\"name\": \"my first key\", \"environment\": \"test\"}' http://127.0.0.1:8000/api/v1/keys",
                "  open http://127.0.0.1:8000/api/v1/docs/ and http://127.0.0.1:8000/portal/",
                "",
            ]
        ),
        flush=True,
    )
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "runserver", "127.0.0.1:8000", "--noreload"], env=env
    )

    def stop(*_: object) -> None:
        server.terminate()

    # `kill` of this process (not only Ctrl-C) must not leave the gateway behind.
    signal.signal(signal.SIGTERM, stop)
    try:
        code = server.wait()
    except KeyboardInterrupt:
        server.terminate()
        code = server.wait()
    sys.exit(0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code)


if __name__ == "__main__":
    main()
