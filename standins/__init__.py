"""Contract-faithful stand-ins for the services billing cannot reach from here:
Flash, Clockchain, Auth0, Stripe's API and Apple's receipt validation.

Used by the tests (in-process, free ports: see tests/conftest.py) and by `make run`
(standins/quickstart.py: fixed ports, state kept in .standins/).
"""

from .apple import Apple
from .auth0 import Auth0
from .base import Recorded, Reply, StandIn, route
from .clockchain import Clockchain
from .flash import Flash
from .stripe import Stripe

__all__ = ["Apple", "Auth0", "Clockchain", "Flash", "Recorded", "Reply", "StandIn", "Stripe", "route"]
