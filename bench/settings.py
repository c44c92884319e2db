"""The real settings plus the bench-only URL of the bare view (bench/urls.py). Used
only by the gateway the benches start; never in production or tests."""

from timepoint_billing.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
