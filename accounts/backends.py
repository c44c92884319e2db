"""social-auth's Auth0 backend for portal sign-in, pointed at AUTH0_ISSUER.

The stock backend builds `https://{DOMAIN}/…` URLs, which cannot reach a local
http stand-in; deriving them from the configured issuer works for both.
"""

from __future__ import annotations

from typing import Any

import jwt
from django.conf import settings
from social_core.backends.auth0 import Auth0OAuth2

from . import auth0


class Auth0(Auth0OAuth2):
    name = "auth0"
    # Every Auth0 login goes through `state`; nothing from Auth0 needs keeping.
    STATE_PARAMETER = True

    def api_path(self, path: str = "") -> str:
        issuer = settings.AUTH0_ISSUER or f"https://{self.setting('DOMAIN')}/"
        return issuer.rstrip("/") + "/" + path

    def _decode_id_token(self, id_token: str, keys: list[jwt.PyJWK]) -> dict:
        # The stock method accepts an id_token without `exp`; ours requires it.
        signature_error: Exception | None = None
        for key in keys:
            try:
                return jwt.decode(
                    id_token,
                    key.key,
                    algorithms=["RS256"],
                    audience=self.setting("KEY"),
                    issuer=self.api_path(),
                    leeway=auth0.LEEWAY_SECONDS,
                    options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                )
            except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError) as error:
                signature_error = error
        if signature_error is None:
            raise jwt.PyJWKSetError("No signing keys available to validate id_token")
        raise signature_error

    def extra_data(self, user: Any, uid: str, response: dict[str, Any], details: dict[str, Any],
                   pipeline_kwargs: dict[str, Any]) -> dict[str, Any]:
        # Auth0's tokens would otherwise sit in UserSocialAuth.extra_data (and its admin page).
        data = super().extra_data(user, uid, response, details, pipeline_kwargs)
        for name in ("access_token", "id_token", "refresh_token"):
            data.pop(name, None)
        return data
