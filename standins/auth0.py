"""Auth0 for tests and the quickstart: a JWKS of locally made RSA keys, a helper that
mints access tokens, and the Universal Login round trip (authorize → code → token)
that social-auth's Auth0 backend speaks.

Universal Login shows a small page to pick or type who to sign in as (no password),
defaulting to `default_sub`, the identity the quickstart prints a token for. Tests
skip the page with `login_as()`, as a browser that already has an Auth0 session does.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .base import Recorded, Reply, StandIn, route

DEFAULT_AUDIENCE = "https://api.timepointai.com"
DEFAULT_SUB = "auth0|newcomer"
# The sign-in page offers this many of the identities that signed in before.
REMEMBERED_IDENTITIES = 8


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def identity(sub: str, email: str = "", name: str = "") -> dict[str, str]:
    """An identity with the email and name a token for `sub` carries unless told otherwise."""
    local = sub.split("|")[-1]
    return {"sub": sub, "email": email or f"{local}@example.com", "name": name or local}


class SigningKey:
    def __init__(self, kid: str | None = None, private: rsa.RSAPrivateKey | None = None) -> None:
        self.kid = kid or uuid.uuid4().hex[:16]
        self.private = private or rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def pem(self) -> str:
        return self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).decode()

    @classmethod
    def from_pem(cls, kid: str, pem: str) -> SigningKey:
        return cls(kid, serialization.load_pem_private_key(pem.encode(), password=None))

    def jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": _b64(numbers.n), "e": _b64(numbers.e)}


class Auth0(StandIn):
    name = "auth0"

    def __init__(self, port: int = 0, audience: str = DEFAULT_AUDIENCE, client_id: str = "portal-client",
                 client_secret: str = "portal-secret", default_sub: str = DEFAULT_SUB) -> None:
        self.audience = audience
        self.client_id = client_id
        self.client_secret = client_secret
        self.default_sub = default_sub
        self.keys = [SigningKey()]
        super().__init__(port)

    def reset_state(self) -> None:
        self.keys = getattr(self, "keys", [])[:1]  # forget rotations
        self.published = list(self.keys)  # keys the JWKS shows
        self.codes: dict[str, dict[str, Any]] = {}
        self.next_login: dict[str, Any] | None = None  # None: authorize shows the sign-in page
        self.identities: list[dict[str, str]] = []  # who signed in, latest first

    def state(self) -> dict[str, Any]:
        # The keys, so that tokens printed by an earlier run still verify.
        return {"keys": [{"kid": k.kid, "pem": k.pem()} for k in self.published], "identities": self.identities}

    def load_state(self, data: dict[str, Any]) -> None:
        keys = [SigningKey.from_pem(k["kid"], k["pem"]) for k in data.get("keys", [])]
        if keys:
            self.keys, self.published = keys, list(keys)
        self.identities = [identity(**i) for i in data.get("identities", [])]

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
        who = identity(sub)
        payload: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": sub, "iat": now, "exp": now + expires_in,
            "email": who["email"], "name": who["name"],
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
        """Universal Login completes as this identity at once, without its page, until
        reset; `id_token_claims` override claims of the id_token it issues (None leaves
        a claim out, e.g. `exp=None`)."""
        self.next_login = {**identity(sub, email, name or sub), "id_token_claims": id_token_claims}

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
        with self.lock:
            preset = self.next_login
        if preset is not None:
            return self._complete(params, preset)
        return self._sign_in_page(params)

    @route("POST", r"/authorize")
    def authorize_as(self, req: Recorded) -> Reply:
        """The sign-in page's answer: the authorize parameters, and who to be."""
        form = req.form()
        chosen = {name: form.pop(name, "").strip() for name in ("sub", "email", "name")}
        if form.get("client_id") != self.client_id or not form.get("redirect_uri"):
            return Reply(400, {"error": "invalid_request"})
        if not chosen["sub"]:
            return self._sign_in_page(form, error="Give a user id (sub), e.g. auth0|newcomer.")
        return self._complete(form, identity(**chosen))

    def _complete(self, params: dict[str, str], who: dict[str, Any]) -> Reply:
        """Issue a code for `who` and send the browser back to the application."""
        code = secrets.token_urlsafe(16)
        plain = identity(who["sub"], who["email"], who["name"])
        with self.lock:
            self.codes[code] = {"redirect_uri": params["redirect_uri"], "nonce": params.get("nonce"), **who}
            self.identities = [plain, *(i for i in self.identities if i["sub"] != plain["sub"])]
            del self.identities[REMEMBERED_IDENTITIES:]
        target = params["redirect_uri"] + ("&" if "?" in params["redirect_uri"] else "?") + urlencode(
            {"code": code, "state": params.get("state", "")})
        return Reply(302, b"", headers={"Location": target})

    def _sign_in_page(self, params: dict[str, str], error: str = "") -> Reply:
        default = identity(self.default_sub)
        with self.lock:
            known = [default, *(i for i in self.identities if i["sub"] != default["sub"])]
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in params.items() if k not in ("sub", "email", "name"))

        def field(name: str, label: str, value: str) -> str:
            return (f'<label>{label}<input name="{name}" value="{html.escape(value)}"'
                    f'{" required" if name == "sub" else ""}></label>')

        choices = "".join(
            f'<form method="post" action="/authorize">{hidden}'
            + "".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in who.items())
            + f'<button type="submit">Continue as {html.escape(who["sub"])}</button>'
            f' <span>{html.escape(who["email"])}</span></form>'
            for who in known
        )
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in (Auth0 stand-in)</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem; }}
form {{ margin: .5rem 0; }} label {{ display: block; margin: .5rem 0; }}
label input {{ display: block; width: 100%; box-sizing: border-box; padding: .4rem; font: inherit; }}
button {{ padding: .4rem .9rem; font: inherit; }} .error {{ color: #b00020; }} span {{ color: #555; }}
</style></head>
<body><main>
<h1>Sign in</h1>
<p>This is the local Auth0 stand-in: choose who to be, no password needed.</p>
{f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""}
<h2>Known identities</h2>
{choices}
<h2>Or type one</h2>
<form method="post" action="/authorize">{hidden}
{field("sub", "User id (sub)", default["sub"])}
{field("email", "Email", default["email"])}
{field("name", "Name", default["name"])}
<button type="submit">Sign in</button>
</form>
</main></body></html>"""
        return Reply(400 if error else 200, page, headers={"Content-Type": "text/html; charset=utf-8"})

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
