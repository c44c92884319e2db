"""The HTTP plumbing shared by the Flash and Clockchain clients: one pooled
`requests.Session` per upstream, timeouts from settings, and the mapping of
transport failures onto the contract's 502/503/504."""

from __future__ import annotations

import logging
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from timepoint_billing.errors import APIError

log = logging.getLogger("relay.upstream")


class UpstreamError(APIError):
    """Billing could not get a usable answer from an upstream service."""


def unavailable(service: str) -> UpstreamError:
    return UpstreamError(503, "upstream_unavailable", f"{service} is unavailable; try again shortly.")


def timed_out(service: str) -> UpstreamError:
    return UpstreamError(504, "upstream_timeout", f"{service} did not answer in time.")


def failed(service: str) -> UpstreamError:
    return UpstreamError(502, "upstream_error", f"{service} answered with an error.")


def pooled_session(pool_size: int = 50) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # Proxies from the environment must not reroute internal calls.
    session.trust_env = False
    return session


def send(
    session: requests.Session,
    service: str,
    method: str,
    url: str,
    *,
    timeout: tuple[float, float],
    stream: bool = False,
    **kwargs: Any,
) -> requests.Response:
    """One request; transport failures become UpstreamErrors (503 refused, 504 timeout).

    The caller decides what an upstream status means; nothing here raises on 4xx/5xx.
    """
    if not url.startswith(("http://", "https://")):
        log.error("%s is not configured (no base URL)", service)
        raise unavailable(service)
    try:
        return session.request(method, url, timeout=timeout, stream=stream, allow_redirects=False, **kwargs)
    except requests.Timeout:
        log.warning("%s %s timed out", service, method)
        raise timed_out(service) from None
    except requests.RequestException as exc:
        log.warning("%s %s failed: %s", service, method, exc.__class__.__name__)
        raise unavailable(service) from None
