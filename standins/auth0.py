"""Auth0 for tests and the quickstart: a JWKS of locally made RSA keys, a helper that
mints access tokens, and the Universal Login round trip (authorize → code → token)
that social-auth's Auth0 backend speaks."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .base import Recorded, Reply, StandIn, route

DEFAULT_AUDIENCE = "https://api.timepointai.com"


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SigningKey:
    def __init__(self, kid: str | None = None) -> None:
        self.kid = kid or uuid.uuid4().hex[:16]
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": _b64(numbers.n), "e": _b64(numbers.e)}


class Auth0(StandIn):
    name = "auth0"

    def __init__(self, port: int = 0, audience: str = DEFAULT_AUDIENCE, client_id: str = "portal-client",
                 client_secret: str = "portal-secret") -> None:
        self.audience = audience
        self.client_id = client_id
        self.client_secret = client_secret
        self.keys = [SigningKey()]
        super().__init__(port)

    def reset_state(self) -> None:
        self.keys = getattr(self, "keys", [])[:1]  # forget rotations
        self.published = list(self.keys)  # keys the JWKS shows
        self.codes: dict[str, dict[str, Any]] = {}
        self.next_login = {"sub": "auth0|portal-user", "email": "dev@example.com", "name": "Portal Dev"}

    @property
    def issuer(self) -> str:
        return f"{self.url}/"

    @property
    def domain(self) -> str:
        return f"{self.host}:{self.port}"

    # --- helpers for tests and the quickstart ---------------------------------------

    def mint(self, sub: str = "auth0|user-1", *, key: SigningKey | None = None, expires_in: int = 3600,
             headers: dict[str, Any] | None = None, **claims: Any) -> str:
        """An access token signed by the current key; any claim can be overridden
        (pass a value of None to leave a claim out)."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": sub, "iat": now, "exp": now + expires_in,
            "email": f"{sub.split('|')[-1]}@example.com", "name": sub.split("|")[-1],
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        key = key or self.keys[-1]
        return jwt.encode(payload, key.private, algorithm="RS256", headers={"kid": key.kid, **(headers or {})})

    def rotate(self) -> SigningKey:
        """A new signing key, published beside the old ones; tokens are signed with it."""
        key = SigningKey()
        with self.lock:
            self.keys.append(key)
            self.published.append(key)
        return key

    def login_as(self, sub: str, email: str = "", name: str = "", **id_token_claims: Any) -> None:
        """Who the next Universal Login completes as; `id_token_claims` override claims
        of the id_token it issues (None leaves a claim out, e.g. `exp=None`)."""
        self.next_login = {"sub": sub, "email": email or f"{sub.split('|')[-1]}@example.com", "name": name or sub,
                           "id_token_claims": id_token_claims}

    # --- routes ---------------------------------------------------------------------

    @route("GET", r"/\.well-known/jwks\.json")
    def jwks(self, req: Recorded) -> tuple[int, dict]:
        with self.lock:
            return 200, {"keys": [k.jwk() for k in self.published]}

    @route("GET", r"/authorize")
    def authorize(self, req: Recorded) -> Reply:
        params = {k: v[-1] for k, v in req.query.items()}
        if params.get("client_id") != self.client_id or not params.get("redirect_uri"):
            return Reply(400, {"error": "invalid_request"})
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = {"redirect_uri": params["redirect_uri"], "nonce": params.get("nonce"),
                                **self.next_login}
        target = params["redirect_uri"] + ("&" if "?" in params["redirect_uri"] else "?") + urlencode(
            {"code": code, "state": params.get("state", "")})
        return Reply(302, b"", headers={"Location": target})

    @route("POST", r"/oauth/token")
    def token(self, req: Recorded) -> Reply:
        form = req.form() if not req.headers.get("content-type", "").startswith("application/json") else req.json()
        client_id = form.get("client_id")
        client_secret = form.get("client_secret")
        auth = req.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return Reply(401, {"error": "access_denied"})
        with self.lock:
            login = self.codes.pop(form.get("code", ""), None)
        if login is None:
            return Reply(403, {"error": "invalid_grant"})
        id_claims = {"aud": self.client_id, "email": login["email"], "name": login["name"],
                     "nickname": login["name"], "picture": ""}
        if login.get("nonce"):
            id_claims["nonce"] = login["nonce"]
        id_claims.update(login.get("id_token_claims") or {})
        return Reply(200, {
            "access_token": self.mint(login["sub"], email=login["email"], name=login["name"]),
            "id_token": self.mint(login["sub"], **id_claims),
            "token_type": "Bearer",
            "expires_in": 3600,
        })

    @route("GET", r"/userinfo")
    def userinfo(self, req: Recorded) -> Reply:
        token = req.headers.get("authorization", "")[7:]
        try:
            claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))
        except Exception:
            return Reply(401, {"error": "invalid_token"})
        return Reply(200, {"sub": claims.get("sub"), "email": claims.get("email"), "name": claims.get("name")})
