import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "timepoint_billing.settings")

django_application = get_wsgi_application()

from core.bodies import ChunkedBodies  # noqa: E402 -- imports Django code: after setup

# Chunked request bodies are read whole before Django sees them (core/bodies.py).
application = ChunkedBodies(django_application)
