"""What a request authenticated with: DRF's `request.auth` is always a Credential."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AUTH0 = "auth0"
SESSION = "session"
API_KEY = "api_key"


@dataclass(frozen=True)
class Credential:
    kind: str  # AUTH0 | SESSION | API_KEY
    api_key: Any = None  # apikeys.models.APIKey for API_KEY
    session: Any = None  # accounts.models.SessionToken for SESSION
    claims: dict[str, Any] = field(default_factory=dict)  # verified Auth0 claims

    @property
    def is_api_key(self) -> bool:
        return self.kind == API_KEY

    @property
    def is_test(self) -> bool:
        """A tp_test_ key: never spends real credits."""
        return self.is_api_key and getattr(self.api_key, "environment", "live") == "test"
